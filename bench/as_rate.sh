#!/bin/bash
# SPDX-License-Identifier: MIT
# The KDC's AS-request rate with and without the kdcsync KDB module (issue
# 10: within 3 %).  Never asserts.
#
#   KS_BUILD_DIR=/path/to/build bench/as_rate.sh [SECONDS] [ROUNDS]
#       (defaults 10 s per run, 3 rounds; needs bench/as_loop)
#
# One realm, one krb5kdc at a time, three kdc.conf variants of the same
# DB: plain db2; db2 behind the module with no node listening; db2 behind
# the module with a listener draining reports (tests/integration/
# report_listener.py).  bench/as_loop runs whole password kinits
# (pre-authentication, so every success also makes db2 update
# last_success, a lockout write the module reports) back to back for
# SECONDS; the variants are interleaved ROUNDS times.  Prints requests/s per
# run, the mean per variant, and the difference to plain db2.  Then the
# lookup alone in CPU time (bench/kdb_lookup), less sensitive to other load
# on the machine than the request rate.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
export KS_SOURCE_DIR=$SRC # lib/realm.sh finds deploy/ through it
: "${KS_BUILD_DIR:?path to a build with bench/as_loop and bridge/kdbmod}"
SECS=${1:-10}
ROUNDS=${2:-3}
AS_LOOP=$KS_BUILD_DIR/bench/as_loop
[ -x "$AS_LOOP" ] || { echo "no $AS_LOOP" >&2; exit 1; }
. "$SRC/tests/integration/lib/realm.sh"
W=$(mktemp -d "${TMPDIR:-/tmp}/ks-asrate.XXXXXX")
LPID=
cleanup() {
	[ -n "$LPID" ] && { kill "$LPID" 2>/dev/null || true; wait "$LPID" 2>/dev/null || true; }
	realm_cleanup
	rm -rf "$W"
}
trap cleanup EXIT

R=ASRATE.TEST
realm_init "$W/r" "$R"
realm_kadmin "$W/r" "addprinc -pw Rate-pass-1 +requires_preauth rate"
cp "$W/r/kdc.conf" "$W/plain.conf"
cp "$W/r/kdc.conf" "$W/mod.conf"
cat >>"$W/mod.conf" <<EOF
[dbmodules]
	db_module_dir = $KS_BUILD_DIR/bridge/kdbmod
	$R = {
		db_library = kdcsync
		kdcsync_socket = $W/cap.sock
	}
EOF
python3 "$SRC/tests/integration/report_listener.py" "$W/cap.sock" "$W/got" &
LPID=$!

# run VARIANT: requests per second of one as_loop run
run() {
	local variant=$1 out rate
	case $variant in
	plain) cp "$W/plain.conf" "$W/r/kdc.conf" ;;
	*) cp "$W/mod.conf" "$W/r/kdc.conf" ;;
	esac
	[ "$variant" = module-nobody ] && sed -i "s|$W/cap.sock|$W/nobody.sock|" "$W/r/kdc.conf"
	realm_kdc_start "$W/r"
	(realm_env "$W/r" && exec "$AS_LOOP" "rate@$R" Rate-pass-1 0) >"$W/as.out" 2>&1 &
	local apid=$!
	sleep "$SECS"
	kill "$apid"
	wait "$apid" 2>/dev/null || true
	realm_kdc_stop "$W/r"
	out=$(grep -o "requests [0-9]* failures [0-9]*" "$W/as.out")
	rate=$(awk -v n="$(cut -d' ' -f2 <<<"$out")" -v s="$SECS" 'BEGIN { printf "%.1f", n / s }')
	echo "$variant $rate $(cut -d' ' -f4 <<<"$out")" >>"$W/rates"
	echo "  $variant: $rate requests/s ($(cut -d' ' -f4 <<<"$out") failures)" >&2
}
for i in $(seq "$ROUNDS"); do
	echo "round $i" >&2
	run plain
	run module-nobody
	run module-listener
done
echo "| KDC AS requests (password + pre-auth), ${SECS} s x $ROUNDS runs each | requests/s (mean) | vs plain db2 |"
echo "|---|---|---|"
awk '{ s[$1] += $2; n[$1]++ } END {
	base = s["plain"] / n["plain"]
	split("plain module-nobody module-listener", v, " ")
	for (i = 1; i <= 3; i++) {
		m = s[v[i]] / n[v[i]]
		printf "| %s | %.1f | %+.1f %% |\n", v[i], m, 100 * (m - base) / base
	}
}' "$W/rates"
echo "lockout reports received by the listener: $(grep -c '^lockout' "$W/got" || true)"

# The lookup itself, in CPU time (bench/kdb_lookup): the same principal
# looked up LOOKUPS times through libkdb5, plain db2 and through the module,
# interleaved ROUNDS times.
LOOKUPS=${LOOKUPS:-200000}
for i in $(seq "$ROUNDS"); do
	for v in plain mod; do
		cp "$W/$v.conf" "$W/r/kdc.conf"
		KRB5_CONFIG=$W/r/kdc.conf:$W/r/krb5.conf "$KS_BUILD_DIR/bench/kdb_lookup" "rate@$R" "$LOOKUPS" |
			awk -v v="$v" '{ print v, $4 }' >>"$W/lookups"
	done
done
echo
echo "| KDB lookup (krb5_db_get_principal), $LOOKUPS x $ROUNDS runs | CPU ns per lookup (mean) | vs plain db2 |"
echo "|---|---|---|"
awk '{ s[$1] += $2; n[$1]++ } END {
	b = s["plain"] / n["plain"]; m = s["mod"] / n["mod"]
	printf "| plain db2 | %.0f | +0.0 %% |\n| through the kdcsync module | %.0f | %+.1f %% |\n", b, m, 100 * (m - b) / b
}' "$W/lookups"
