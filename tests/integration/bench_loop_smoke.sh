#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke run of the loop benchmark (bench/loop_bench.sh) at 500 principals,
# so that its phases (the kprop ones with their third node and stock
# kpropd included), the sampler and the nodes' "loop" status keep
# working.  Checks that each phase produced samples from both nodes and
# loop figures; never asserts on a time.
set -euo pipefail
: "${KS_BUILD_DIR:?set by ctest}"
: "${KS_SOURCE_DIR:?set by ctest}"
T=$(mktemp -d "${TMPDIR:-/tmp}/ks-loop-smoke.XXXXXX")
trap 'rm -rf "$T"' EXIT
STREAM=200 KS_BUILD_DIR=$KS_BUILD_DIR \
	bash "$KS_SOURCE_DIR/bench/loop_bench.sh" 500 >"$T/out" 2>"$T/err" ||
	{ tail -n 30 "$T/err" >&2; echo "FAIL: loop_bench.sh" >&2; exit 1; }
grep '^{"bench":"loop"' "$T/out" | python3 -c '
import json, sys
phases = {}
for line in sys.stdin:
    r = json.loads(line)
    phases[r["phase"]] = r
bad = []
for p in ("start-up", "scan", "stream", "copy"):
    r = phases.get(p)
    if r is None:
        bad.append(p + ": no result")
        continue
    for n in ("primary", "replica"):
        x = r["nodes"].get(n, {})
        if not x.get("samples") or "loop_busy_max_ms" not in x:
            bad.append("%s: %s not sampled: %s" % (p, n, json.dumps(x)))
    if r["idle_timeout_resets_so_far"] != 0:
        bad.append(p + ": a link reset by idle timeout")
for p in ("kprop-in", "kprop-out"):
    x = phases.get(p, {}).get("nodes", {}).get("kprop", {})
    if not x.get("samples") or "loop_busy_max_ms" not in x:
        bad.append("%s: the kprop node not sampled: %s" % (p, json.dumps(x)))
if not phases.get("kprop-out", {}).get("push_bytes"):
    bad.append("kprop-out: no push measured")
if phases.get("stream", {}).get("changes") != 200:
    bad.append("stream: not 200 changes")
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
print("loop_bench smoke: every phase sampled both nodes")
'
