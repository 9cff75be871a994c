#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Oracle 1: every record the bridge encodes from a rich real KDB equals the
# corresponding `kdb5_util dump` line byte for byte (with and without the
# lockout fields), in the same order; a scan stores exactly those values;
# a single-principal read returns the same line.
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src
realm_init "$src" BRIDGE.TEST
realm_fixture "$src"
realm_dump "$src" "$WORK/dump"
[ "$(grep -c '^princ' "$WORK/dump")" -ge 17 ] || fail "fixture too small"
[ "$(grep -c '^policy' "$WORK/dump")" -ge 3 ] || fail "no policies"
grep -q $'\t11\t' "$WORK/dump" || fail "no string attributes in fixture"

# With lockout fields: identical, same order.
tool "$src" -l records >"$WORK/rec.l"
cmp "$WORK/rec.l" "$WORK/dump" || { diff <(sort "$WORK/rec.l") <(sort "$WORK/dump") | cut -c1-300 >&2; fail "records != dump (lockout on)"; }
# Lockout fields present in the fixture, and zeroed by default.
awk -F'\t' '$1 == "princ" && ($14 != 0 || $15 != 0) { f = 1 } END { exit !f }' "$WORK/dump" ||
	fail "fixture has no lockout counters"
tool "$src" records >"$WORK/rec"
zero_nra "$WORK/dump" >"$WORK/dump.z"
cmp "$WORK/rec" "$WORK/dump.z" || fail "records != dump with NRA zeroed"

# A scan puts exactly those values in the store.
tool "$src" -r -l scan "$WORK/store" >"$WORK/scan1" 2>"$WORK/scan1.err"
[ "$(wc -l <"$WORK/scan1")" -eq "$(wc -l <"$WORK/dump")" ] || fail "first scan did not PUT every record"
tool "$src" -l storedump "$WORK/store" | sort >"$WORK/stored"
sort "$WORK/dump" | cmp - "$WORK/stored" || fail "store values != dump"
# Nothing changed: the rescan logs nothing.
tool "$src" -l scan "$WORK/store" >"$WORK/scan2" 2>"$WORK/scan2.err"
[ ! -s "$WORK/scan2" ] || { cat "$WORK/scan2" >&2; fail "no-change rescan logged changes"; }

# Relocking after every entry (the unlockiter path) scans the same records.
tool "$src" -l -b 1 scan "$WORK/store.b1" >/dev/null 2>&1
tool "$src" -l storedump "$WORK/store.b1" | sort | cmp - "$WORK/stored" || fail "scan with relock after each entry differs"

# Single-principal read.
for p in "alice@BRIDGE.TEST" "with space/in name@BRIDGE.TEST" 'us\@er@BRIDGE.TEST' "K/M@BRIDGE.TEST"; do
	tool "$src" -l get "$p" >"$WORK/one"
	grep -F -x -f "$WORK/one" "$WORK/dump" >/dev/null || fail "get '$p' differs from dump"
	[ "$(wc -l <"$WORK/one")" -eq 1 ] || fail "get '$p' not one line"
done
# The KDC profile given as a path (bridge_opts.kdc_profile), not in the env.
(realm_env "$src" && unset KRB5_KDC_PROFILE && "$TOOL" -l -p "$src/kdc.conf" records) >"$WORK/rec.p"
cmp "$WORK/rec.p" "$WORK/dump" || fail "records via an explicit kdc_profile differ"
if (realm_env "$src" && unset KRB5_KDC_PROFILE && "$TOOL" records) >/dev/null 2>&1; then
	fail "opened the realm's DB without its kdc.conf (system paths?)"
fi
rc=0
tool "$src" get "nobody@BRIDGE.TEST" >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "missing principal not KS_ENOENT (rc $rc)"
echo "oracle 1 ok: $(wc -l <"$WORK/dump") records identical to kdb5_util dump"
