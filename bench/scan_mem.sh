#!/bin/bash
# SPDX-License-Identifier: MIT
# Memory of the nodes around whole-database work (issue 11: <= 64 MB of
# anonymous memory for either node at any database size), on a loopback
# pair (deploy/pair.sh) with a realistic generated realm (bench/scale_lib.sh).
# Never asserts.
#
#   KS_BUILD_DIR=/path/to/release-build bench/scan_mem.sh [N...]
#       (default N = 100000)
#
# For each N, peak and final RssAnon (/proc/PID/status, sampled every
# 0.1 s) of each kdcsyncd:
#   up     deploy/pair.sh up --load: the primary's start-up scan of N
#          principals into an empty store, then the replica's first full
#          copy; "after" read 2 s after the pair is up.
#   scan   `kdcsync snapshot` on the primary (a full scan that finds every
#          record unchanged); "after" read when it has answered.
# Prints a table and one JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build}"
export KS_BUILD_DIR
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000)
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" scanmem
SAMPLER=
cleanup() {
	[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
	bench_cleanup
}
trap cleanup EXIT
log() { echo "== $*" >&2; }
anon_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$(node_pid "$1")/status"; }

sample_start() { rm -f "$1" "$1.stop"; rss_sampler "$1" & SAMPLER=$!; }
sample_stop() { touch "$1.stop"; wait "$SAMPLER"; SAMPLER=; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

ROWS=()
for N in "${SIZES[@]}"; do
	rm -rf "$W/pair" "$W/tmpl" "$W"/*.dump
	log "N = $N: generated dump"
	gen_realm_dump "$W/tmpl" "$N" "$W/gen.dump"
	log "N = $N: pair up (start-up scan, first full copy)"
	sample_start "$W/up"
	"$SRC/deploy/pair.sh" up "$W/pair" --load "$W/gen.dump" >/dev/null 2>"$W/up.err" ||
		{ cat "$W/up.err" >&2; exit 1; }
	sleep 2
	sample_stop "$W/up"
	read -r up_p up_r <"$W/up"
	upa_p=$(anon_kb primary) upa_r=$(anon_kb replica)
	# shellcheck disable=SC1091
	. "$W/pair/env"
	log "N = $N: scan (kdcsync snapshot)"
	sample_start "$W/scan"
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null
	sample_stop "$W/scan"
	read -r sc_p sc_r <"$W/scan"
	sca_p=$(anon_kb primary)
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null
	ROWS+=("$(printf '%-10s | %8s %8s %8s %8s | %8s %8s' "$N" "$(mb "$up_p")" "$(mb "$upa_p")" "$(mb "$up_r")" "$(mb "$upa_r")" "$(mb "$sc_p")" "$(mb "$sca_p")")")
	printf '{"bench":"scan_mem","principals":%s,"rss_anon_kb":{"up":{"primary_peak":%s,"primary_after":%s,"replica_peak":%s,"replica_after":%s},"scan":{"primary_peak":%s,"primary_after":%s}}}\n' \
		"$N" "$up_p" "$upa_p" "$up_r" "$upa_r" "$sc_p" "$sca_p"
done
echo
echo "           | pair up (start-up scan + first copy), MB  | kdcsync snapshot, MB"
echo "principals |  peak_P  after_P   peak_R  after_R |   peak_P  after_P"
printf '%s\n' "${ROWS[@]}"
echo "(RssAnon of each kdcsyncd from /proc/PID/status, sampled every 0.1 s)"
