#!/bin/bash
# SPDX-License-Identifier: MIT
# The nodes' responsiveness under whole-database work (issue 11 items 1,
# 3, 5): `status json` answer time on the control socket (p50/p99/max)
# and the event loop's longest iteration (the node's own measure,
# node/loopstat.h: "loop" in status --json) during each phase, on a
# realistic realm of N principals (bench/scale_lib.sh: own random keys,
# varied names).  Never asserts.
#
#   KS_BUILD_DIR=/path/to/release-build bench/loop_bench.sh [N...]
#       (default N = 1000000; a table on stdout, one JSON line per N and
#       phase)
#   env: SAMPLE_MS (status sampling interval, default 20), IDLE_TIMEOUT
#        (the nodes' [tls] idle_timeout, default 10s), STREAM (principals
#        changed at once for the stream phase, default N)
#
# Phases (both nodes sampled in each):
#   start-up  the primary's node restarts (KDB unchanged): from its start
#             until the replica follows again; the start-up scan reads the
#             whole KDB on the worker ("first" in the table: ms from the
#             start until the primary's control socket first answered).
#   scan      `kdcsync snapshot`: one full scan.
#   stream    STREAM principals changed at once on the primary (one
#             kdb5_util load -update while its node runs: the KDB module
#             reports each principal, the capture logs them, then a
#             `kdcsync snapshot` for anything missed), until the replica
#             applied them; the JSON counts idle-timeout link resets.
#   copy      the replica's state directory emptied and its node started:
#             a full copy, until the replica applied the primary's seq.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build with node/kdcsyncd}"
export KS_BUILD_DIR
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000)
SAMPLE_MS=${SAMPLE_MS:-20}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-10s}
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" loop
PAIR=$SRC/deploy/pair.sh
SAMPLER=
cleanup() {
	[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
	bench_cleanup
}
trap cleanup EXIT
log() { echo "== $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# phase_start NAME / phase_end: sample both nodes meanwhile
phase_start() {
	PHASE=$1
	rm -f "$W/stop" "$W/stop.ready" "$W/stop.t0"
	python3 "$SRC/bench/loop_sampler.py" "$W/stop" "$W/phase.json" "$SAMPLE_MS" \
		"primary=$PRIMARY_DIR/node/kdcsyncd.sock" "replica=$REPLICA_DIR/node/kdcsyncd.sock" &
	SAMPLER=$!
	# the sampler's first round is done: a short phase still gets samples
	for _ in $(seq 1 600); do
		[ -e "$W/stop.ready" ] && break
		sleep 0.05
	done
	T0=$(now_ms)
	echo "$T0" >"$W/stop.t0"
}
phase_end() { # phase_end EXTRA_JSON
	local ms resets
	ms=$(($(now_ms) - T0))
	touch "$W/stop"
	wait "$SAMPLER" || true
	SAMPLER=
	resets=$(cat "$PRIMARY_DIR/node.log" "$REPLICA_DIR/node.log" | grep -c 'idle timeout' || true)
	J=$(python3 - "$W/phase.json" "$N" "$PHASE" "$ms" "$resets" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
out = {"bench": "loop", "principals": int(sys.argv[2]), "phase": sys.argv[3],
       "ms": int(sys.argv[4]), "idle_timeout_resets_so_far": int(sys.argv[5])}
out.update(json.loads(sys.argv[6] or "{}"))
out["nodes"] = d
print(json.dumps(out, separators=(",", ":")))
PY
)
	echo "$J"
	JSON+=("$J")
}

JSON=()
for N in "${SIZES[@]}"; do
	rm -rf "$W/pair"
	log "N = $N: realistic realm, pair up"
	realistic_pair_up "$W/pair" "$N" --idle-timeout "$IDLE_TIMEOUT" >/dev/null
	# shellcheck disable=SC1091
	. "$W/pair/env"

	log "N = $N: start-up (primary node restarted, KDB unchanged)"
	"$PAIR" node-stop "$W/pair" primary
	phase_start start-up
	"$PAIR" node-start "$W/pair" primary
	"$PAIR" wait "$W/pair" 600
	phase_end ""

	log "N = $N: scan (kdcsync snapshot)"
	phase_start scan
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null
	phase_end ""

	S=${STREAM:-$N}
	log "N = $N: stream of $S changes"
	(
		export KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE
		kdb5_util -r "$REALM" dump "$W/all.dump"
		awk -F'\t' -v OFS='\t' -v s="$S" 'NR == 1 { print; next }
			$1 == "princ" && n < s && $7 !~ /^(K\/M|krbtgt|kadmin|kiprop)/ { $9 = 36000 + 1; n++ } { print }' \
			"$W/all.dump" >"$W/changed.dump"
	)
	phase_start stream
	(export KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE &&
		kdb5_util -r "$REALM" load -update "$W/changed.dump")
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >"$W/scan.out"
	"$PAIR" wait "$W/pair" 900
	phase_end "{\"changes\":$S,\"scan\":$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1].strip()))' "$(cat "$W/scan.out")")}"

	log "N = $N: full copy into an empty replica state directory"
	"$PAIR" node-stop "$W/pair" replica
	rm -rf "${REPLICA_DIR:?}/node/"*
	phase_start copy
	"$PAIR" node-start "$W/pair" replica
	"$PAIR" wait "$W/pair" 900
	phase_end ""
	"$PAIR" down "$W/pair" >/dev/null
done

echo
printf '%-9s %-9s %8s | %-24s %7s %12s %6s | %-24s %12s %6s\n' "" "" "" "primary status ms" "" "loop ms" "" "replica status ms" "loop ms" ""
printf '%-9s %-9s %8s | %-24s %7s %12s %6s | %-24s %12s %6s\n' principals phase secs p50/p99/max first busy/cpu ">10ms" p50/p99/max busy/cpu ">10ms"
for j in "${JSON[@]}"; do
	python3 - "$j" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
def node(n, first=False):
    x = d["nodes"].get(n, {})
    lat = "%s/%s/%s" % (x.get("p50_ms"), x.get("p99_ms"), x.get("max_ms"))
    f = " %7s" % x.get("first_answer_ms") if first else ""
    loop = "%s/%s" % (x.get("loop_busy_max_ms", "-"), x.get("loop_cpu_max_ms", "-"))
    return "%-24s%s %12s %6s" % (lat, f, loop, x.get("loop_over_10ms", "-"))
print("%-9s %-9s %8.2f | %s | %s" % (d["principals"], d["phase"], d["ms"] / 1000.0, node("primary", True), node("replica")))
PY
done
echo "(secs: the phase, from the sampler's start; status: 'status json' on the control socket every ${SAMPLE_MS} ms, connect to end of answer;"
echo " loop busy/cpu: the longest loop iteration the node measured during the phase, wall time / the loop thread's CPU time
 (busy includes waiting for a CPU on a loaded machine); >10ms: iterations over 10 ms (wall);"
echo " idle_timeout $IDLE_TIMEOUT; link resets by idle timeout are in the JSON)"
