#!/bin/bash
# SPDX-License-Identifier: MIT
# Cascade propagation (issue 12, PROTOCOL.md §3.13): a change made with
# kadmin.local on the primary, until the replica's KDC (one hop) and the
# third KDC (two hops: the replica relays the primary's signed batch) answer
# for it.  Never asserts on time.
#
#   KS_BUILD_DIR=/path/to/release-build bench/chain_bench.sh [N...]
#       (default N = 10000 100000; the build needs bench/repl_probe)
#
# For each N: a realistic realm of N generated principals (own random keys,
# varied names: bench/scale_lib.sh) loaded into the primary of
# `deploy/pair.sh up --chain` (primary -> replica -> third).  LAT_N (default
# 100) times `kadmin.local -q "addprinc -randkey chainI"`; from the moment
# kadmin.local returns, two bench/repl_probe processes (one per KDC) send AS
# requests to the replica's and the third's KDC until each answers for the
# principal.  p50 / p99 / max of both, and the ratio of the two-hop to the
# one-hop figures (the target: at most 2), and whether the third needed a
# full copy beyond its first.  Prints a table and one JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build with bench/repl_probe}"
export KS_BUILD_DIR
# shellcheck source=probe_lib.sh
. "$SRC/bench/probe_lib.sh"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
LAT_N=${LAT_N:-100}
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" chainbench
cleanup() {
	[ -n "${P1:-}" ] && kill "$P1" 2>/dev/null || true
	[ -n "${P2:-}" ] && kill "$P2" 2>/dev/null || true
	bench_cleanup
}
trap cleanup EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

RESULTS=()
printf '%-9s | %-28s | %-28s | %s\n' principals "one hop (replica KDC) ms" \
	"two hops (third KDC) ms" "two/one"
printf '%-9s | %-28s | %-28s | %s\n' "" "p50 / p99 / max" "p50 / p99 / max" \
	"p50, p99"
for N in "${SIZES[@]}"; do
	echo "== N = $N: chain up (realistic realm)" >&2
	rm -rf "$W/pair"
	realistic_pair_up "$W/pair" "$N" --chain >"$W/up.log" 2>&1 ||
		{ cat "$W/up.log" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$W/pair/env"
	# one probe per KDC, each reading names on a fifo
	rm -f "$W"/p?.in "$W"/p?.out
	mkfifo "$W/p1.in" "$W/p1.out" "$W/p2.in" "$W/p2.out"
	KRB5_CONFIG=$REPLICA_KRB5_CONFIG "$PROBE" 30 <"$W/p1.in" >"$W/p1.out" &
	P1=$!
	KRB5_CONFIG=$THIRD_KRB5_CONFIG "$PROBE" 30 <"$W/p2.in" >"$W/p2.out" &
	P2=$!
	exec 7>"$W/p1.in" 8<"$W/p1.out" 5>"$W/p2.in" 6<"$W/p2.out"
	: >"$W/one"
	: >"$W/two"
	for i in $(seq 1 "$LAT_N"); do
		KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
			kadmin.local -r "$REALM" -q "addprinc -randkey chain$i" >/dev/null 2>&1
		echo "chain$i@$REALM" >&7
		echo "chain$i@$REALM" >&5
		read -r _ u1 _ <&8
		read -r _ u2 _ <&6
		[ "$u1" -ge 0 ] && [ "$u2" -ge 0 ] ||
			{ echo "chain$i did not reach both KDCs" >&2; exit 1; }
		echo "$u1" >>"$W/one"
		echo "$u2" >>"$W/two"
	done
	exec 7>&- 5>&- 8<&- 6<&-
	kill "$P1" "$P2" 2>/dev/null || true
	wait "$P1" "$P2" 2>/dev/null || true
	P1= P2=
	o50=$(pct "$W/one" 50) o99=$(pct "$W/one" 99) omax=$(pct "$W/one" 100)
	t50=$(pct "$W/two" 50) t99=$(pct "$W/two" 99) tmax=$(pct "$W/two" 100)
	full=$("$KDCSYNC" -c "$THIRD_NODE_CONF" status --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print([p for p in d["peers"] if p["name"]=="replica"][0]["repl"]["full_transfers"])')
	printf '%-9s | %-28s | %-28s | %s, %s\n' "$N" \
		"$(ms "$o50") / $(ms "$o99") / $(ms "$omax")" \
		"$(ms "$t50") / $(ms "$t99") / $(ms "$tmax")" \
		"$(ratio "$t50" "$o50")" "$(ratio "$t99" "$o99")"
	RESULTS+=("{\"bench\":\"chain\",\"principals\":$N,\"changes\":$LAT_N,\"one_hop_ms\":{\"p50\":$(ms "$o50"),\"p99\":$(ms "$o99"),\"max\":$(ms "$omax")},\"two_hops_ms\":{\"p50\":$(ms "$t50"),\"p99\":$(ms "$t99"),\"max\":$(ms "$tmax")},\"ratio_p50\":$(ratio "$t50" "$o50"),\"ratio_p99\":$(ratio "$t99" "$o99"),\"third_full_transfers\":$full}")
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null
done
for r in "${RESULTS[@]}"; do echo "$r"; done
