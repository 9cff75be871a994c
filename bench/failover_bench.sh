#!/bin/bash
# SPDX-License-Identifier: MIT
# Fail-over and rejoin benchmark (issue 12), on a loopback pair
# (deploy/pair.sh).  Never asserts on time.
#
#   KS_BUILD_DIR=/path/to/release-build bench/failover_bench.sh [N...]
#       (default N = 100000 1000000)
#
# For each N (principals preloaded on the primary):
#   fail-over  the primary's kdcsyncd is killed (SIGKILL); `kdcsync promote`
#              on the replica; a kadmin.local addprinc on it; time from the
#              kill until the promoted node has logged that change (it is
#              then the primary, capturing, serving replicas).  `promote`
#              alone is reported too.  Detection by keepalived (about 2 s
#              in tests/integration/ha_keepalived.sh) comes on top.
#   rejoin     the old primary's node restarts (as configured: a primary)
#              and `kdcsync follow replica` runs; time until it has applied
#              the new primary's last seq:
#              incremental  nothing diverged (it stopped in sync);
#              rewind       after 100 changes of its own that the new
#                           primary never had (they go to diverged-*.dump);
#              full copy    what a rejoin costs without a position (its
#                           store removed): the full snapshot it replaces.
# Prints a table and one JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build with node/ and the hook}"
export KS_BUILD_DIR
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" fobench
PAIR=$SRC/deploy/pair.sh
now_ms() { echo $(($(date +%s%N) / 1000000)); }
field() { # field CONF KEY
	"$KDCSYNC" -c "$1" status --json | sed -n "s/^{[^[]*\"$2\":\"\{0,1\}\([0-9a-z]*\).*/\1/p"
}
kq() { # kq primary|replica kadmin.local-arguments...
	local c k
	if [ "$1" = replica ]; then c=$REPLICA_KRB5_CONFIG k=$REPLICA_KDC_PROFILE; else c=$PRIMARY_KRB5_CONFIG k=$PRIMARY_KDC_PROFILE; fi
	shift
	KRB5_CONFIG=$c KRB5_KDC_PROFILE=$k kadmin.local -r "$REALM" "$@" >/dev/null 2>&1
}
wait_until() { # wait_until CMD...: poll every 10 ms, 600 s at most
	local deadline=$((SECONDS + 600))
	until "$@"; do
		[ $SECONDS -lt $deadline ] || { echo "timed out: $*" >&2; exit 1; }
		sleep 0.01
	done
}
seq_above() { [ "$(field "$1" last_seq)" -gt "$2" ]; }
caught_up() { # the old primary applied the new primary's last seq, streaming
	local l a
	l=$(field "$REPLICA_NODE_CONF" last_seq)
	a=$(field "$PRIMARY_NODE_CONF" applied_seq)
	[ "$(field "$PRIMARY_NODE_CONF" role)" = replica ] && [ "$l" = "$a" ] &&
		"$KDCSYNC" -c "$PRIMARY_NODE_CONF" status --json | grep -q '"repl":{"state":"stream"'
}
# rejoin: follow, wait; prints ms
rejoin() {
	local t0
	t0=$(now_ms)
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" follow replica >/dev/null
	wait_until caught_up
	echo $(($(now_ms) - t0))
}
# back: make the replica's host the follower again and the primary's host
# the primary (for the next measurement)
swap_back() {
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" promote >/dev/null
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" follow primary >/dev/null
	"$PAIR" wait "$W/pair" 600 >/dev/null
}

RESULTS=()
for N in "${SIZES[@]}"; do
	echo "== N = $N: pair up" >&2
	rm -rf "$W/pair"
	realistic_pair_up "$W/pair" "$N" >/dev/null
	# shellcheck disable=SC1091
	. "$W/pair/env"
	kq primary -q "addprinc -randkey warm1"
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null
	"$PAIR" wait "$W/pair" 600 >/dev/null

	echo "== N = $N: fail-over" >&2
	t0=$(now_ms)
	"$PAIR" node-stop "$W/pair" primary KILL
	t1=$(now_ms)
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null
	t2=$(now_ms)
	last=$(field "$REPLICA_NODE_CONF" last_seq)
	kq replica -q "addprinc -randkey after1"
	wait_until seq_above "$REPLICA_NODE_CONF" "$last"
	t3=$(now_ms)
	promote_ms=$((t2 - t1))
	failover_ms=$((t3 - t0))

	echo "== N = $N: rejoin, incremental" >&2
	"$PAIR" node-start "$W/pair" primary
	incr_ms=$(rejoin)
	grep -q "receiving a full snapshot" "$PRIMARY_DIR/node.log" &&
		echo "warning: the incremental rejoin took a full copy" >&2

	echo "== N = $N: rejoin after 100 diverged changes (rewind)" >&2
	swap_back
	"$PAIR" node-stop "$W/pair" primary KILL
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null
	"$PAIR" node-start "$W/pair" primary
	for i in $(seq 1 100); do printf 'addprinc -randkey div%03d\n' "$i"; done >"$W/div.txt"
	last=$(field "$PRIMARY_NODE_CONF" last_seq)
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" <"$W/div.txt" >/dev/null 2>&1
	wait_until seq_above "$PRIMARY_NODE_CONF" "$((last + 99))"
	rewind_ms=$(rejoin)
	ls "$PRIMARY_DIR"/node/diverged-*.dump >/dev/null 2>&1 ||
		echo "warning: no diverged file after the rewind" >&2

	echo "== N = $N: rejoin without a position (full copy)" >&2
	swap_back
	"$PAIR" node-stop "$W/pair" primary KILL
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null
	rm -rf "$PRIMARY_DIR/node/store"
	"$PAIR" node-start "$W/pair" primary
	full_ms=$(rejoin)

	printf '%-9s %12s %11s %16s %12s %14s\n' N "fail-over ms" "promote ms" \
		"rejoin incr ms" "rewind ms" "full copy ms" >&2
	printf '%-9s %12s %11s %16s %12s %14s\n' "$N" "$failover_ms" "$promote_ms" \
		"$incr_ms" "$rewind_ms" "$full_ms" >&2
	RESULTS+=("{\"n\":$N,\"failover_ms\":$failover_ms,\"promote_ms\":$promote_ms,\"rejoin_incremental_ms\":$incr_ms,\"rejoin_rewind_ms\":$rewind_ms,\"rejoin_full_copy_ms\":$full_ms}")
	"$PAIR" down "$W/pair" >/dev/null
done

echo
printf '| principals | fail-over (kill -> promoted node logs a write) | promote | rejoin, incremental | rejoin, rewind of 100 diverged | rejoin, full copy |\n'
printf '|---:|---:|---:|---:|---:|---:|\n'
for r in "${RESULTS[@]}"; do
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("| {n} | {failover_ms} ms | {promote_ms} ms | {rejoin_incremental_ms} ms | {rejoin_rewind_ms} ms | {rejoin_full_copy_ms} ms |".format(**r))' "$r"
done
for r in "${RESULTS[@]}"; do echo "$r"; done
