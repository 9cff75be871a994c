#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kernel-level network faults between a primary and a replica in two network
# namespaces (faults_lib.sh): random loss both ways, a silent partition
# longer than idle_timeout, asymmetric loss, a link flapping every second,
# 200 ms +- 50 added delay (userspace relay), and the replica's KDB file
# system full (a tmpfs, where mounts are allowed).  For each: a writer makes
# changes on the primary with kadmin.local, the fault is injected, then
# removed; the replica must converge (applied the primary's last seq, equal
# sorted dumps) within 10 s of the removal.  Prints the recovery times.
# Skipped (exit 77) where namespaces cannot be made.
. "$(dirname "$0")/faults_lib.sh"

FAULT_SECS=${FAULT_SECS:-6}

# run_fault NAME INJECT REMOVE [SECONDS]
run_fault() {
	local name=$1 inject=$2 remove=$3 secs=${4:-$FAULT_SECS}
	mark
	writer_start "${name%% *}"
	sleep 1
	$inject
	sleep "$secs"
	$remove
	writer_stop
	converged_within 10 || fail "'$name': no convergence within 10 s of removing the fault"
	record "$name" "$RECOVERY"
}

loss_on() { fault_loss 20; }
asym_on() { fault_asym 50; }
delay_on() { echo "200 50" >"$T/delay"; }
delay_off() { echo "0 0" >"$T/delay"; }

run_fault "loss 20% both ways" loss_on fault_clear
# longer than idle_timeout (3 s): both ends must notice and redial
run_fault "partition both ways (6 s, silent)" fault_partition fault_clear 6
# both ends dropped the link on idle_timeout; once streaming again, neither
# status still shows that error
for role in primary replica; do
	other=replica
	[ $role = primary ] || other=primary
	st=$(status_of $role) || fail "no status from $role"
	for f in last_error repl/last_error; do
		e=$(json_get "$st" "peers/$other/$f") || e=null # (no link yet: no error)
		[ "$e" = null ] || fail "$role status still shows an error after recovery: $f: $e"
	done
done
run_fault "asymmetric loss 50% replica->primary" asym_on fault_clear
run_fault "link flapping every 1 s" fault_flap_start fault_flap_stop
run_fault "delay 200 ms +- 50 (relay)" delay_on delay_off
if [ "$KDBFS" = 1 ]; then
	kdbfull_check() {
		[[ "$(status_get "$T/replica.conf" kdb_full)" == "KDB filesystem full"* ]] ||
			fail "status does not say 'KDB filesystem full' during the fault"
		kdbfull_off
	}
	run_fault "replica KDB filesystem full" kdbfull_on kdbfull_check
else
	echo "(no private mount namespace: KDB-full fault not run)"
fi
grep -q . "$T/writer.err" 2>/dev/null && fail "kadmin.local failed: $(head -n 3 "$T/writer.err")"
print_results
node_stop replica
node_stop primary
for role in primary replica; do
	! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/$role.log" ||
		fail "$role: sanitizer report in its log"
done
echo "faults: ok"
