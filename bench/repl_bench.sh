#!/bin/bash
# SPDX-License-Identifier: MIT
# Propagation benchmark (issue 6): a change made with kadmin.local on the
# primary, until the replica's KDC answers for it.  Never asserts on time.
#
#   KS_BUILD_DIR=/path/to/release-build bench/repl_bench.sh [N...]
#       (default N = 10000 100000; the build needs bench/repl_probe)
#
# For each N (principals preloaded on the primary):
#   kdcsync  (deploy/pair.sh):
#     latency  100 x `kadmin.local -q "addprinc -randkey latI"`; from the
#              moment kadmin.local returns, bench/repl_probe sends AS
#              requests to the replica's KDC until the answer is no longer
#              "client not found"; p50 / p99 / max.
#     burst    10,000 addprinc in ONE kadmin.local run; time from that run
#              returning until the replica's KDC knows the last principal.
#     bytes    TLS bytes the primary sent for the 100 single changes (per
#              change) and for the burst (per change), from `kdcsync status`.
#   stock dump + kprop (same machine, same run): kdb5_util dump + kprop -f
#     to a stock kpropd (which runs kdb5_util load), then the probe: one
#     change's latency (no cron wait counted), and the cycle after the
#     burst; bytes = the dump size (kprop sends the whole dump).
#   stock iprop (bench/repl_bench_iprop.sh): kadmind serving the ulog,
#     kpropd polling every 1 s; the same probe; p50/p99 over the same
#     number of changes and the same burst.
# Prints a table and one JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build with bench/repl_probe}"
export KS_BUILD_DIR
# shellcheck source=probe_lib.sh
. "$SRC/bench/probe_lib.sh"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
LAT_N=${LAT_N:-100}
BURST_N=${BURST_N:-10000}
W=$(mktemp -d "${TMPDIR:-/tmp}/ks-bench.XXXXXX")
cleanup() {
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null 2>&1 || true
	[ -n "${PROBE_PID:-}" ] && kill "$PROBE_PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
now_us() { echo $(($(date +%s%N) / 1000)); }


peer_bytes() { # primary's bytes_out towards the replica
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" status --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print([p for p in d["peers"] if p["name"]=="replica"][0]["bytes_out"])'
}

RESULTS=()
for N in "${SIZES[@]}"; do
	echo "== N = $N: pair up" >&2
	rm -rf "$W/pair"
	"$SRC/deploy/pair.sh" up "$W/pair" -n "$N" >/dev/null
	# shellcheck disable=SC1091
	. "$W/pair/env"
	pk() { KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE kadmin.local -r "$REALM" "$@" >/dev/null 2>&1; }
	coproc PROBEC { KRB5_CONFIG=$REPLICA_KRB5_CONFIG exec "$PROBE" 30; }
	PROBE_PID=$PROBEC_PID
	# latency
	b0=$(peer_bytes)
	: >"$W/lat"
	for i in $(seq 1 "$LAT_N"); do
		pk -q "addprinc -randkey lat$i"
		echo "lat$i@$REALM" >&"${PROBEC[1]}"
		read -r _ us _ <&"${PROBEC[0]}"
		[ "$us" -ge 0 ] || { echo "lat$i never reached the replica" >&2; exit 1; }
		echo "$us" >>"$W/lat"
	done
	b1=$(peer_bytes)
	p50=$(pct "$W/lat" 50)
	p99=$(pct "$W/lat" 99)
	max=$(pct "$W/lat" 100)
	bytes_one=$(((b1 - b0) / LAT_N))
	# burst
	for i in $(seq 1 "$BURST_N"); do printf 'addprinc -randkey burst%05d\n' "$i"; done >"$W/burst.txt"
	b0=$(peer_bytes)
	t0=$(now_us)
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" <"$W/burst.txt" >/dev/null 2>&1
	t1=$(now_us)
	printf 'burst%05d@%s\n' "$BURST_N" "$REALM" >&"${PROBEC[1]}"
	read -r _ burst_us _ <&"${PROBEC[0]}"
	"$SRC/deploy/pair.sh" wait "$W/pair" 60
	b1=$(peer_bytes)
	burst_run_ms=$(((t1 - t0) / 1000))
	bytes_burst=$(((b1 - b0) / BURST_N))
	kill "$PROBE_PID" 2>/dev/null || true
	wait "$PROBE_PID" 2>/dev/null || true
	PROBE_PID=
	dump_bytes=$(KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kdb5_util -r "$REALM" dump "$W/size.dump" && stat -c %s "$W/size.dump")
	rm -f "$W/size.dump" "$W/size.dump.dump_ok"
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null

	# stock dump + kprop, same machine, same N (+ the burst), own realms
	echo "== N = $N: stock dump + kprop" >&2
	stock=$(N=$N BURST_N=$BURST_N PROBE=$PROBE bash "$SRC/bench/repl_bench_stock.sh" 2>"$W/stock.err") ||
		{ cat "$W/stock.err" >&2; stock="- - -"; }
	read -r s_one s_burst s_bytes <<<"$stock"
	echo "== N = $N: stock iprop (1 s poll)" >&2
	iprop=$(N=$N LAT_N=$LAT_N BURST_N=$BURST_N PROBE=$PROBE bash "$SRC/bench/repl_bench_iprop.sh" 2>"$W/iprop.err") ||
		{ tail -n 5 "$W/iprop.err" >&2; iprop="- - -"; }
	read -r i_p50 i_p99 i_burst <<<"$iprop"

	RESULTS+=("$N $(ms "$p50") $(ms "$p99") $(ms "$max") $bytes_one $burst_run_ms $(ms "$burst_us") $bytes_burst $dump_bytes $s_one $s_burst $s_bytes $i_p50 $i_p99 $i_burst")
	printf '{"bench":"repl","principals":%s,"changes":%s,"kdcsync":{"p50_ms":%s,"p99_ms":%s,"max_ms":%s,"bytes_per_change":%s,"burst_changes":%s,"burst_kadmin_run_ms":%s,"burst_caught_up_ms_after_run":%s,"burst_bytes_per_change":%s},"stock_dump_kprop":{"one_change_ms":"%s","after_burst_ms":"%s","bytes_per_cycle":"%s"},"stock_iprop_1s":{"p50_ms":"%s","p99_ms":"%s","after_burst_ms":"%s"},"dump_bytes":%s}\n' \
		"$N" "$LAT_N" "$(ms "$p50")" "$(ms "$p99")" "$(ms "$max")" "$bytes_one" "$BURST_N" "$burst_run_ms" "$(ms "$burst_us")" "$bytes_burst" "$s_one" "$s_burst" "$s_bytes" "$i_p50" "$i_p99" "$i_burst" "$dump_bytes"
done

echo
printf '%-10s | %-28s | %-9s | %-30s | %-26s | %-26s\n' "" "kdcsync one change (n=$LAT_N)" "bytes/chg" "kdcsync burst of $BURST_N" "stock dump+kprop" "stock iprop, 1 s poll"
printf '%-10s | %8s %8s %9s | %9s | %9s %11s %8s | %9s %9s %6s | %8s %8s %8s\n' principals p50_ms p99_ms max_ms wire run_ms caught_up_ms B/chg one_ms burst_ms MB p50_ms p99_ms burst_ms
for r in "${RESULTS[@]}"; do
	read -r n a b c d e f g dump s1 s2 s3 i1 i2 i3 <<<"$r"
	printf '%-10s | %8s %8s %9s | %9s | %9s %11s %8s | %9s %9s %6s | %8s %8s %8s\n' "$n" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$s1" "$s2" \
		"$(awk -v b="$s3" 'BEGIN { if (b ~ /^[0-9]+$/) printf "%.1f", b / 1e6; else print b }')" "$i1" "$i2" "$i3"
done
echo "(caught_up_ms: after the kadmin.local run returned, until the replica's KDC knew the last principal;"
echo " stock one_ms = dump + kprop + kpropd's load + first answer, without the cron wait;"
echo " stock iprop: kadmind + kpropd, iprop_replica_poll = 1s, default ulog size (1000): a larger"
echo " burst makes it fall back to a full resync; its changes start after a random 0-1 s pause)"
