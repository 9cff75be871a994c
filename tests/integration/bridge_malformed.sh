#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Oracle 4 on real records: every truncation of every line of a real
# `kdb5_util dump` is rejected, byte mutations are rejected or still
# canonical, all under ASan (no crash, no leak); a batch containing one
# malformed record changes nothing in the KDB; the good batch re-applied
# leaves the KDB as it was.
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src
realm_init "$src" BRIDGE.TEST
realm_fixture "$src"
realm_dump "$src" "$WORK/dump"
python3 - "$WORK/dump" "$WORK/trunc" "$WORK/mut" <<'PY'
import random, sys
lines = open(sys.argv[1], 'rb').read().splitlines(keepends=True)
with open(sys.argv[2], 'wb') as t:
    for l in lines:
        body = l[:-1]                      # without the final LF
        for k in range(len(body)):         # every proper prefix
            t.write(body[:k] + b'\n')
rng = random.Random(1234)
alphabet = b'0123456789abcdefABCDEF-\t;x\\@/ \x00\xff'
with open(sys.argv[3], 'wb') as m:
    for l in lines:
        for _ in range(300):
            b = bytearray(l[:-1])
            for _ in range(rng.choice((1, 1, 2, 3))):
                op = rng.randrange(3)
                i = rng.randrange(len(b))
                if op == 0:
                    b[i] = rng.choice(alphabet)
                elif op == 1:
                    del b[i]
                else:
                    b.insert(i, rng.choice(alphabet))
            m.write(bytes(b) + b'\n')
PY
out=$(tool "$src" checklines "$WORK/trunc")
[ "${out%% *}" = accepted ] && [ "$(echo "$out" | awk '{print $2}')" -eq 0 ] || fail "a truncated line was accepted: $out"
echo "truncations: $out"
out=$(tool "$src" checklines "$WORK/mut") || fail "mutated lines: $out"
echo "mutations: $out"
out=$(tool "$src" checklines "$WORK/dump")
[ "$out" = "accepted $(wc -l <"$WORK/dump") rejected 0" ] || fail "real dump lines not all accepted: $out"

# A batch with one malformed record (the last line cut short) applies nothing.
awk '/^princ/ && n++ < 5' "$WORK/dump" >"$WORK/good"
sed -i 's/\tbob@BRIDGE.TEST\t128\t18000\t/\tbob@BRIDGE.TEST\t128\t9000\t/' "$WORK/good"
grep -q $'\tbob@BRIDGE.TEST\t128\t9000\t' "$WORK/good" || fail "the batch does not change bob"
{ cat "$WORK/good"; grep '^princ' "$WORK/dump" | tail -n 1 | cut -c1-60; } >"$WORK/badbatch"
if tool "$src" applylines "$WORK/badbatch" 2>"$WORK/bad.err"; then fail "malformed batch accepted"; fi
grep -q 'malformed' "$WORK/bad.err" || fail "no log line naming the malformed field"
realm_dump "$src" "$WORK/after"
cmp "$WORK/dump" "$WORK/after" || fail "malformed batch changed the KDB"
# The good lines as they are: applying them changes nothing (lockout on).
awk '/^princ/ && n++ < 5' "$WORK/dump" >"$WORK/same"
tool "$src" -l applylines "$WORK/same"
realm_dump "$src" "$WORK/after"
cmp "$WORK/dump" "$WORK/after" || fail "re-applying identical records changed the KDB"
echo "malformed ok"
