#!/bin/bash
# SPDX-License-Identifier: MIT
# Metrics scrape benchmark (issue 13): how long one GET /metrics takes on
# each node of a pair, idle and while the primary runs a full scan
# (`kdcsync snapshot`), at N preloaded principals.  A scrape is rendered on
# the node's event loop from memory and the store's metadata page only, so
# its cost must not grow with N; what it can show is the loop being busy
# (a scrape waits for the loop).  Never asserts on time.
#
#   KS_BUILD_DIR=/path/to/release-build bench/scrape_bench.sh [N...]
#       (default N = 1000000; any build with node/kdcsyncd and the module)
#
# Per N: 200 sequential scrapes of each node (idle), then scrapes every
# 50 ms from the start of `kdcsync snapshot` until it returns (primary);
# p50 / p99 / max in ms and the exposition size.  Prints a table and one
# JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a build with node/kdcsyncd}"
export KS_BUILD_DIR
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000)
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" scrape

# scrape_stats URL COUNT|-PIDFILE: "p50 p99 max bytes n" in ms; with
# -PIDFILE, scrape every 50 ms while that pid runs.
scrape_stats() {
	python3 - "$1" "$2" <<'PY'
import os, sys, time, urllib.request
url, mode = sys.argv[1], sys.argv[2]
ts, size = [], 0
def one():
    global size
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        size = len(r.read())
    ts.append((time.perf_counter() - t) * 1000)
if mode.startswith("-"):
    # At least one scrape, taken right after the snapshot started: at small
    # N the snapshot may end before a second one (the list was empty then).
    pid = int(open(mode[1:]).read())
    while True:
        one()
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
else:
    for _ in range(int(mode)):
        one()
ts.sort()
n = len(ts)
print("%.2f %.2f %.2f %d %d" % (ts[n // 2], ts[min(n - 1, int(n * 0.99))],
                                ts[-1], size, n))
PY
}

printf '%-9s %-28s %8s %8s %9s %7s %5s\n' N case p50_ms p99_ms max_ms bytes n
for n in "${SIZES[@]}"; do
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null 2>&1 || true
	rm -rf "$W/pair"
	PAIR_TIMEOUT=1800 realistic_pair_up "$W/pair" "$n" >"$W/up.log" 2>&1 ||
		{ cat "$W/up.log" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$W/pair/env"
	read -r p50a p99a maxa sza na < <(scrape_stats "$PRIMARY_METRICS_URL" 200)
	read -r p50b p99b maxb szb nb < <(scrape_stats "$REPLICA_METRICS_URL" 200)
	("$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null 2>&1) &
	echo $! >"$W/snap.pid"
	read -r p50c p99c maxc szc nc < <(scrape_stats "$PRIMARY_METRICS_URL" "-$W/snap.pid")
	wait
	printf '%-9s %-28s %8s %8s %9s %7s %5s\n' "$n" "primary, idle" "$p50a" "$p99a" "$maxa" "$sza" "$na"
	printf '%-9s %-28s %8s %8s %9s %7s %5s\n' "$n" "replica, idle" "$p50b" "$p99b" "$maxb" "$szb" "$nb"
	printf '%-9s %-28s %8s %8s %9s %7s %5s\n' "$n" "primary, during snapshot" "$p50c" "$p99c" "$maxc" "$szc" "$nc"
	printf '{"bench":"scrape","principals":%s,"primary_idle":{"p50_ms":%s,"p99_ms":%s,"max_ms":%s,"bytes":%s},"replica_idle":{"p50_ms":%s,"p99_ms":%s,"max_ms":%s,"bytes":%s},"primary_during_snapshot":{"p50_ms":%s,"p99_ms":%s,"max_ms":%s,"n":%s}}\n' \
		"$n" "$p50a" "$p99a" "$maxa" "$sza" "$p50b" "$p99b" "$maxb" "$szb" "$p50c" "$p99c" "$maxc" "$nc"
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null
done
