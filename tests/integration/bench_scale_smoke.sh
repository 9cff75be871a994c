#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke run of the scale benchmark (bench/scale_bench.sh) at 500 principals
# without the idle-CPU minute, so that the generator, the --load path of
# deploy/pair.sh, the samplers and the stock cycle keep working.  Checks
# that each part produced a result; never asserts on a time.
set -euo pipefail
: "${KS_BUILD_DIR:?set by ctest}"
: "${KS_SOURCE_DIR:?set by ctest}"
T=$(mktemp -d "${TMPDIR:-/tmp}/ks-scale-smoke.XXXXXX")
trap 'rm -rf "$T"' EXIT
IDLE_SECONDS=0 COPY_TIMEOUT=120 KS_BUILD_DIR=$KS_BUILD_DIR \
	bash "$KS_SOURCE_DIR/bench/scale_bench.sh" 500 >"$T/out" 2>"$T/err" ||
	{ tail -n 30 "$T/err" >&2; echo "FAIL: scale_bench.sh" >&2; exit 1; }
grep '^{"bench":"scale"' "$T/out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
k, s = r["kdcsync"], r["stock_dump_kprop"]
checks = {
    "500 principals": r["principals"] == 500,
    "copy completed": k["full_copy_completed"] is True,
    "bytes on the wire": k["wire_bytes"] > 0,
    "memory sampled": k["peak_rss_anon_kb"]["primary"] > 0 and k["peak_rss_anon_kb"]["replica"] > 0,
    "status sampled": k["status_ms_during_copy"]["primary"]["samples"] > 0,
    "AS probe ran": k["as_requests"] > 0 and s["as_requests"] > 0,
    "stock cycle": s["cycle_ms"] > 0 and s["wire_bytes"] >= r["dump_bytes"],
    "copy phases": all(c["phases"].get("replica", {}).get("chunks", 0) > 0
                       and "encode_ms" in c["phases"].get("primary", {})
                       for c in r["copies"]),
    "copy CPU time": all(set(c.get("cpu_s", {})) == {"primary", "replica"}
                         for c in r["copies"]),
}
bad = [c for c, ok in checks.items() if not ok]
if bad:
    sys.exit("FAIL: " + ", ".join(bad) + ": " + json.dumps(r))
print("scale_bench smoke: every part produced a result")
'
