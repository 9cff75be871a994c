#!/bin/bash
# SPDX-License-Identifier: MIT
# A three-node cascade (PROTOCOL.md §3.13) with real KDCs: pair.sh up
# --chain makes primary -> replica -> third, the replica relaying the
# primary's signed batches unchanged (that a batch the middle node changed
# is rejected by the end replica is proved by tests/unit/repl/test_relay.c
# on the same relay and verify path).
# 1. both directions in the middle's status (JSON, text, metrics);
# 2. kadmin changes on the primary reach the third KDC: kinit of a new
#    password principal there works, sorted dumps of all three are equal,
#    and the third received them as relayed batches (no new full copy);
# 3. the middle node restarts (a change made meanwhile): both of its
#    links resume incrementally;
# 4. the primary's node is lost and the middle is promoted: the third goes
#    on incrementally from its new primary (the middle), a change on the
#    middle's KDB reaches it;
# 5. the old primary returns and follows the middle; then the third
#    follows the old primary (now a relay) incrementally; all three equal.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

# kadmin.local on a host's KDB, one query each.
kq() {
	local host=$1 q
	shift
	host_conf "$host"
	for q in "$@"; do
		KRB5_CONFIG=$HOST_C KRB5_KDC_PROFILE=$HOST_K \
			kadmin.local -r "$REALM" -q "$q" >>"$T/kadmin.out" 2>&1 ||
			fail "kadmin.local on $host: $q"
	done
}
has() { # has HOST NAME: the host's KDB holds principal NAME
	host_conf "$1"
	KRB5_CONFIG=$HOST_C KRB5_KDC_PROFILE=$HOST_K kadmin.local -r "$REALM" \
		-q "getprinc $2" 2>&1 | grep -q "^Principal: $2@"
}
# wait_has HOST NAME: the principal reaches the host's KDB
wait_has() {
	local deadline=$((SECONDS + 30))
	until has "$1" "$2"; do
		[ $SECONDS -lt $deadline ] || fail "$2 did not reach $1"
		sleep 0.1
	done
}
tf() { status_field "$@" || fail "no $* in the status"; }

pair_up --chain -n 200
[ -n "${THIRD_KRB5_CONFIG:-}" ] && [ -n "${THIRD_KDC_PROFILE:-}" ] &&
	[ -n "${THIRD_KDC_PORT:-}" ] && [ -n "${THIRD_NODE_CONF:-}" ] &&
	[ -n "${THIRD_NODE_PORT:-}" ] && [ -n "${THIRD_METRICS_URL:-}" ] ||
	fail "pair.sh --chain env lacks THIRD_* variables: $(cat "$P/env")"

# 1. Both directions, seen from the middle and from the end.
[ "$(tf replica role)" = replica ] || fail "middle not a replica"
[ "$(tf replica upstream)" = primary ] || fail "middle's upstream is not the primary"
[ "$(tf replica downstream)" = '["third"]' ] || fail "middle's downstream: $(tf replica downstream)"
[ "$(tf replica relay)" = true ] || fail "middle does not say it relays"
[ "$(tf replica peers/primary/repl/link_role)" = upstream ] || fail "link_role of primary"
[ "$(tf replica peers/third/repl/link_role)" = downstream ] || fail "link_role of third"
[ "$(tf replica peers/third/repl/relayed)" = true ] || fail "third not relayed"
[ "$(tf replica peers/third/repl/state)" = stream ] || fail "third link not streaming"
[ "$(tf third upstream)" = replica ] || fail "third's upstream is not the replica"
[ "$(tf third peers/replica/repl/link_role)" = upstream ] || fail "third: link_role"
[ "$(tf third relay)" = false ] || fail "third says it relays"
[ "$(tf primary upstream)" = null ] || fail "the primary has an upstream"
[ "$(tf primary peers/replica/repl/link_role)" = downstream ] || fail "primary: link_role"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status >"$T/mid.txt"
grep -q "^upstream:  primary" "$T/mid.txt" || fail "status text: no upstream line"
grep -q "^  third (native, downstream, relayed)" "$T/mid.txt" || fail "status text: third not shown as relayed downstream"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" metrics >"$T/mid.prom"
grep -q '^kdcsync_peer_link_role{peer="third",link_role="downstream"} 1$' "$T/mid.prom" ||
	fail "metrics: no downstream link_role for third"
grep -q '^kdcsync_peer_link_role{peer="primary",link_role="upstream"} 1$' "$T/mid.prom" ||
	fail "metrics: no upstream link_role for the primary"
grep -q '^kdcsync_peer_relayed{peer="third"} 1$' "$T/mid.prom" || fail "metrics: kdcsync_peer_relayed"
full0=$(tf third peers/replica/repl/full_transfers)
echo "1: status shows upstream primary, downstream third (relayed)"

# 2. kadmin on the primary reaches the third KDC through the relay.
pkq "addpol -minlength 6 chainpol" "addprinc -pw Chain-pass-1 -policy chainpol chain1" \
	"addprinc -randkey chain2" "modprinc -maxlife 2h chain2" "delprinc -force user00007"
"$PAIR" wait "$P" 60 || fail "chain not in sync"
kinit_at third chain1 Chain-pass-1 || fail "kinit chain1 at the third KDC"
wait_equal 60 "" primary replica third
[ "$(tf third peers/replica/repl/batches)" -ge 1 ] || fail "the third applied no relayed batch"
[ "$(tf third peers/replica/repl/full_transfers)" = "$full0" ] || fail "the third took another full copy"
[ "$(tf third applied_history)" = "$(tf primary history)" ] ||
	fail "the third is not on the primary's history (relayed position)"
[ "$(tf replica peers/third/repl/lag_changes)" = 0 ] || fail "middle's lag of third not 0"
echo "2: changes reached the third KDC; kinit there works; three dumps equal"

# 3. The middle restarts; a change made meanwhile; both links resume.
"$PAIR" node-stop "$P" replica
pkq "addprinc -pw Chain-pass-3 chain3"
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "chain not in sync after the middle's restart"
wait_has third chain3
[ "$(tf replica peers/primary/repl/full_transfers)" = 0 ] || fail "middle took a full copy after restart"
[ "$(tf replica peers/third/repl/full_transfers)" = 0 ] || fail "middle sent third a full copy after restart"
[ "$(tf replica peers/third/repl/incremental_sessions)" -ge 1 ] || fail "third did not resume incrementally"
[ "$(tf third peers/replica/repl/full_transfers)" = "$full0" ] || fail "third took a full copy"
kinit_at third chain3 Chain-pass-3 || fail "kinit chain3 at the third KDC"
wait_equal 60 "" primary replica third
echo "3: the middle restarted; both links resumed incrementally"

# 4. The primary's node is lost; the middle is promoted.
"$PAIR" node-stop "$P" primary KILL
"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >"$T/promote.out" 2>&1 ||
	fail "promote of the middle: $(cat "$T/promote.out")"
kq replica "addprinc -pw Chain-pass-4 chain4"
wait_has third chain4
[ "$(tf replica role)" = primary ] || fail "middle not primary after promote"
[ "$(tf third peers/replica/repl/full_transfers)" = "$full0" ] || fail "third took a full copy after the promote"
[ "$(tf third applied_history)" = "$(tf replica history)" ] || fail "third not on the new history"
[ "$(tf replica peers/third/repl/relayed)" = false ] || fail "middle still relays after its promote"
kinit_at third chain4 Chain-pass-4 || fail "kinit chain4 at the third KDC"
echo "4: middle promoted; the third went on incrementally"

# 5. The old primary returns and follows the middle; the third follows
#    the old primary (a relay now) instead.
"$PAIR" node-start "$P" primary
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" follow replica >"$T/follow.out" 2>&1 ||
	fail "follow: $(cat "$T/follow.out")"
"$PAIR" wait "$P" 60 || fail "old primary did not catch up"
"$KDCSYNC" -c "$THIRD_NODE_CONF" follow primary >"$T/follow3.out" 2>&1 ||
	fail "third follow primary: $(cat "$T/follow3.out")"
kq replica "addprinc -pw Chain-pass-5 chain5"
wait_has third chain5
[ "$(tf third upstream)" = primary ] || fail "third does not follow the old primary"
[ "$(tf primary peers/third/repl/relayed)" = true ] || fail "old primary does not relay to third"
[ "$(tf primary relay)" = true ] || fail "old primary does not say it relays"
[ "$(tf third peers/primary/repl/full_transfers)" = 0 ] || fail "third took a full copy from the relay"
"$PAIR" wait "$P" 60 || fail "chain not in sync at the end"
wait_equal 60 "" primary replica third
echo "5: old primary follows; the third follows it incrementally; three equal"
