#!/bin/bash
# SPDX-License-Identifier: MIT
# Scale benchmark (issue 11): a realistic realm of N principals (each with
# its own random key bytes and a varied name, bench/gen_realm.py) on a
# loopback pair (deploy/pair.sh), stock tools side by side in the same run.
# Never asserts on time.
#
#   KS_BUILD_DIR=/path/to/release-build bench/scale_bench.sh [N...]
#       (default N = 100000 1000000; the build needs bench/as_loop)
#   Before/after a change: run it once per build, back to back, e.g.
#       for b in /tmp/before /tmp/after; do
#           KS_BUILD_DIR=$b IDLE_SECONDS=0 COPIES=2 bench/scale_bench.sh 100000 1000000
#       done
#   (a build without the transfer_phases log lines shows "-" for phases)
#   env: IDLE_SECONDS (default 60; 0 skips the idle-CPU measurement),
#        SAMPLE_MS (status-latency sampling interval, default 50),
#        IDLE_TIMEOUT (the nodes' [tls] idle_timeout, default 10s as in
#        deploy/pair.sh), COPY_TIMEOUT (seconds a copy may take before it
#        counts as failed, default 600), COPIES (measured full copies per
#        N, default 1: the table shows the fastest, the JSON each one),
#        STOCK=0 / SCAN=0 skip the stock cycle / the scan measurement
#        (quicker runs while working on the copy), PERF_DIR (record each
#        the machine during each copy with `perf record -g -a` into this
#        directory: all.N.I.data, and each node's pid in pids.N.I; read one
#        node with `perf report -i all.N.I.data --pid PID`), LOG_DIR (keep
#        both nodes' logs after each copy: primary.N.I.log, replica.N.I.log)
#
# For each N:
#   full copy   the replica's node is stopped, its state directory emptied
#               and the node started again (its KDB keeps the old copy and
#               keeps serving); time from the start until the replica
#               streams and has applied the primary's last seq (kdcsync
#               status --json, polled every 0.1 s); bytes the primary sent
#               to the replica meanwhile (status bytes_out); link resets
#               meanwhile (the primary's "idle timeout" log lines).
#   phases      where the copy's time went, from the nodes' transfer_phases
#               log lines: the primary's encode time (store reads, zstd,
#               signing: encode_ms, on its pool thread) and the replica's
#               worker time per phase: open (signature checks and
#               decompression), stage (store writes), load (side KDB
#               puts), seal (staged set finished), kdb (side KDB promoted
#               over the live one, with the merge of the lockout fields),
#               store (staged store switched in); total_ms is the
#               replica's wall time from the snapshot's start to installed.
#   cpu         CPU seconds (user + system) each kdcsyncd used during the
#               copy: the primary's increase, the replica's total since
#               its start (with the KDB check child it waited for);
#               JSON cpu_s
#   memory      peak RssAnon of each kdcsyncd during the copy (sampled
#               every 0.1 s from /proc/PID/status), and after it.
#   status      `kdcsync status --json`'s request ("status json") answered
#               on each node's control socket, sampled every SAMPLE_MS
#               during the copy and on the primary during a scan (`kdcsync
#               snapshot`): p50 / p99 / max from connect to end of answer.
#   AS probe    bench/as_loop: a whole kinit (password, pre-auth) for a
#               probe principal every 10 ms against the replica's KDC
#               during the copy; requests and failures.
#   idle CPU    the primary's kdcsyncd over IDLE_SECONDS at rest
#               (/proc/PID/stat utime + stime), percent of one core.
#   stock       the same dump loaded into a stock primary; kdb5_util dump +
#               kprop to a stock kpropd (which loads it with kdb5_util
#               load before it acknowledges); time, bytes (the dump), peak
#               RSS of kdb5_util dump; the same AS probe against the stock
#               replica's KDC.
# Prints a table and one JSON line per N.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
: "${KS_BUILD_DIR:?path to a (Release) build with bench/as_loop}"
export KS_BUILD_DIR
AS_LOOP=$KS_BUILD_DIR/bench/as_loop
[ -x "$AS_LOOP" ] || { echo "no $AS_LOOP: build the bench targets" >&2; exit 1; }
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
IDLE_SECONDS=${IDLE_SECONDS:-60}
SAMPLE_MS=${SAMPLE_MS:-50}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-10s}
COPY_TIMEOUT=${COPY_TIMEOUT:-600}
COPIES=${COPIES:-1}
STOCK=${STOCK:-1}
SCAN=${SCAN:-1}
PROBE_PW=probe-Pass-1
HOST=$(hostname)
# shellcheck source=bench_env.sh
. "$SRC/bench/bench_env.sh" scale
BG=()
cleanup() {
	local pid
	for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null || true; done
	bench_cleanup
}
trap cleanup EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }
log() { echo "== $*" >&2; }

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE.
pct() {
	[ -s "$1" ] || { echo "-"; return; }
	sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; printf "%.1f", a[i] }'
}


# json_field CONF EXPR: a value from `kdcsync status --json` (python EXPR on d)
status_field() {
	"$KDCSYNC" -c "$1" status --json |
		python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}


# lat_sampler STATE_DIR OUT: `status json` answer time on the node's
# control socket (ms, one per line; the request the CLI sends, without the
# CLI's process start-up) until OUT.stop; while the socket is absent or
# refuses (node restarting) nothing is recorded; a request that gets no
# whole answer is recorded with the time it failed after (10 s for a
# wedged loop), so a stall shows in the maximum instead of vanishing.
lat_sampler() {
	python3 - "$1/kdcsyncd.sock" "$2" "$SAMPLE_MS" "$SRC/tests/integration/lib" <<'PY'
import os, sys, time
path, out, every = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
import ks_status
with open(out, "w") as f:
    while not os.path.exists(out + ".stop"):
        t0 = time.monotonic()
        try:
            ms = ks_status.request(path, "status json")[0]
        except ks_status.Unreachable:
            ms = None
        except ks_status.NoAnswer as e:
            ms = e.ms
        if ms is not None:
            f.write("%.2f\n" % ms)
            f.flush()
        time.sleep(max(0, every / 1000 - (time.monotonic() - t0)))
PY
}

# cpu_ticks PID: utime + stime
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# as_start KRB5_CONFIG NAME: start as_loop; AS_PID, AS_OUT
as_start() {
	AS_OUT=$W/as.$RANDOM
	KRB5_CONFIG=$1 "$AS_LOOP" "$2@$REALM" "$PROBE_PW" 10 >"$AS_OUT" 2>&1 &
	AS_PID=$!
}
as_stop() { # sets AS_N AS_FAIL
	kill -TERM "$AS_PID" 2>/dev/null || true
	wait "$AS_PID" 2>/dev/null || true
	read -r AS_N AS_FAIL <<<"$(awk '/^requests/ { print $2, $4 }' "$AS_OUT")"
	grep '^fail' "$AS_OUT" | head -n 3 >&2 || true
}

# cpu_ticks PID: CPU time (user + system, with the children it waited for,
# e.g. the replica's KDB check) of a process so far, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)

# measure_copy I: one full copy into an empty replica state directory
# (the pair in $W/pair is up and in sync); sets copy_ms copy_ok resets
# copy_bytes rss_p rss_r after_p after_r as_n as_fail, PH_SUM (the phase
# summary for the table) and CJ (this copy's JSON object).
measure_copy() {
	log "N = $N: full copy $1 into an empty replica state directory"
	b0=$(status_field "$PRIMARY_NODE_CONF" '[p for p in d["peers"] if p["name"]=="replica"][0]["bytes_out"]')
	resets0=$(grep -c 'idle timeout' "$PRIMARY_DIR/node.log" || true)
	lp0=$(grep -c 'transfer_phases' "$PRIMARY_DIR/node.log" || true)
	rm -f "$W"/*.stop "$W/lat_p" "$W/lat_r"
	rss_sampler "$W/rss" &
	BG+=($!)
	lat_sampler "$PRIMARY_DIR/node" "$W/lat_p" &
	BG+=($!)
	as_start "$REPLICA_KRB5_CONFIG" probe1
	cpu_p0=$(cpu_ticks "$(node_pid primary)")
	"$SRC/deploy/pair.sh" node-stop "$W/pair" replica
	cp "$REPLICA_DIR/node.log" "$W/replica.log.$1" 2>/dev/null || true
	rm -rf "${REPLICA_DIR:?}/node/"*
	t0=$(now_ms)
	"$SRC/deploy/pair.sh" node-start "$W/pair" replica
	lat_sampler "$REPLICA_DIR/node" "$W/lat_r" &
	BG+=($!)
	PERF_PIDS=()
	if [ -n "${PERF_DIR:-}" ]; then
		mkdir -p "$PERF_DIR"
		# system-wide: `perf record -p` misses threads started later
		# (the replica's side-KDB writer); pid of each node in pids.N.I
		echo "primary $(node_pid primary) replica $(node_pid replica)" >"$PERF_DIR/pids.$N.$1"
		perf record -q -g -a -o "$PERF_DIR/all.$N.$1.data" 2>/dev/null &
		PERF_PIDS+=($!)
	fi
	copy_ok=true
	"$SRC/deploy/pair.sh" wait "$W/pair" "$COPY_TIMEOUT" 2>/dev/null || copy_ok=false
	copy_ms=$(($(now_ms) - t0))
	cpu_p=$(awk -v a="$cpu_p0" -v b="$(cpu_ticks "$(node_pid primary)")" -v t="$TICKS" 'BEGIN { printf "%.2f", (b - a) / t }')
	cpu_r=$(awk -v b="$(cpu_ticks "$(node_pid replica)")" -v t="$TICKS" 'BEGIN { printf "%.2f", b / t }')
	for pid in "${PERF_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
	resets=$(($(grep -c 'idle timeout' "$PRIMARY_DIR/node.log" || true) - resets0))
	as_stop
	as_n=$AS_N as_fail=$AS_FAIL
	touch "$W/rss.stop" "$W/lat_p.stop" "$W/lat_r.stop"
	wait "${BG[@]}" 2>/dev/null || true
	BG=()
	read -r rss_p rss_r <"$W/rss"
	b1=$(status_field "$PRIMARY_NODE_CONF" '[p for p in d["peers"] if p["name"]=="replica"][0]["bytes_out"]')
	copy_bytes=$((b1 - b0))
	sleep 1 # RssAnon after the copy, once the replica settled
	after_p=$(awk '/^RssAnon:/ { print $2 }' "/proc/$(node_pid primary)/status")
	after_r=$(awk '/^RssAnon:/ { print $2 }' "/proc/$(node_pid replica)/status")
	# phases: the replica's last transfer_phases line (node.log lives
	# beside the state dir), the primary's first one since this copy
	if [ -n "${LOG_DIR:-}" ]; then
		mkdir -p "$LOG_DIR"
		cp "$PRIMARY_DIR/node.log" "$LOG_DIR/primary.$N.$1.log"
		cp "$REPLICA_DIR/node.log" "$LOG_DIR/replica.$N.$1.log"
	fi
	PH_R=$(grep 'transfer_phases' "$REPLICA_DIR/node.log" | tail -n 1 || true)
	PH_P=$(grep 'transfer_phases' "$PRIMARY_DIR/node.log" | tail -n +$((lp0 + 1)) | head -n 1 || true)
	PH_JSON=$(printf '%s\n%s\n' "$PH_P" "$PH_R" | python3 -c '
import json, re, sys
out = {}
for line in sys.stdin:
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    if not kv:
        continue
    side = "primary" if kv.get("direction") == "send" else "replica"
    out[side] = {k: int(v) for k, v in kv.items() if v.isdigit()}
print(json.dumps(out, separators=(",", ":")))')
	PH_SUM=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1]); p = d.get("primary", {}); r = d.get("replica", {})
f = lambda x: "%.1f" % (x / 1000) if isinstance(x, int) else "-"
print("/".join(f(v) for v in (p.get("encode_ms"), r.get("open_ms"), r.get("stage_ms"), r.get("parse_ms"), r.get("wait_ms"), r.get("load_ms"), r.get("seal_ms"), r.get("kdb_ms"), r.get("store_ms"), r.get("total_ms"))) + "/" + sys.argv[2] + "/" + sys.argv[3])' "$PH_JSON" "$cpu_p" "$cpu_r")
	lp="$(pct "$W/lat_p" 50) $(pct "$W/lat_p" 99) $(pct "$W/lat_p" 100)"
	lr="$(pct "$W/lat_r" 50) $(pct "$W/lat_r" 99) $(pct "$W/lat_r" 100)"
	read -r lp50 lp99 lpmax <<<"$lp"
	read -r lr50 lr99 lrmax <<<"$lr"
	CJ=$(printf '{"full_copy_ms":%s,"full_copy_completed":%s,"idle_timeout_resets":%s,"wire_bytes":%s,"peak_rss_anon_kb":{"primary":%s,"replica":%s},"rss_anon_after_kb":{"primary":%s,"replica":%s},"status_ms_during_copy":{"primary":{"p50":"%s","p99":"%s","max":"%s","samples":%s},"replica":{"p50":"%s","p99":"%s","max":"%s","samples":%s}},"as_requests":%s,"as_failures":%s,"phases":%s,"cpu_s":{"primary":%s,"replica":%s}}' \
		"$copy_ms" "$copy_ok" "$resets" "$copy_bytes" "$rss_p" "$rss_r" "$after_p" "$after_r" \
		"$lp50" "$lp99" "$lpmax" "$(wc -l <"$W/lat_p")" "$lr50" "$lr99" "$lrmax" "$(wc -l <"$W/lat_r")" \
		"$as_n" "$as_fail" "$PH_JSON" "$cpu_p" "$cpu_r")
	# the status latency columns of the table: this copy's samples
	cp "$W/lat_p" "$W/lat_p.$1"
	cp "$W/lat_r" "$W/lat_r.$1"
}

RESULTS=()
JSON=()
for N in "${SIZES[@]}"; do
	rm -rf "$W/pair" "$W/tmpl" "$W/sp" "$W/sr" "$W/host.keytab" "$W"/*.dump "$W"/lat_* "$W"/as.*
	log "N = $N: template realm and generated dump"
	t0=$(now_ms)
	gen_realm_dump "$W/tmpl" "$N" "$W/gen.dump"
	gen_ms=$(($(now_ms) - t0))
	gen_bytes=$(stat -c %s "$W/gen.dump")

	log "N = $N: pair up (primary loads the dump, first full copy)"
	t0=$(now_ms)
	if ! PAIR_TIMEOUT=$COPY_TIMEOUT "$SRC/deploy/pair.sh" up "$W/pair" --load "$W/gen.dump" \
		--idle-timeout "$IDLE_TIMEOUT" >/dev/null 2>"$W/up.err"; then
		resets=$(grep -c 'idle timeout' "$W/pair/primary/node.log" || true)
		"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null 2>&1 || true
		echo "N = $N: the first copy did not complete in $COPY_TIMEOUT s ($resets link resets by idle timeout)" >&2
		RESULTS+=("$N fail:${resets}resets - - - - - - - - - - - - - - -")
		JSON+=("{\"bench\":\"scale\",\"principals\":$N,\"idle_timeout\":\"$IDLE_TIMEOUT\",\"kdcsync\":{\"first_copy\":\"not complete after $COPY_TIMEOUT s\",\"idle_timeout_resets\":$resets}}")
		echo "${JSON[-1]}"
		continue
	fi
	up_ms=$(($(now_ms) - t0))
	# shellcheck disable=SC1091
	. "$W/pair/env"
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "addprinc -pw $PROBE_PW probe1" >/dev/null 2>&1
	"$SRC/deploy/pair.sh" wait "$W/pair" 600
	printf '%s\n' "$PROBE_PW" | KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5CCNAME=FILE:$W/cc \
		kinit "probe1@$REALM" >/dev/null || { echo "probe1 cannot kinit at the replica" >&2; exit 1; }

	best_ms=
	COPY_JSON=()
	for c in $(seq 1 "$COPIES"); do
		measure_copy "$c"
		COPY_JSON+=("$CJ")
		if [ -z "$best_ms" ] || [ "$copy_ms" -lt "$best_ms" ]; then
			best_ms=$copy_ms
			best_i=$c
			best=("$copy_ms" "$copy_ok" "$resets" "$copy_bytes" "$rss_p" "$rss_r" "$after_p" "$after_r" "$as_n" "$as_fail" "$PH_SUM")
		fi
		sleep 1 # the primary's session line and the replica's ack
	done
	read -r copy_ms copy_ok resets copy_bytes rss_p rss_r after_p after_r as_n as_fail <<<"${best[*]:0:10}"
	ph_sum=${best[10]}
	cp "$W/lat_p.$best_i" "$W/lat_p"
	cp "$W/lat_r.$best_i" "$W/lat_r"

	scan_ms=0
	: >"$W/lat_s"
	if [ "$SCAN" != 0 ]; then
		log "N = $N: status latency during a scan"
		rm -f "$W/lat_s.stop"
		lat_sampler "$PRIMARY_DIR/node" "$W/lat_s" &
		BG+=($!)
		sleep 0.3
		t0=$(now_ms)
		"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null
		scan_ms=$(($(now_ms) - t0))
		sleep 0.3
		touch "$W/lat_s.stop"
		wait "${BG[@]}" 2>/dev/null || true
		BG=()
	fi

	idle_pct=-
	if [ "$IDLE_SECONDS" -gt 0 ]; then
		log "N = $N: primary idle CPU over $IDLE_SECONDS s"
		pid=$(node_pid primary)
		c0=$(cpu_ticks "$pid")
		sleep "$IDLE_SECONDS"
		c1=$(cpu_ticks "$pid")
		idle_pct=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.2f", 100 * d / hz / s }')
	fi
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null

	stock_ms=0 stock_bytes=0 stock_rss=0 s_as_n=0 s_as_fail=0
	if [ "$STOCK" != 0 ]; then
		log "N = $N: stock kdb5_util dump + kprop + kpropd load"
		realm_init "$W/sp" "$REALM" "$MASTER_PW"
		realm_init "$W/sr" "$REALM" "$MASTER_PW"
		kp=$(realm_free_port)
		(realm_env "$W/sp" &&
			kdb5_util -r "$REALM" load -update "$W/gen.dump" &&
			kadmin.local -r "$REALM" -q "addprinc -pw $PROBE_PW probe1" &&
			kadmin.local -r "$REALM" -q "addprinc -randkey host/$HOST" &&
			kadmin.local -r "$REALM" -q "ktadd -k $W/host.keytab host/$HOST") >/dev/null 2>&1
		echo "host/$HOST@$REALM" >"$W/sr/kpropd.acl"
		realm_kdc_start "$W/sp"
		realm_kdc_start "$W/sr"
		(realm_env "$W/sr" && exec kpropd -D -P "$kp" -s "$W/host.keytab" -r "$REALM" \
			-f "$W/sr/from_master" -a "$W/sr/kpropd.acl" -p /usr/sbin/kdb5_util \
			>"$W/kpropd.log" 2>&1) &
		BG+=($!)
		for i in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$kp") 2>/dev/null && break; sleep 0.05; done
		stock_cycle() {
			(realm_env "$W/sp" && /usr/bin/time -f %M -o "$W/dump.rss" kdb5_util -r "$REALM" dump "$W/p.dump" &&
				kprop -r "$REALM" -f "$W/p.dump" -P "$kp" -s "$W/host.keytab" "$HOST" >/dev/null)
		}
		stock_cycle # the stock replica holds the realm before the measured cycle
		as_start "$W/sr/krb5.conf" probe1
		t0=$(now_ms)
		stock_cycle
		stock_ms=$(($(now_ms) - t0))
		as_stop
		s_as_n=$AS_N s_as_fail=$AS_FAIL
		stock_bytes=$(stat -c %s "$W/p.dump")
		stock_rss=$(cat "$W/dump.rss")
		for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null || true; done
		wait "${BG[@]}" 2>/dev/null || true
		BG=()
		realm_cleanup
		# shellcheck disable=SC2034 # realm.sh: those are stopped
		REALM_KDC_PIDS=()
	fi
	lp="$(pct "$W/lat_p" 50) $(pct "$W/lat_p" 99) $(pct "$W/lat_p" 100)"
	lr="$(pct "$W/lat_r" 50) $(pct "$W/lat_r" 99) $(pct "$W/lat_r" 100)"
	ls="$(pct "$W/lat_s" 50) $(pct "$W/lat_s" 99) $(pct "$W/lat_s" 100)"
	read -r lp50 lp99 lpmax <<<"$lp"
	read -r lr50 lr99 lrmax <<<"$lr"
	read -r ls50 ls99 lsmax <<<"$ls"
	mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
	kbmb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
	sec() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }
	copy_s=$(sec "$copy_ms")
	$copy_ok || copy_s="fail>$COPY_TIMEOUT"
	[ "$resets" -gt 0 ] && copy_s="$copy_s(${resets}r)"
	RESULTS+=("$N $copy_s $(mb "$copy_bytes") $(kbmb "$rss_p") $(kbmb "$rss_r") $(kbmb "$after_p") $(kbmb "$after_r") $lp50/$lp99/$lpmax $lr50/$lr99/$lrmax $ls50/$ls99/$lsmax $(sec "$scan_ms") $as_fail/$as_n $idle_pct $(sec "$stock_ms") $(mb "$stock_bytes") $(kbmb "$stock_rss") $s_as_fail/$s_as_n $ph_sum")
	J=$(printf '{"bench":"scale","principals":%s,"dump_bytes":%s,"gen_ms":%s,"pair_up_ms":%s,"idle_timeout":"%s","kdcsync":{"full_copy_ms":%s,"full_copy_completed":%s,"idle_timeout_resets":%s,"wire_bytes":%s,"peak_rss_anon_kb":{"primary":%s,"replica":%s},"rss_anon_after_kb":{"primary":%s,"replica":%s},"status_ms_during_copy":{"primary":{"p50":"%s","p99":"%s","max":"%s","samples":%s},"replica":{"p50":"%s","p99":"%s","max":"%s","samples":%s}},"status_ms_during_scan":{"p50":"%s","p99":"%s","max":"%s","samples":%s},"scan_command_ms":%s,"as_requests":%s,"as_failures":%s,"primary_idle_cpu_pct":"%s","idle_seconds":%s},"copies":[%s],"stock_dump_kprop":{"cycle_ms":%s,"wire_bytes":%s,"dump_peak_rss_kb":%s,"as_requests":%s,"as_failures":%s}}' \
		"$N" "$gen_bytes" "$gen_ms" "$up_ms" "$IDLE_TIMEOUT" "$copy_ms" "$copy_ok" "$resets" "$copy_bytes" "$rss_p" "$rss_r" "$after_p" "$after_r" \
		"$lp50" "$lp99" "$lpmax" "$(wc -l <"$W/lat_p")" "$lr50" "$lr99" "$lrmax" "$(wc -l <"$W/lat_r")" \
		"$ls50" "$ls99" "$lsmax" "$(wc -l <"$W/lat_s")" "$scan_ms" "$as_n" "$as_fail" "$idle_pct" "$IDLE_SECONDS" \
		"$(IFS=,; echo "${COPY_JSON[*]}")" "$stock_ms" "$stock_bytes" "$stock_rss" "$s_as_n" "$s_as_fail")
	JSON+=("$J")
	echo "$J"
done

echo
printf '%-9s | %-58s | %-30s | %-26s | %-8s | %-30s\n' "" "kdcsync full copy (empty replica state dir)" "kdcsync status ms p50/p99/max" "during a scan" "primary" "stock dump+kprop+load"
printf '%-9s | %7s %7s %8s %8s %8s %8s %6s | %14s %15s | %18s %7s | %8s | %7s %7s %7s %6s\n' \
	principals copy_s wire_MB pk_P_MB pk_R_MB aft_P_MB aft_R_MB AS_f/n primary replica primary scan_s idle_%cpu cycle_s wire_MB dumpRSS AS_f/n
for r in "${RESULTS[@]}"; do
	read -r n a b c d e f g h i j k l m o p q _ <<<"$r"
	printf '%-9s | %7s %7s %8s %8s %8s %8s %6s | %14s %15s | %18s %7s | %8s | %7s %7s %7s %6s\n' "$n" "$a" "$b" "$c" "$d" "$e" "$f" "$k" "$g" "$h" "$i" "$j" "$l" "$m" "$o" "$p" "$q"
done
echo
echo "full copy phases, seconds (primary: encode on its pool thread; replica: worker time per phase,"
echo " load on the side-KDB writer thread, total = the replica's snapshot start to installed)"
printf '%-9s | %7s | %7s %7s %7s %7s %7s %7s %7s %7s %7s | %6s %6s\n' principals encode open stage parse wait load seal kdb store total cpu_P cpu_R
for r in "${RESULTS[@]}"; do
	read -r n _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ ph <<<"$r"
	IFS=/ read -r e o st pa wa ld se kd sto tot cp cr <<<"$ph"
	printf '%-9s | %7s | %7s %7s %7s %7s %7s %7s %7s %7s %7s | %6s %6s\n' "$n" "$e" "$o" "$st" "$pa" "$wa" "$ld" "$se" "$kd" "$sto" "$tot" "$cp" "$cr"
done
echo "(idle_timeout $IDLE_TIMEOUT; copy_s: seconds, '(Nr)' = N link resets by idle timeout meanwhile;"
echo " pk_*: peak RssAnon during the copy; aft_*: RssAnon after it; AS_f/n: failed/total AS requests"
echo " (kinit with password every 10 ms) at the replica's KDC during the copy; status: control-socket"
echo " answer time of 'status json'; stock dumpRSS: peak RSS (MB) of kdb5_util dump;"
echo " with COPIES > 1 the fastest copy is shown, every copy is in the JSON;"
echo " cpu_P, cpu_R: CPU seconds (user + system) during the copy of the primary's kdcsyncd and of the"
echo " replica's (from its start, with its KDB check child): a measure that a busy machine disturbs less)"
