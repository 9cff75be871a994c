#!/bin/bash
# SPDX-License-Identifier: MIT
# verify PEER at scale: how long `kdcsync verify PEER` (the stores and the
# KDBs of both nodes compared over the link, then this node's KDB with its
# store) and the local `kdcsync verify` take on a realistic realm of N
# principals (bench/gen_realm.py through bench/scale_lib.sh
# realistic_pair_up), run on the replica against its primary, next to a
# stock `kdb5_util dump` of the same KDB (what reading it once costs).
# Never asserts on time.
#
#   KS_BUILD_DIR=/path/to/release-build bench/verify_bench.sh [N...]
#       (default N = 100000 1000000; the build needs kdcsync, kdcsyncd and
#       the kdcsync_kdb module: ninja kdcsync kdcsyncd kdcsync_kdb)
#   env: COPY_TIMEOUT (seconds the first copy may take, default 900),
#        VERIFY_TIMEOUT (kdcsync verify PEER --timeout, default 7200),
#        VERIFY_ALL=0 skips the every-record-different run
#
# For each N, twice (the second run finds the KDB index of the first
# cached on the primary, kdbindex.c, if within 60 s):
#   verify PEER  wall time of `kdcsync verify primary` on the replica, its
#                exit status (0 equal) and first output line; peak RssAnon
#                of each kdcsyncd meanwhile
#   verify       wall time of the local `kdcsync verify` on the replica
#   dump         wall time of `kdb5_util dump` of the replica's KDB
# then once more with every record different (run "all"): the replica's KDB
# replaced, behind its node's back, by a load of its dump with each
# principal's max_life changed -- verify PEER's time, its count of
# differing keys and the peak RssAnon of both nodes when every bucket
# differs (each side reads its KDB once per [node] verify_memory of
# listings; the list itself, two lines per key, is held for the answer).
# Prints a table and one JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build of kdcsync}"
export KS_BUILD_DIR
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
COPY_TIMEOUT=${COPY_TIMEOUT:-900}
VERIFY_TIMEOUT=${VERIFY_TIMEOUT:-7200}
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" verify
SAMPLER=
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
	bench_cleanup
}
trap cleanup EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "== $*" >&2; }
# size_done: this size's JSON line (runs so far, local verify, dump), the
# pair stopped
size_done() {
	JSON+=("{\"bench\":\"verify\",\"principals\":$N,\"verify_peer\":[$(
		IFS=,
		echo "${run_json[*]}"
	)],\"verify_local_ms\":$local_ms,\"verify_local_exit\":$lrc,\"kdb5_util_dump_ms\":$dump_ms}")
	echo "${JSON[-1]}"
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null 2>&1 || true
}
# timed_verify_peer: `kdcsync verify primary` on the replica, its answer in
# $W/verify.out; "ms exit peak_rss_primary_kb peak_rss_replica_kb" in
# $W/verify.res
timed_verify_peer() {
	local t0 rc=0 ms rss_p rss_r
	rm -f "$W/rss.stop"
	rss_sampler "$W/rss" &
	SAMPLER=$!
	t0=$(now_ms)
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary --timeout "$VERIFY_TIMEOUT" \
		>"$W/verify.out" 2>&1 || rc=$?
	ms=$(($(now_ms) - t0))
	touch "$W/rss.stop"
	wait "$SAMPLER" || true
	SAMPLER=
	read -r rss_p rss_r <"$W/rss"
	log "  rc=$rc ${ms} ms: $(head -n 1 "$W/verify.out" | cut -c1-100)"
	echo "$ms $rc $rss_p $rss_r" >"$W/verify.res"
}

ROWS=()
JSON=()
for N in "${SIZES[@]}"; do
	rm -rf "$W/pair" "$W"/*.dump "$W"/rss*
	log "N = $N: generated realm, pair up (first full copy)"
	PAIR_TIMEOUT=$COPY_TIMEOUT realistic_pair_up "$W/pair" "$N" >/dev/null
	# shellcheck disable=SC1091
	. "$W/pair/env"
	"$SRC/deploy/pair.sh" wait "$W/pair" "$COPY_TIMEOUT"
	run_json=()
	for run in 1 2; do
		log "N = $N: kdcsync verify primary (run $run)"
		timed_verify_peer
		read -r peer_ms rc rss_p rss_r <"$W/verify.res"
		run_json+=("{\"run\":$run,\"verify_peer_ms\":$peer_ms,\"exit\":$rc,\"rss_primary_kb\":$rss_p,\"rss_replica_kb\":$rss_r}")
		ROWS+=("$N $run $peer_ms $rc $rss_p $rss_r")
	done
	rm -f "$W/replica.dump"
	log "N = $N: local kdcsync verify, kdb5_util dump (replica)"
	t0=$(now_ms)
	lrc=0
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify >/dev/null 2>&1 || lrc=$?
	local_ms=$(($(now_ms) - t0))
	t0=$(now_ms)
	KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		kdb5_util -r "$REALM" dump "$W/replica.dump"
	dump_ms=$(($(now_ms) - t0))
	ROWS[-1]+=" $local_ms $lrc $dump_ms"
	ROWS[-2]+=" - - -"

	if [ "${VERIFY_ALL:-1}" = 0 ]; then
		size_done
		continue
	fi
	log "N = $N: every record different: the replica's KDB replaced"
	"$SRC/deploy/pair.sh" node-stop "$W/pair" replica
	awk -F'\t' -v OFS='\t' '$1 == "princ" { $9 = $9 + 1 } { print }' \
		"$W/replica.dump" >"$W/changed.dump"
	KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		kdb5_util -r "$REALM" load "$W/changed.dump"
	rlog=$W/pair/replica/node.log
	checks=$(grep -c 'kdb: ' "$rlog" || true)
	"$SRC/deploy/pair.sh" node-start "$W/pair" replica
	"$SRC/deploy/pair.sh" wait "$W/pair" "$COPY_TIMEOUT"
	# the node's start-up KDB check (on its worker) first: until it is
	# done the KDB is not compared (the stores only)
	for _ in $(seq "$COPY_TIMEOUT"); do
		[ "$(grep -c 'kdb: ' "$rlog" || true)" -gt "$checks" ] && break
		sleep 1
	done
	grep 'kdb: ' "$rlog" | tail -n 1 >&2
	timed_verify_peer
	read -r all_ms arc arss_p arss_r <"$W/verify.res"
	adiff=$(head -n 1 "$W/verify.out" | awk '$1 == "differ:" { print $2 }')
	ROWS+=("$N all $all_ms $arc $arss_p $arss_r - - -")
	run_json+=("{\"run\":\"all\",\"verify_peer_ms\":$all_ms,\"exit\":$arc,\"keys_differ\":${adiff:-null},\"rss_primary_kb\":$arss_p,\"rss_replica_kb\":$arss_r}")
	size_done
done

echo
printf '%-9s %3s %13s %4s %11s %11s %10s %4s %9s\n' principals run "verify PEER" exit \
	"RSS p (kB)" "RSS r (kB)" "verify" exit "dump"
for row in "${ROWS[@]}"; do
	read -r n run pms rc rp rr lms lrc dms <<<"$row"
	printf '%-9s %3s %10s ms %4s %11s %11s %7s ms %4s %6s ms\n' "$n" "$run" "$pms" "$rc" \
		"$rp" "$rr" "$lms" "$lrc" "$dms"
done
echo
printf '%s\n' "${JSON[@]}"
