#!/bin/bash
# SPDX-License-Identifier: MIT
# Synchronous mode ([node] synchronous = 1, sync_timeout = 2s; pair.sh
# --sync) on a loopback pair with real KDBs, the real KDB module and
# kadmin.local:
# (a) each of 20 writes is on the replica's KDB when kadmin.local returns;
# (b) with the only replica's node stopped (SIGSTOP) a write waits about
#     sync_timeout, status says degraded, the next write does not wait;
#     after SIGCONT the replica catches up and status says sync again, and
#     writes wait for it again; a reload turns it off and on;
# (c) 20 acknowledged writes, the primary's node killed (-9) at once, the
#     replica promoted: all 20 are in its KDB's dump;
# (d) no node running (stopped, or killed with its socket left behind): a
#     write returns at once.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

now_ms() { date +%s%3N; }
# kq primary|replica QUERY: kadmin.local on that host's KDB
kq() {
	local c k
	if [ "$1" = replica ]; then
		c=$REPLICA_KRB5_CONFIG k=$REPLICA_KDC_PROFILE
	else
		c=$PRIMARY_KRB5_CONFIG k=$PRIMARY_KDC_PROFILE
	fi
	KRB5_CONFIG=$c KRB5_KDC_PROFILE=$k kadmin.local -r "$REALM" -q "$2" >>"$T/kadmin.out" 2>&1 ||
		fail "kadmin.local on $1: $2"
}
# timed HOST QUERY: kadmin.local, its wall time in ms in $took
timed() {
	local t0
	t0=$(now_ms)
	kq "$1" "$2"
	took=$(($(now_ms) - t0))
}
# wait_state HOST STATE [SECONDS]: status --json sync/state
wait_state() {
	local deadline=$((SECONDS + ${3:-30})) s
	while :; do
		s=$(status_field "$1" sync/state || true)
		[ "$s" = "$2" ] && return 0
		[ $SECONDS -lt $deadline ] || fail "$1: sync state '$s', not '$2'"
		sleep 0.1
	done
}
# metric SERIES VALUE: the primary's `kdcsync metrics` has that line
metric() {
	local m
	m=$("$KDCSYNC" -c "$PRIMARY_NODE_CONF" metrics) || return 1
	grep -qx "$1 $2" <<<"$m"
}
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$P/pids"; }

pair_up -n 20 --sync
grep -q "^	synchronous = 1$" "$PRIMARY_NODE_CONF" || fail "pair.sh --sync: no synchronous on the primary"
grep -q "^	sync_timeout = 2s$" "$REPLICA_NODE_CONF" || fail "pair.sh --sync: no sync_timeout on the replica"
[ "$(status_field primary sync/wanted)" = 1 ] || fail "sync/wanted is not 1"
[ "$(status_field primary sync/timeout_ms)" = 2000 ] || fail "sync/timeout_ms is not 2000"
wait_state primary sync
[ -f "$P/primary/node/capture.sock.sync" ] || fail "no synchronous marker next to the capture socket"
[ ! -e "$P/replica/node/capture.sock.sync" ] || fail "a replica has a synchronous marker"

# (a) Every write is on the replica when kadmin.local returns.
for i in $(seq 1 20); do
	kq primary "addprinc -pw Sync-pass-$i sa$i"
	replica_has "sa$i" || fail "sa$i was not on the replica when kadmin.local returned"
done
acked=$(status_field primary sync/acked)
[ "$acked" -ge 20 ] || fail "sync/acked is $acked, not >= 20"
[ "$(status_field primary sync/timeouts)" = 0 ] || fail "a write timed out with the replica running"
st=$("$KDCSYNC" -c "$PRIMARY_NODE_CONF" status)
grep -q "^sync: *sync: writes wait for 1 replica" <<<"$st" || fail "status text has no sync line"
metric kdcsync_sync_degraded 0 || fail "metrics: kdcsync_sync_degraded not 0"
echo "a: 20 writes, each on the replica when kadmin.local returned ($acked acked)"

# (b) The only replica stops: a write waits about sync_timeout, then the
# node degrades and writes no longer wait.
rpid=$(pid_of node-replica)
[ -n "$rpid" ] || fail "no replica node pid"
kill -STOP "$rpid"
timed primary "addprinc -pw Sync-pass-b1 sb1"
echo "b: write with the replica stopped took $took ms"
if [ "$took" -lt 1500 ] || [ "$took" -ge 10000 ]; then
	kill -CONT "$rpid"
	fail "write with the replica stopped took $took ms (want about 2000)"
fi
[ "$(status_field primary sync/state)" = degraded ] || { kill -CONT "$rpid"; fail "status is not degraded"; }
grep -q "synchronous mode degraded" "$P/primary/node.log" || { kill -CONT "$rpid"; fail "no log line on degrading"; }
metric kdcsync_sync_degraded 1 || { kill -CONT "$rpid"; fail "metrics: not degraded"; }
timed primary "addprinc -pw Sync-pass-b2 sb2"
echo "b: write while degraded took $took ms"
[ "$took" -lt 1500 ] || { kill -CONT "$rpid"; fail "a write while degraded waited $took ms"; }
kill -CONT "$rpid"
wait_state primary sync 60
grep -q "synchronous mode restored" "$P/primary/node.log" || fail "no log line on restoring"
replica_has sb2 || fail "sb2 not on the replica after it caught up"
kq primary "addprinc -pw Sync-pass-b3 sb3"
replica_has sb3 || fail "sb3 was not on the replica when kadmin.local returned (after restore)"
[ "$(status_field primary sync/degradations)" = 1 ] || fail "sync/degradations is not 1"
echo "b: degraded while the replica was stopped, synchronous again after it caught up"

# A reload (SIGHUP) turns synchronous mode off and on without a restart.
ppid=$(pid_of node-primary)
sed -i 's/^\tsynchronous = 1$/\tsynchronous = 0/' "$PRIMARY_NODE_CONF"
kill -HUP "$ppid"
wait_state primary off
[ ! -e "$P/primary/node/capture.sock.sync" ] || fail "marker left after synchronous = 0"
sed -i 's/^\tsynchronous = 0$/\tsynchronous = 1/' "$PRIMARY_NODE_CONF"
kill -HUP "$ppid"
wait_state primary sync
[ -f "$P/primary/node/capture.sock.sync" ] || fail "no marker after synchronous = 1 again"
echo "reload: synchronous off and on again without a restart"

# (c) The primary's node dies right after 20 acknowledged writes; the
# promoted replica has all 20.
for i in $(seq 1 20); do
	kq primary "addprinc -pw Sync-pass-c$i sc$i"
done
"$PAIR" node-stop "$P" primary KILL
"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >"$T/out" 2>"$T/err" ||
	fail "promote failed: $(cat "$T/err")"
dump_of replica "$T/r.dump"
for i in $(seq 1 20); do
	[ -n "$(field_of "$T/r.dump" "sc$i" 7)" ] || fail "sc$i is not in the promoted replica's dump"
done
wait_state replica sync
echo "c: all 20 acknowledged writes in the promoted replica's dump"

# (d) No node: writes return at once.  The killed primary's node left its
# socket and marker behind; the promoted replica's node is stopped.
[ -e "$P/primary/node/capture.sock.sync" ] || fail "the killed node's marker is gone (test premise)"
timed primary "addprinc -pw Sync-pass-d1 sd1"
echo "d: write with a killed node took $took ms"
[ "$took" -lt 1500 ] || fail "a write with no node running waited $took ms"
"$PAIR" node-stop "$P" replica
[ ! -e "$P/replica/node/capture.sock.sync" ] || fail "a stopped node left its marker"
timed replica "addprinc -pw Sync-pass-d2 sd2"
echo "d: write with a stopped node took $took ms"
[ "$took" -lt 1500 ] || fail "a write with no node running waited $took ms"
echo "OK"
