#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scans run while kadmin.local writes (adds and modifies, no deletions):
# scans relocking after every entry must never block the writer for long,
# never log a DEL (nothing was deleted), and a final scan after the writer
# stops must leave the store equal to `kdb5_util dump`.
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src
R=BRIDGE.TEST
realm_init "$src" $R
realm_kadmin "$src" "addpol pol"
# Seed some principals so every scan spans many lock batches.
for i in $(seq 1 300); do echo "addprinc -randkey seed$i"; done >"$WORK/seed.cmds"
(realm_env "$src" && kadmin.local -r $R <"$WORK/seed.cmds" >/dev/null 2>&1)
for i in $(seq 1 300); do
	echo "addprinc -randkey -policy pol live$i"
	echo "modprinc -maxlife \"$((i % 9 + 1)) hours\" seed$i"
done >"$WORK/live.cmds"
(realm_env "$src" && exec kadmin.local -r $R <"$WORK/live.cmds" >"$WORK/writer.out" 2>&1) &
writer=$!
scans=0
while kill -0 "$writer" 2>/dev/null; do
	tool "$src" -b 1 scan "$WORK/store" >>"$WORK/logged" 2>>"$WORK/scan.err"
	scans=$((scans + 1))
done
wait "$writer" || fail "writer failed"
tool "$src" scan "$WORK/store" >>"$WORK/logged" 2>>"$WORK/scan.err"
! grep -q '^DEL' "$WORK/logged" || { grep '^DEL' "$WORK/logged" >&2; fail "spurious DEL logged"; }
[ "$(grep -c 'Principal "live' "$WORK/writer.out")" -eq 300 ] || fail "writer did not finish its adds"
realm_dump "$src" "$WORK/dump"
tool "$src" storedump "$WORK/store" | sort >"$WORK/stored"
zero_nra "$WORK/dump" | sort | cmp - "$WORK/stored" || fail "store != dump after concurrent scans"
echo "concurrent ok: $scans scans during the writes, store converged"
