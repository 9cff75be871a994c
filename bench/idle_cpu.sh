#!/bin/bash
# SPDX-License-Identifier: MIT
# The primary's idle CPU (issue 10, DESIGN §6: < 1 % of a core at 1M
# principals at default settings).  Never asserts.
#
#   KS_BUILD_DIR=/path/to/build bench/idle_cpu.sh [N] [WINDOW_S]
#       (defaults: N = 1000000 principals, WINDOW_S = 120)
#
# deploy/pair.sh with N generated principals (bench/scale_lib.sh) and the default scan_interval (10 min);
# once the replica follows, the primary's kdcsyncd CPU time (utime + stime
# from /proc) over WINDOW_S seconds of idleness.  Then, with the interval
# reloaded to 60 s (the old default, to see audits within the window):
# idle again over WINDOW_S (every audit skipped: the KDB files are
# unchanged), and the same window while a kadmin.local write each 20 s
# keeps the KDB changing (the module captures each write; every audit then
# runs a full scan).  Also the duration of one full scan, and from it the
# worst case at the default interval (a KDB written at least once per
# interval by something: one scan per 10 minutes).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a build with node/kdcsyncd and bridge/kdbmod}"
export KS_BUILD_DIR
N=${1:-1000000}
WIN=${2:-120}
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" idle

t0=$SECONDS
realistic_pair_up "$W/pair" "$N" >"$W/up.log" 2>&1 || { cat "$W/up.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$W/pair/env"
echo "pair up with $N principals in $((SECONDS - t0)) s" >&2
PID=$(awk '$1 == "node-primary" { print $2 }' "$W/pair/pids")
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
js() { "$KDCSYNC" -c "$PRIMARY_NODE_CONF" status --json | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
# window LABEL [WRITER]: CPU % of one core over WIN seconds
window() {
	local a b s0 k0 wpid=
	s0=$(js scans)
	k0=$(js scans_skipped)
	a=$(cpu_ticks)
	if [ -n "${2:-}" ]; then
		(while :; do
			KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
				kadmin.local -r "$REALM" -q "addprinc -randkey idle$RANDOM$RANDOM" >/dev/null 2>&1
			sleep 20
		done) &
		wpid=$!
	fi
	sleep "$WIN"
	[ -n "$wpid" ] && { kill "$wpid"; wait "$wpid" 2>/dev/null || true; }
	b=$(cpu_ticks)
	awk -v l="$1" -v t=$((b - a)) -v hz="$TICK" -v w="$WIN" -v s=$(($(js scans) - s0)) \
		-v k=$(($(js scans_skipped) - k0)) \
		'BEGIN { printf "| %s | %.2f %% | %d | %d |\n", l, 100 * t / hz / w, s, k }'
}

echo "| primary kdcsyncd, $N principals, ${WIN} s window | CPU (one core) | scans | audits skipped |"
echo "|---|---|---|---|"
window "idle, default scan_interval (10 min)"
sed -i 's/^\tscan_interval = .*/\tscan_interval = 60s/' "$PRIMARY_NODE_CONF"
kill -HUP "$PID"
sleep 1
window "idle, scan_interval 60 s (audits skipped)"
window "a write every 20 s, scan_interval 60 s (audits scan)" writer
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null
scan_ms=$(js last_scan_ms)
awk -v s="$scan_ms" 'BEGIN {
	printf "\none full scan: %d ms; worst case at the default interval (one scan per 600 s): %.2f %% of a core; old default (a scan every 60 s, never skipped): %.2f %%\n", s, 100 * s / 600000, 100 * s / 60000 }'
