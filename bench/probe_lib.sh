# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by the latency benchmarks that time AS requests with
# bench/repl_probe (source with "." after the KS_BUILD_DIR check):
#   PROBE   the probe binary (exits the script when the bench targets are
#           not built)
#   pct FILE P   the P-th percentile (nearest rank) of the numbers in FILE
#   ms US        microseconds as milliseconds with two decimals
PROBE=$KS_BUILD_DIR/bench/repl_probe
[ -x "$PROBE" ] || { echo "no $PROBE: build the bench targets" >&2; exit 1; }
pct() { sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; print a[i] }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
