#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The nemesis: for a bounded time (NEMESIS_SECS, default 90, at most 120)
# random faults from faults_each.sh's set (KDB filesystem full included),
# mixed with SIGSTOP/SIGCONT and
# SIGKILL (then restart) of either node, while a writer makes changes on
# the primary.  The seed is printed (NEMESIS_SEED replays a run).  After the
# last fault is removed the replica must converge within 10 s.
# Skipped (exit 77) where namespaces cannot be made.
. "$(dirname "$0")/faults_lib.sh"

SECS=${NEMESIS_SECS:-90}
[ "$SECS" -le 120 ] || SECS=120
SEED=${NEMESIS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "nemesis: seed $SEED, $SECS s (replay: NEMESIS_SEED=$SEED)"
RANDOM=$((SEED % 32768))

delay_on() { echo "200 50" >"$T/delay"; }
delay_off() { echo "0 0" >"$T/delay"; }

mark
writer_start nemesis
deadline=$((SECONDS + SECS))
n=0
while [ $SECONDS -lt $deadline ]; do
	hold=$((1 + RANDOM % 5))
	# one fault, or a network fault and a process fault at once
	picks=($((RANDOM % 10)))
	if { [ "${picks[0]}" -lt 5 ] || [ "${picks[0]}" = 9 ]; } && [ $((RANDOM % 3)) -eq 0 ]; then
		picks+=($((5 + RANDOM % 4)))
	fi
	what=
	for pick in "${picks[@]}"; do
		case $pick in
		0) what+=" loss 30%"; fault_loss 30 ;;
		1) what+=" partition"; fault_partition ;;
		2) what+=" asymmetric loss 60%"; fault_asym 60 ;;
		3) what+=" flapping"; fault_flap_start ;;
		4) what+=" delay"; delay_on ;;
		5) what+=" SIGSTOP primary"; kill -STOP "${PIDS[primary]}" ;;
		6) what+=" SIGSTOP replica"; kill -STOP "${PIDS[replica]}" ;;
		7) what+=" SIGKILL primary"; node_stop primary KILL ;;
		8) what+=" SIGKILL replica"; node_stop replica KILL ;;
		9) what+=" KDB filesystem full"; kdbfull_on ;;
		esac
	done
	n=$((n + 1))
	echo "  $(date -u +%T)$what for $hold s"
	sleep "$hold"
	fault_clear
	fault_flap_stop
	delay_off
	kdbfull_off
	for role in primary replica; do
		if [ -n "${PIDS[$role]:-}" ]; then
			kill -CONT "${PIDS[$role]}"
		else
			node_start "$role"
		fi
	done
	sleep $((RANDOM % 3))
done
writer_stop
echo "nemesis: $n faults; last removed at $(date -u +%T)"
converged_within 10 || fail "no convergence within 10 s of the last fault (seed $SEED)"
record "nemesis ($n faults, seed $SEED)" "$RECOVERY"
grep -q . "$T/writer.err" 2>/dev/null && fail "kadmin.local failed: $(head -n 3 "$T/writer.err")"
print_results
node_stop replica
node_stop primary
for role in primary replica; do
	! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/$role.log" ||
		fail "$role: sanitizer report in its log"
done
echo "nemesis: ok"
