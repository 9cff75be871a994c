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
#        changed at once for the stream phase, default N), KPROP (1: the
#        kprop phases, default; 0 skips them)
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
#   kprop-in  (KPROP=0 skips both kprop phases) a stock `kprop -f` of the
#             primary's dump (the N principals and a host principal) into
#             the [kprop] listen of a third node, "kprop", (role primary,
#             no native peers: a node that replicates natively refuses a
#             listener), from the start until kprop exits (the node's
#             listener thread has loaded the dump into its KDB).
#   kprop-out that node's own push to a stock kpropd (its [peers] entry
#             with mode = kprop): from the end of kprop-in, the node's
#             scan of the loaded KDB and the push, until the peer's pushes
#             count went up (status kprop.peers[0]) with SUCCEEDED.
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
KPROP=${KPROP:-1}
PAIR=$SRC/deploy/pair.sh
HOST=$(hostname)
SAMPLER=
KPIDS=() # the kprop phases' node and stock kpropd
cleanup() {
	local pid
	[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
	for pid in "${KPIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	bench_cleanup
}
trap cleanup EXIT
log() { echo "== $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# phase_start NAME [NODE=SOCKET...] / phase_end: sample the nodes (by
# default the pair's two) meanwhile
phase_start() {
	PHASE=$1
	shift
	[ $# -gt 0 ] || set -- "primary=$PRIMARY_DIR/node/kdcsyncd.sock" "replica=$REPLICA_DIR/node/kdcsyncd.sock"
	rm -f "$W/stop" "$W/stop.ready" "$W/stop.t0"
	python3 "$SRC/bench/loop_sampler.py" "$W/stop" "$W/phase.json" "$SAMPLE_MS" "$@" &
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

# kprop_peer FIELD: a field of the kprop node's first kprop peer
kprop_peer() {
	"$KDCSYNC" -c "$W/kprop.conf" status --json 2>/dev/null |
		python3 -c "import json,sys; p=json.load(sys.stdin)['kprop']['peers'][0]; print(p['$1'])" 2>/dev/null || true
}

# wait_push BEFORE SECONDS: until the kprop node pushed more than BEFORE
# times and the last push SUCCEEDED
wait_push() {
	local deadline=$((SECONDS + $2)) n
	while [ $SECONDS -lt $deadline ]; do
		n=$(kprop_peer pushes)
		if [ -n "$n" ] && [ "$n" -gt "$1" ] && [ "$(kprop_peer last_result)" = SUCCEEDED ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "the kprop node's push did not succeed in $2 s: $(kprop_peer last_result)" >&2
	return 1
}

# kprop_phases: the kprop-in and kprop-out phases (header comment) with a
# node "kprop" and a stock kpropd of their own, the pair's primary realm as
# the source (same realm and master key: realistic_pair_up)
kprop_phases() {
	local k=$W/kprop L S before pid
	rm -rf "$k" "$W/K" "$W/S"
	mkdir -p "$k/state"
	chmod 700 "$k/state"
	(export KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE
		kadmin.local -r "$REALM" -q "addprinc -randkey host/$HOST" &&
			kadmin.local -r "$REALM" -q "ktadd -k $k/host.keytab host/$HOST" &&
			kdb5_util -r "$REALM" dump "$k/p.dump") >/dev/null 2>&1
	touch "$k/p.dump.dump_ok" # kprop -f wants kdb5_util's marker
	realm_init "$W/K" "$REALM" "$MASTER_PW" >/dev/null
	realm_init "$W/S" "$REALM" "$MASTER_PW" >/dev/null
	# the node's pushes take a ticket for host/HOST from its own realm's
	# KDC: its KDB starts as the primary's without the N principals
	awk -F'\t' 'NR == 1 || $1 == "princ" && $7 ~ /^(K\/M|krbtgt\/|kadmin\/|kiprop\/|host\/)/' \
		"$k/p.dump" >"$k/base.dump"
	(realm_env "$W/K" && kdb5_util -r "$REALM" load "$k/base.dump") >/dev/null
	realm_kdc_start "$W/K" >/dev/null
	echo "host/$HOST@$REALM" >"$W/K/kpropd.acl"
	echo "host/$HOST@$REALM" >"$W/S/kpropd.acl"
	S=$(realm_free_port)
	env KRB5_CONFIG="$W/S/krb5.conf" KRB5_KDC_PROFILE="$W/S/kdc.conf" KRB5RCACHEDIR="$W/S" \
		kpropd -D -P "$S" -s "$k/host.keytab" -r "$REALM" -f "$W/S/from_master" \
		-a "$W/S/kpropd.acl" -p /usr/sbin/kdb5_util >"$k/kpropd.log" 2>&1 &
	KPIDS+=($!)
	"$SRC/deploy/make-certs.sh" "$k/pki" kprop >/dev/null
	"$KDCSYNC" keygen -o "$k/pki/signing" >/dev/null
	L=$(realm_free_port)
	cat >"$W/kprop.conf" <<CONF
[node]
	name = kprop
	role = primary
	state_dir = $k/state
	kdc_profile = $W/K/kdc.conf
	listen = 127.0.0.1:$(realm_free_port)
	signing_key = $k/pki/signing.key
	scan_interval = 2s
	reconnect_min = 200ms
	reconnect_max = 2s
[tls]
	ca = $k/pki/ca.crt
	cert = $k/pki/kprop.crt
	key = $k/pki/kprop.key
[peers]
	stock = {
		address = $HOST:$S
		mode = kprop
	}
[kprop]
	keytab = FILE:$k/host.keytab
	listen = 127.0.0.1:$L
	acl_file = $W/K/kpropd.acl
	timeout = 3600s
	push_interval = 24h
CONF
	env KRB5_CONFIG="$W/K/krb5.conf" KRB5_KDC_PROFILE="$W/K/kdc.conf" KRB5RCACHEDIR="$W/K" \
		"$KDCSYNCD" -c "$W/kprop.conf" -f >"$k/node.log" 2>&1 &
	pid=$!
	KPIDS+=("$pid")
	wait_push 0 120 # the first push: the node's new, small KDB
	before=$(kprop_peer pushes)

	log "N = $N: kprop-in (stock kprop of $(stat -c %s "$k/p.dump") bytes into the node's listener)"
	phase_start kprop-in "kprop=$k/state/kdcsyncd.sock"
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG kprop -r "$REALM" -f "$k/p.dump" -P "$L" \
		-s "$k/host.keytab" "$HOST" >"$k/kprop.out" 2>&1 ||
		{ cat "$k/kprop.out" "$k/node.log" >&2; return 1; }
	phase_end ""

	log "N = $N: kprop-out (the node scans the loaded KDB and pushes it to a stock kpropd)"
	phase_start kprop-out "kprop=$k/state/kdcsyncd.sock"
	wait_push "$before" 3600
	phase_end "{\"push_ms\":$(kprop_peer last_duration_ms),\"push_bytes\":$(kprop_peer last_bytes)}"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	for pid in "${KPIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	KPIDS=()
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
	[ "$KPROP" = 0 ] || kprop_phases
	"$PAIR" down "$W/pair" >/dev/null
done

echo
printf '%-10s %-9s %-7s %8s | %-24s %8s %12s %6s\n' principals phase node secs "status ms p50/p99/max" first "loop busy/cpu" ">10ms"
for j in "${JSON[@]}"; do
	python3 - "$j" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
for n, x in d["nodes"].items():
    lat = "%s/%s/%s" % (x.get("p50_ms"), x.get("p99_ms"), x.get("max_ms"))
    loop = "%s/%s" % (x.get("loop_busy_max_ms", "-"), x.get("loop_cpu_max_ms", "-"))
    print("%-10s %-9s %-7s %8.2f | %-24s %8s %12s %6s" % (d["principals"], d["phase"], n, d["ms"] / 1000.0,
          lat, x.get("first_answer_ms"), loop, x.get("loop_over_10ms", "-")))
PY
done
echo "(secs: the phase, from the sampler's start; status: 'status json' on the control socket every ${SAMPLE_MS} ms, connect to end of answer;"
echo " first: ms from the phase's start until the node's first answer (negative: it answered before);"
echo " loop busy/cpu: the longest loop iteration the node measured during the phase, wall time / the loop thread's CPU time
 (busy includes waiting for a CPU on a loaded machine); >10ms: iterations over 10 ms (wall);"
echo " idle_timeout $IDLE_TIMEOUT; link resets by idle timeout are in the JSON)"
