#!/bin/bash
# SPDX-License-Identifier: MIT
# The latency cost of synchronous mode (issue 12): one kadmin.local write
# (addprinc -randkey, a whole kadmin.local process) on a loopback pair
# (deploy/pair.sh --sync), timed from outside, with
#   sync     [node] synchronous = 1 (returns once the replica applied it)
#   async    synchronous = 0 (returns once the module's report is sent)
#   no-node  the primary's node stopped (the module finds no socket): what
#            kadmin.local costs with nothing of kdcsync in the way
# in the same run: ROUNDS rounds, each switching the primary's node.conf
# and restarting its node, WRITES writes per variant and round.  Prints
# p50/p90/p99/max per variant and the difference of the medians to async,
# then one JSON line.  Never asserts.  The primary holds a realistic realm
# of PRINCIPALS generated principals (own random keys, varied names:
# bench/scale_lib.sh).
#
#   KS_BUILD_DIR=/path/to/release-build bench/sync_bench.sh [WRITES] [ROUNDS] [PRINCIPALS]
#       (defaults 100 writes, 3 rounds, 10000 principals)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build with node/ and the KDB module}"
export KS_BUILD_DIR
WRITES=${1:-100}
ROUNDS=${2:-3}
N=${3:-10000}
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" syncbench
PAIR=$SRC/deploy/pair.sh

realistic_pair_up "$W/pair" "$N" --sync >"$W/up.log" 2>&1 || { cat "$W/up.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$W/pair/env"

# set_sync N: the primary's node restarted with synchronous = N
set_sync() {
	"$PAIR" node-stop "$W/pair" primary
	sed -i "s/^\tsynchronous = .*/\tsynchronous = $1/" "$PRIMARY_NODE_CONF"
	"$PAIR" node-start "$W/pair" primary
	"$PAIR" wait "$W/pair" 60
}

n=0
# run VARIANT: WRITES timed writes, microseconds appended to W/VARIANT
run() {
	local i t0 t1
	for ((i = 0; i < WRITES; i++)); do
		n=$((n + 1))
		t0=$(date +%s%N)
		KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
			kadmin.local -r "$REALM" -q "addprinc -randkey bench$n" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000)) >>"$W/$1"
	done
}

for ((r = 1; r <= ROUNDS; r++)); do
	set_sync 1
	run sync
	set_sync 0
	run async
	"$PAIR" node-stop "$W/pair" primary
	run no-node
	"$PAIR" node-start "$W/pair" primary
	echo "round $r of $ROUNDS done" >&2
done

python3 - "$W" "$WRITES" "$ROUNDS" "$N" <<'PY'
import json, sys
w, writes, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
res = {}
for var in ("sync", "async", "no-node"):
    v = sorted(int(x) for x in open(f"{w}/{var}"))
    res[var] = {"n": len(v), "p50_ms": pct(v, 50) / 1000,
                "p90_ms": pct(v, 90) / 1000, "p99_ms": pct(v, 99) / 1000,
                "max_ms": v[-1] / 1000}
print(f"kadmin.local addprinc, one process per write; {writes} writes x "
      f"{rounds} rounds per variant (loopback pair, replica on the same host, "
      f"{n} generated principals)")
print(f"{'variant':<10} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
      f"{'max ms':>8} {'p50 - async':>12}")
for var, r in res.items():
    d = r["p50_ms"] - res["async"]["p50_ms"]
    print(f"{var:<10} {r['n']:>5} {r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} "
          f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {d:>+12.1f}")
print(json.dumps({"bench": "sync", "principals": n, "writes": writes, "rounds": rounds,
                  "variants": res}))
PY
