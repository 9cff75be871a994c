#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 6: the replica killed with SIGKILL in the middle of a full
# snapshot, and in the middle of a stream of batches: after a restart it
# converges with nothing lost and nothing duplicated (dumps equal, store
# record count equal to the KDB's).
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up -n 20000
check_store() { # the replica's store holds exactly the KDB's records
	local n_store n_kdb
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" dump -o "$T/s.dump" >/dev/null
	n_store=$(tail -n +2 "$T/s.dump" | wc -l)
	n_kdb=$(wc -l <"$T/r.dump")
	[ "$n_store" = "$n_kdb" ] || fail "store holds $n_store records, KDB $n_kdb"
	[ "$(tail -n +2 "$T/s.dump" | cut -f1-7 | sort | uniq -d | wc -l)" = 0 ] || fail "duplicates"
}

# a) SIGKILL during a full snapshot (the replica lost its store: it needs
#    one); its KDC keeps the old database meanwhile
killed_mid=0
"$PAIR" node-stop "$P" replica
for attempt in 1 2 3; do
	rm -rf "$REPLICA_DIR/node/store"
	pkq "addprinc -pw Crash-pass-$attempt c$attempt"
	: >"$REPLICA_DIR/node.log"
	# (in the background: node-start waits for the control socket, which
	# answers only between snapshot chunks)
	"$PAIR" node-start "$P" replica >/dev/null 2>&1 &
	spid=$!
	for i in $(seq 1 400); do
		grep -q 'receiving a full snapshot' "$REPLICA_DIR/node.log" && break
		sleep 0.01
	done
	case $attempt in 2) sleep 0.05 ;; 3) sleep 0.2 ;; esac
	"$PAIR" node-stop "$P" replica KILL
	wait $spid || true
	if ! grep -q 'snapshot installed' "$REPLICA_DIR/node.log"; then
		killed_mid=1
		break
	fi
done
[ $killed_mid = 1 ] || fail "could not kill the replica during a snapshot"
echo "a: replica killed during a full snapshot (attempt $attempt)"
"$PAIR" node-start "$P" replica
converge 90
check_store
kinit_at replica "c$attempt" "Crash-pass-$attempt" || fail "kinit after the snapshot crash"

# b) SIGKILL while batches stream: 3,000 changes in one kadmin.local run
for i in $(seq 1 3000); do
	printf 'modprinc -maxlife "%d minutes" user%05d\n' $((i % 500 + 60)) "$i"
done >"$T/burst.txt"
: >"$REPLICA_DIR/node.log"
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kadmin.local -r "$REALM" <"$T/burst.txt" >"$T/burst.out" 2>&1 &
kpid=$!
for i in $(seq 1 1000); do
	[ "$(grep -c 'applied batch' "$REPLICA_DIR/node.log" || true)" -ge 20 ] && break
	sleep 0.01
done
"$PAIR" node-stop "$P" replica KILL
n=$(grep -c 'applied batch' "$REPLICA_DIR/node.log" || true)
echo "b: replica killed after $n batches of the burst"
wait $kpid || fail "kadmin.local burst failed"
"$PAIR" node-start "$P" replica
converge 90
check_store
grep -q 'resuming incrementally\|: incremental (' "$PRIMARY_DIR/node.log" || fail "no incremental resume"
echo "PASS: SIGKILL during a snapshot and during batches: converged, nothing lost or duplicated"
