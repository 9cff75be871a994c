#!/bin/bash
# SPDX-License-Identifier: MIT
# Synchronous mode ([node] synchronous = 1, sync_timeout = 2s; pair.sh
# --sync) through the write paths other than kadmin.local (repl_sync.sh
# covers that one), with real programs against the primary:
# (a) remote kadmin through a running kadmind: each write is on the
#     replica's KDB when kadmin returns;
# (b) kpasswd through kadmind: the replica's KDC takes the new password
#     when kpasswd returns;
# (c) kdb5_util load (a whole database) returns once the replica has it;
# (d) with the only replica's node stopped (SIGSTOP), a remote kadmin write
#     waits about sync_timeout and the node degrades; after SIGCONT it is
#     synchronous again and remote writes wait for the replica again.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"
. "$KS_SOURCE_DIR/tests/integration/lib/kadmind.sh"
TEST_EXIT_HOOKS+=(kadmind_stop)

now_ms() { date +%s%3N; }
wait_state() { # wait_state STATE: the primary's status --json sync/state
	local deadline=$((SECONDS + 30)) s
	while :; do
		s=$(status_field primary sync/state || true)
		[ "$s" = "$1" ] && return 0
		[ $SECONDS -lt $deadline ] || fail "sync state '$s', not '$1'"
		sleep 0.1
	done
}
rk() { # one remote kadmin query, $took its wall time in ms
	local t0
	t0=$(now_ms)
	rkadmin "$T/cc.admin" Admin-pass-1 "$1" >>"$T/rkadmin.out" 2>&1 || fail "kadmin -q $1"
	took=$(($(now_ms) - t0))
	if tail -n 2 "$T/rkadmin.out" | grep -qiE 'error|while|usage|unable|invalid'; then
		tail -n 2 "$T/rkadmin.out" >&2
		fail "kadmin reported an error: $1"
	fi
}

pair_up -n 20 --sync
kadmind_start "$T" Admin-pass-1 || { cat "$T/kadmind.out" >&2; fail "kadmind did not start"; }
"$PAIR" wait "$P" 60 || fail "replica not in sync after kadmind's admin principal"
wait_state sync

# (a) remote kadmin
for i in $(seq 1 10); do
	rk "addprinc -pw Remote-pass-$i rs$i"
	replica_has "rs$i" || fail "rs$i was not on the replica when kadmin returned"
done
rk "modprinc -maxlife 3h rs1"
KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
	kadmin.local -r "$REALM" -q "getprinc rs1" 2>&1 | grep -q "^Maximum ticket life: 0 days 03:00:00" ||
	fail "modprinc through kadmind was not on the replica when kadmin returned"
[ "$(status_field primary sync/timeouts)" = 0 ] || fail "a remote write timed out with the replica running"
echo "a: remote kadmin writes were on the replica when kadmin returned"

# (b) kpasswd
rk "addprinc -pw Kp-pass-1 kp1"
printf 'Kp-pass-1\nKp-pass-2\nKp-pass-2\n' |
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5CCNAME=FILE:$T/cc.kp kpasswd "kp1@$REALM" >>"$T/kpasswd.out" 2>&1 ||
	{ cat "$T/kpasswd.out" >&2; fail "kpasswd"; }
kinit_at replica kp1 Kp-pass-2 || fail "the replica's KDC did not take the kpasswd password when kpasswd returned"
echo "b: kpasswd's new password worked at the replica's KDC when kpasswd returned"

# (c) kdb5_util load of a whole database (with one principal more)
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kdb5_util -r "$REALM" dump "$T/full.dump" || fail "dump"
awk -F'\t' -v OFS='\t' -v realm="$REALM" '
	{ print }
	$1 == "princ" && $7 == "rs2@" realm { $7 = "loaded1@" realm; $3 = length($7); print }' \
	"$T/full.dump" >"$T/more.dump"
grep -q "loaded1@" "$T/more.dump" || fail "no loaded1 line in the dump to load"
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kdb5_util -r "$REALM" load "$T/more.dump" || fail "kdb5_util load"
replica_has loaded1 || fail "the loaded principal was not on the replica when kdb5_util load returned"
echo "c: kdb5_util load returned with its principal on the replica"

# (d) the only replica stopped: a remote write waits about sync_timeout
rpid=$(awk '$1 == "node-replica" { print $2 }' "$P/pids")
[ -n "$rpid" ] || fail "no replica node pid"
kill -STOP "$rpid"
rk "addprinc -randkey stopped1"
waited=$took
[ "$took" -ge 1500 ] || fail "a remote write with the replica stopped returned after $took ms (sync_timeout 2 s)"
[ "$took" -lt 10000 ] || fail "a remote write waited $took ms"
wait_state degraded
rk "addprinc -randkey stopped2"
[ "$took" -lt 1500 ] || fail "a degraded node still made a remote write wait ($took ms)"
kill -CONT "$rpid"
wait_state sync
rk "addprinc -randkey again1"
replica_has again1 || fail "after SIGCONT a remote write was not on the replica when kadmin returned"
echo "d: replica stopped: a remote write waited $waited ms; degraded, then synchronous again"
converge 60
