#!/bin/bash
# SPDX-License-Identifier: MIT
# Fail-over on a loopback pair (DESIGN.md §2, §4), both directions:
# 1. the primary's node stops; `kdcsync promote` on the running replica
#    makes it the primary at once (new history remembering the old one; it
#    captures a kadmin.local change on its own KDB and serves replicas on
#    its listen address; no restart, no config edit); refusals on a
#    primary and on a second promote;
# 2. the old primary comes back (as configured: a primary) and
#    `kdcsync follow replica` makes it a replica of the new primary at
#    once: it resumes incrementally (no full copy) and gets the change;
#    both keep their roles across restarts (status role_source);
# 3. the other way round, with changes the follower made after the fork:
#    it rewinds to the fork point (no full copy); its records of those
#    changes are in diverged-HISTORY-SEQ.dump (0600) and gone from its
#    KDB; both KDBs are then equal.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

# kadmin.local on a host's KDB (primary|replica), one query.
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
has() { # has primary|replica NAME: the host's KDB holds NAME
	local c k
	if [ "$1" = replica ]; then
		c=$REPLICA_KRB5_CONFIG k=$REPLICA_KDC_PROFILE
	else
		c=$PRIMARY_KRB5_CONFIG k=$PRIMARY_KDC_PROFILE
	fi
	KRB5_CONFIG=$c KRB5_KDC_PROFILE=$k kadmin.local -r "$REALM" -q "getprinc $2" 2>&1 |
		grep -q "^Principal: $2@"
}
# wait_seq_above HOST N: the host's node logged past seq N (capture).
wait_seq_above() {
	local deadline=$((SECONDS + 20)) s
	while :; do
		s=$(status_field "$1" last_seq) || s=
		[ "${s:-0}" -gt "$2" ] && return 0
		[ $SECONDS -lt $deadline ] || fail "$1 did not capture past seq $2 (at ${s:-?})"
		sleep 0.1
	done
}

pair_up -n 300
pkq "addprinc -pw Promote-pass-1 pr1"
converge 60
old=$(status_field primary history) || fail "no history in the primary's status"
[ "$(status_field primary role_source)" = config ] || fail "role_source not config"

# Refused on a primary, with the reason.
if "$KDCSYNC" -c "$PRIMARY_NODE_CONF" promote >"$T/out" 2>"$T/err"; then
	fail "promote succeeded on the primary"
fi
grep -q "already the primary" "$T/err" || fail "no reason given on the primary: $(cat "$T/err")"

# 1. The primary's node is lost; the replica is promoted while running.
"$PAIR" node-stop "$P" primary KILL
rs=$(status_json replica)
[ "$(json_get "$rs" applied_history)" = "$old" ] || fail "replica not on the primary's history"
at=$(json_get "$rs" applied_seq) || fail "no applied_seq in the replica's status"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >"$T/out" 2>"$T/err" ||
	fail "promote failed: $(cat "$T/err")"
cat "$T/out"
grep -q "^promoted: new history" "$T/out" || fail "promote printed no new history"
grep -q "continues history $old up to seq $at" "$T/out" || fail "promote did not name the old history and seq"
grep -q "serving replicas on 127.0.0.1:$REPLICA_NODE_PORT" "$T/out" || fail "promote did not name the listen address"
rs=$(status_json replica)
new=$(json_get "$rs" history) || fail "no history after promote"
[ "$new" != "$old" ] || fail "no new history after promote"
[ "$(json_get "$rs" role)" = primary ] || fail "promoted node does not run as primary"
[ "$(json_get "$rs" role_source)" = promote ] || fail "role_source is not promote"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status | grep -q "^role: *primary (by kdcsync promote)" ||
	fail "status text does not show the promotion"
if "$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null 2>"$T/err"; then
	fail "second promote succeeded"
fi
grep -q "already the primary" "$T/err" || fail "second promote: $(cat "$T/err")"
# It captures its own KDB's changes at once (no restart, no snapshot).
kq replica "addprinc -pw Promote-pass-2 pr2"
wait_seq_above replica "$at"
[ "$(status_field replica history)" = "$new" ] || fail "change not under the new history"
echo "1: promoted online: history $new continues $old at $at; pr2 captured"

# 2. The old primary returns (a primary by its config) and follows.
"$PAIR" node-start "$P" primary
[ "$(status_field primary role)" = primary ] || fail "old primary did not start as configured"
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" follow replica >"$T/out" 2>"$T/err" ||
	fail "follow failed: $(cat "$T/err")"
cat "$T/out"
"$PAIR" wait "$P" 60 || fail "the old primary did not catch up"
ps=$(status_json primary)
[ "$(json_get "$ps" role)" = replica ] || fail "old primary does not run as replica"
[ "$(json_get "$ps" role_source)" = follow ] || fail "role_source is not follow"
[ "$(json_get "$ps" applied_history)" = "$new" ] || fail "old primary not on the new history"
# (counters since each node's start: the old primary was restarted above)
[ "$(json_get "$ps" peers/replica/repl/full_transfers)" = 0 ] || fail "the old primary got a full copy"
[ "$(full_transfers replica)" = 0 ] || fail "full_transfers is not 0"
[ "$(status_field replica peers/primary/repl/incremental_sessions)" -ge 1 ] ||
	fail "the new primary did not resume the old history incrementally"
has primary pr2 || fail "pr2 did not reach the old primary's KDB"
kinit_at primary pr2 Promote-pass-2 || fail "kinit pr2 at the old primary's KDC"
# Roles survive restarts of both nodes.
"$PAIR" node-stop "$P" primary
"$PAIR" node-stop "$P" replica
"$PAIR" node-start "$P" replica
"$PAIR" node-start "$P" primary
[ "$(status_field replica role_source)" = promote ] || fail "promote not kept across a restart"
[ "$(status_field primary role)" = replica ] || fail "follow not kept across a restart"
kq replica "addprinc -pw Promote-pass-3 pr3"
"$PAIR" wait "$P" 60 || fail "not in sync after the restarts"
has primary pr3 || fail "pr3 did not reach the follower"
echo "2: old primary followed incrementally; roles kept across restarts"

# 3. The other way round, with a change the follower made after the fork:
# it rewinds (no full copy): the change goes to diverged-*.dump.
"$PAIR" node-stop "$P" replica KILL
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" promote >"$T/out" 2>"$T/err" ||
	fail "promote of the old primary failed: $(cat "$T/err")"
kq primary "addprinc -pw Promote-pass-4 pr4"
"$PAIR" node-start "$P" replica # comes back as primary (kept)
[ "$(status_field replica role)" = primary ] || fail "the promoted node lost its role"
last=$(status_field replica last_seq) || fail "no last_seq in the promoted node's status"
kq replica "addprinc -pw Lost-pass-1 lost1"
kq replica "modprinc -maxlife \"3 hours\" pr1"
wait_seq_above replica "$((last + 1))"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" follow primary >"$T/out" 2>"$T/err" ||
	fail "second follow failed: $(cat "$T/err")"
cat "$T/out"
"$PAIR" wait "$P" 60 || fail "the second follower did not catch up"
div=$(find "$REPLICA_DIR/node" -maxdepth 1 -name "diverged-*-$last.dump" | head -n 1)
[ -f "$div" ] || fail "no diverged-*-$last.dump in the follower's state_dir"
[ "$(stat -c %a "$div")" = 600 ] || fail "the diverged file is not mode 0600"
head -n 1 "$div" | grep -q "^kdb5_util load_dump version 7" || fail "the diverged file has no dump header"
grep -q "	lost1@$REALM	" "$div" || fail "lost1 not in the diverged file"
grep -q "	pr1@$REALM	" "$div" || fail "pr1 (modified after the fork) not in the diverged file"
# (the diverged file's name holds the seq it rewound to: $last)
[ "$(full_transfers replica)" = 0 ] || fail "the follower got a full copy"
[ "$(status_field primary peers/replica/repl/incremental_sessions)" -ge 1 ] ||
	fail "the follower was not answered incrementally after the rewind"
[ "$(full_transfers primary)" = 0 ] || fail "full_transfers is not 0"
has replica pr4 || fail "pr4 did not reach the second follower"
has replica lost1 && fail "lost1 still in the follower's KDB"
dump_of primary "$T/p3.dump"
dump_of replica "$T/r3.dump"
cmp -s "$T/p3.dump" "$T/r3.dump" || fail "the KDBs differ after the rewind"
kinit_at replica pr4 Promote-pass-4 || fail "kinit pr4 at the follower's KDC"
echo "3: the follower rewound to $last: lost1 and pr1's change kept in $div, gone from its KDB; pr4 arrived; KDBs equal"
echo "PASS: online promote, follow without a full copy, roles kept across restarts, either side primary"
