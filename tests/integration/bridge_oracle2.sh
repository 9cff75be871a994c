#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Oracle 2: a full load of the scanned records into an empty realm that
# shares the master key gives a KDB whose `kdb5_util dump` equals the
# source's (lockout fields per the setting; with replicate_lockout off the
# target keeps its own counters), a password principal kinits against a
# krb5kdc serving the copy, and a load that fails leaves the live DB as it was.
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src dst=$WORK/dst
realm_init "$src" BRIDGE.TEST
realm_fixture "$src"
realm_dump "$src" "$WORK/src.dump"
zero_nra "$WORK/src.dump" >"$WORK/src.dump.z"

# Target: same realm, same master password, empty apart from the defaults;
# it gets the source's stash (which holds both master keys after rollover).
realm_init "$dst" BRIDGE.TEST
cp "$src/stash" "$dst/stash"

# 1. replicate_lockout off: records carry zeros; nothing to merge yet.
tool "$src" scan "$WORK/store" >/dev/null 2>&1
tool "$dst" load "$WORK/store"
[ ! -e "$dst/principal~" ] || fail "side database left behind"
realm_dump "$dst" "$WORK/dst.dump"
cmp "$WORK/dst.dump" "$WORK/src.dump.z" || { diff "$WORK/dst.dump" "$WORK/src.dump.z" | cut -c1-300 >&2; fail "load (lockout off) != source dump with NRA zeroed"; }

# 2. replicate_lockout on: exact copy, lockout counters included.
tool "$src" -l scan "$WORK/store.l" >/dev/null 2>&1
tool "$dst" -l load "$WORK/store.l"
realm_dump "$dst" "$WORK/dst.dump"
cmp "$WORK/dst.dump" "$WORK/src.dump" || fail "load (lockout on) != source dump"

# 3. Off again: the target keeps its own (now non-zero) counters.
tool "$dst" load "$WORK/store"
realm_dump "$dst" "$WORK/dst.dump"
cmp "$WORK/dst.dump" "$WORK/src.dump" || fail "load (lockout off) did not keep the target's counters"

# 4. The copy serves: kinit with passwords set on the source, before and
#    after the master key rollover; a wrong password still fails.
realm_kdc_start "$dst"
realm_kinit "$dst" alice@BRIDGE.TEST Alice-pass-1 || fail "alice cannot kinit against the copy"
realm_kinit "$dst" bob@BRIDGE.TEST Bob-pass-456 || fail "bob (cpw -keepold) cannot kinit against the copy"
realm_kinit "$dst" after@BRIDGE.TEST After-roll-1 || fail "post-rollover principal cannot kinit"
if realm_kinit "$dst" alice@BRIDGE.TEST wrong-password; then fail "wrong password accepted"; fi

# 5. A load that fails part-way changes nothing, even with the KDC running.
realm_dump "$dst" "$WORK/before"
tool "$dst" loadfail "$WORK/store" 2>"$WORK/loadfail.err" || fail "loadfail did not fail as expected"
grep -q 'malformed' "$WORK/loadfail.err" || fail "no malformed-record log line"
[ ! -e "$dst/principal~" ] || fail "side database left behind after failure"
realm_dump "$dst" "$WORK/after"
cmp "$WORK/before" "$WORK/after" || fail "failed load changed the live DB"
realm_kinit "$dst" alice@BRIDGE.TEST Alice-pass-1 || fail "KDC broken after failed load"
realm_kdc_stop "$dst"
echo "oracle 2 ok: full load equals source dump; kinit works against the copy"
