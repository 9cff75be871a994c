#!/bin/bash
# SPDX-License-Identifier: MIT
# Lockout upstream under load (issue 10 item 4, PROTOCOL.md §3.10): with
# replicate_lockout = yes, a replica's krb5kdc serves AS requests for a
# small set of principals as fast as it can; every request is a lockout
# write (a failure bumps the count, a success with pre-authentication sets
# last_success).  Measured against the AS request rate: the LOCKOUT
# messages the replica's node sends upstream per second and the writes the
# primary's node makes to its KDB (and log) per second.  Coalescing (one
# message per principal per 150 ms) must bound them by the number of
# principals, not by the request rate.  Never asserts.
#
#   KS_BUILD_DIR=/path/to/build bench/lockout_bench.sh [SECONDS] [N] [PRINCS]
#       (defaults: 10 s per load level, N = 1000 generated principals in
#       the realm, PRINCS = 10 busy principals, half failing, half
#       succeeding; needs bench/as_loop)
#
# Load levels: one bench/as_loop per busy principal, each waiting 500 ms,
# 100 ms, then 0 ms between requests (the last is as many as the KDC
# serves).  Prints a table, then one JSON line per level.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a build with node/kdcsyncd, bridge/kdbmod and bench/as_loop}"
export KS_BUILD_DIR
SECS=${1:-10}
N=${2:-1000}
PRINCS=${3:-10}
AS_LOOP=$KS_BUILD_DIR/bench/as_loop
[ -x "$AS_LOOP" ] || { echo "no $AS_LOOP (configure with the benchmarks)" >&2; exit 1; }
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" lockout
# shellcheck source=../deploy/lib/status.sh
. "$SRC/deploy/lib/status.sh"
LOOPS=()
cleanup() {
	local p
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null || true; done
	bench_cleanup
}
trap cleanup EXIT

t0=$SECONDS
realistic_pair_up "$W/pair" "$N" --replicate-lockout --scan-interval 1h >"$W/up.log" 2>&1 ||
	{ cat "$W/up.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$W/pair/env"
echo "pair up with $N principals in $((SECONDS - t0)) s" >&2

pk() {
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "$1" >/dev/null 2>&1
}
# no lockout policy: a failing principal is never locked, so each of its
# failures is a write (a locked one would not be written any more)
for i in $(seq 0 $((PRINCS - 1))); do
	pk "addprinc -pw Lb-pass-$i +requires_preauth lb$i" || { echo "addprinc lb$i" >&2; exit 1; }
done
in_sync() { "$SRC/deploy/pair.sh" wait "$W/pair" "$1" >/dev/null 2>&1; }
if ! in_sync 20; then
	# seen on main at 10,000 principals: the replica's link stops reading
	# after a few batches that follow the full copy; a reconnect resumes
	echo "replica not in sync after 20 s: restarting its node" >&2
	"$SRC/deploy/pair.sh" node-stop "$W/pair" replica
	"$SRC/deploy/pair.sh" node-start "$W/pair" replica
fi
if ! in_sync 60; then
	echo "replica not in sync" >&2
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" status >&2 || true
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" status >&2 || true
	tail -n 20 "$W/pair/primary/node.log" "$W/pair/replica/node.log" >&2 || true
	exit 1
fi

status_of() { # status_of primary|replica PATH...
	local c j
	[ "$1" = replica ] && c=$REPLICA_NODE_CONF || c=$PRIMARY_NODE_CONF
	j=$("$KDCSYNC" -c "$c" status --json)
	shift
	for p in "$@"; do printf '%s ' "$(json_get "$j" "$p")"; done
}

echo "| as_loop wait | AS req/s (replica KDC) | lockout writes/s (replica KDB) | LOCKOUT msgs/s upstream | primary KDB writes/s | primary log changes/s | coalesced % |"
echo "|---|---|---|---|---|---|---|"
for wait_ms in 500 100 0; do
	read -r rep0 sent0 coal0 <<<"$(status_of replica lockout/reports lockout/sent lockout/coalesced)"
	read -r merged0 seq0 <<<"$(status_of primary lockout/merged last_seq)"
	LOOPS=()
	for i in $(seq 0 $((PRINCS - 1))); do
		pw=Lb-pass-$i
		[ $((i % 2)) = 1 ] && pw=wrong-password # half of them fail
		(export KRB5_CONFIG=$REPLICA_KRB5_CONFIG && exec "$AS_LOOP" "lb$i@$REALM" "$pw" "$wait_ms") \
			>"$W/as.$i" 2>&1 &
		LOOPS+=($!)
	done
	sleep "$SECS"
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LOOPS[@]}"; do wait "$p" 2>/dev/null || true; done
	LOOPS=()
	sleep 0.5 # the last window's messages and merges land
	read -r rep1 sent1 coal1 <<<"$(status_of replica lockout/reports lockout/sent lockout/coalesced)"
	read -r merged1 seq1 <<<"$(status_of primary lockout/merged last_seq)"
	reqs=$(cat "$W"/as.* | awk '/^requests/ { n += $2 } END { print n + 0 }')
	awk -v w="$wait_ms" -v s="$SECS" -v q="$reqs" -v r=$((rep1 - rep0)) \
		-v m=$((sent1 - sent0)) -v c=$((coal1 - coal0)) -v g=$((merged1 - merged0)) \
		-v l=$((seq1 - seq0)) -v n="$PRINCS" -v np="$N" 'BEGIN {
		printf "| %d ms | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f |\n",
			w, q / s, r / s, m / s, g / s, l / s, r ? 100 * c / r : 0
		printf "{\"bench\":\"lockout\",\"principals\":%d,\"busy_principals\":%d,\"seconds\":%d,\"as_loop_wait_ms\":%d,\"as_requests_per_s\":%.1f,\"lockout_writes_per_s\":%.1f,\"upstream_msgs_per_s\":%.2f,\"primary_kdb_writes_per_s\":%.2f,\"primary_log_changes_per_s\":%.2f,\"coalesced_reports\":%d}\n",
			np, n, s, w, q / s, r / s, m / s, g / s, l / s, c > "/dev/stderr"
	}' 2>>"$W/json"
done
echo
echo "bound by coalescing: $PRINCS principals x (1000 / 150) = $(awk -v n="$PRINCS" 'BEGIN { printf "%.1f", n * 1000 / 150 }') messages/s at most"
cat "$W/json"
