#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A scan commits in bounded chunks (4096 changes): 10,000 principals loaded
# behind the KDB module's back reach the store in several commits with
# values equal to the dump; then 6,000 of them deleted and 10 changed by a
# `kdb5_util load` (no capture saw it) are found by the deletion pass, which
# walks the store in chunks too: exactly 6,000 DELs and 10 PUTs are logged,
# the store equals the dump again, and a third scan logs nothing.  Same with
# the DB lock dropped every 1,000 entries (-b 1000).
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src
R=BRIDGE.TEST
realm_init "$src" $R
realm_fixture "$src"
N=10000

# raw_dump FILE: a loadable dump (with its header line).
raw_dump() { (realm_env "$src" && kdb5_util -r $R dump "$1"); rm -f "$1.dump_ok"; }
load() { (realm_env "$src" && kdb5_util -r $R load "$1"); }
raw_dump "$WORK/base"
# N copies of bob with other names (field 3: name length, field 7: name).
awk -F'\t' -v n=$N -v r=$R 'BEGIN { OFS = "\t" }
	{ print }
	$1 == "princ" && $7 == "bob@" r { line = $0 }
	END { if (line == "") exit 1
	      for (i = 1; i <= n; i++) { $0 = line; $7 = sprintf("chunk%05d@%s", i, r); $3 = length($7); print } }' \
	"$WORK/base" >"$WORK/big"
load "$WORK/big"

for b in "" "-b 1000"; do
	store=$WORK/store$b
	store=${store// /}
	# shellcheck disable=SC2086 # $b: an option and its value, or nothing
	tool "$src" $b scan "$store" >"$WORK/s1" 2>"$WORK/s1.err"
	realm_dump "$src" "$WORK/d1"
	[ "$(wc -l <"$WORK/s1")" -eq "$(wc -l <"$WORK/d1")" ] || fail "first scan ($b) did not PUT every record"
	tool "$src" storedump "$store" | sort >"$WORK/st1"
	zero_nra "$WORK/d1" | sort | cmp - "$WORK/st1" || fail "store != dump after the first scan ($b)"

	# Delete chunk00001..chunk06000, change chunk09991..chunk10000 (max life).
	awk -F'\t' -v r=$R 'BEGIN { OFS = "\t" }
		$1 == "princ" && $7 ~ /^chunk/ { i = substr($7, 6, 5) + 0
			if (i <= 6000) next
			if (i > 9990) $9 = 7200 }
		{ print }' "$WORK/big" >"$WORK/small"
	load "$WORK/small"
	# shellcheck disable=SC2086
	tool "$src" $b scan "$store" >"$WORK/s2" 2>"$WORK/s2.err"
	[ "$(grep -c '^DEL P chunk' "$WORK/s2")" -eq 6000 ] || fail "second scan ($b): $(grep -c '^DEL' "$WORK/s2") DELs, not 6000"
	[ "$(grep -c '^PUT P chunk' "$WORK/s2")" -eq 10 ] || fail "second scan ($b): $(grep -c '^PUT' "$WORK/s2") PUTs, not 10"
	[ "$(wc -l <"$WORK/s2")" -eq 6010 ] || fail "second scan ($b) logged other records"
	realm_dump "$src" "$WORK/d2"
	tool "$src" storedump "$store" | sort >"$WORK/st2"
	zero_nra "$WORK/d2" | sort | cmp - "$WORK/st2" || fail "store != dump after the deletions ($b)"
	# shellcheck disable=SC2086
	tool "$src" $b scan "$store" >"$WORK/s3" 2>/dev/null
	[ ! -s "$WORK/s3" ] || fail "third scan ($b) logged $(wc -l <"$WORK/s3") records"
	load "$WORK/big" # back to N for the next round
done
echo "bridge_chunks: ok"
