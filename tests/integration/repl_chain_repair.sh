#!/bin/bash
# SPDX-License-Identifier: MIT
# `kdcsync repair` on the second tier of a cascade (PROTOCOL.md §3.12,
# §3.13): pair.sh up --chain makes primary -> replica (relay, with its own
# signing key) -> third.  With the third's node stopped, its store gets a
# damaged record, a lost one and a stray one (store_poke --fix: no log
# entry, the position unchanged).  `kdcsync verify replica` on the third
# lists them against the relay; `kdcsync repair` there asks the relay
# (REFETCH), which answers from its own store at its applied position,
# signed with its own key (the third trusts it, as for full copies);
# after it the three KDBs are equal and verify exits 0.  Restarted without
# its signing_key, the relay no longer offers repair (capability bit 5):
# the third's repair is then local only.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

tf() { status_field "$@" || fail "no $* in the status"; }

pair_up --chain
pkq "addprinc -pw Repair-pw1 alice" "addprinc -pw Repair-pw2 bob" \
	"addprinc -randkey carol"
"$PAIR" wait "$P" 60 || fail "chain not in sync"
wait_equal 60 "" primary replica third

"$PAIR" node-stop "$P" third || fail "third stop"
damage_store "$THIRD_DIR/node/store"
"$PAIR" node-start "$P" third || fail "third start"
"$PAIR" wait "$P" 60 || fail "third did not resume"
# (status counters start again with the node)
[ "$(tf third peers/replica/repl/full_transfers)" = 0 ] || fail "the third took a full copy"

rc=0
"$KDCSYNC" -c "$THIRD_NODE_CONF" verify replica >"$T/v" 2>&1 || rc=$?
cat "$T/v"
[ "$rc" = 1 ] || fail "verify replica on the third: exit $rc"
printf '%s\n' \
	"stores differ (third, replica): Palice@$REALM" "third: KDB differs from store: Palice@$REALM" \
	"only in replica's store: Pcarol@$REALM" "third: only in its KDB: Pcarol@$REALM" \
	"only in third's store: Pstray@$REALM" "third: only in its store: Pstray@$REALM" |
	sort >"$T/want"
diff "$T/want" <(listed_keys "$T/v") || fail "verify replica's list"

"$KDCSYNC" -c "$THIRD_NODE_CONF" repair >"$T/r" 2>&1 || { cat "$T/r"; fail "repair"; }
cat "$T/r"
grep -q "^refetched 3 records from 'replica'" "$T/r" || fail "repair did not refetch 3 records from the relay"
printf '%s\n' "refetched: Palice@$REALM" "refetched: Pcarol@$REALM" "deleted: Pstray@$REALM" |
	sort >"$T/rwant"
diff "$T/rwant" <(listed_keys "$T/r" | grep -v '^after') || fail "repair's list"
grep -q "'third': sent the current values of 3 records (repair)" "$REPLICA_DIR/node.log" ||
	fail "the relay's log does not show its answer"
"$KDCSYNC" -c "$THIRD_NODE_CONF" verify replica >"$T/v2" 2>&1 || { cat "$T/v2"; fail "verify replica after the repair"; }
grep -q "^equal: .* in their stores and their KDBs" "$T/v2" || fail "verify after the repair: $(cat "$T/v2")"
wait_equal 30 "" primary replica third
echo "PASS: the third repaired from the relay; verify equal; three dumps equal"

# replication goes on through the relay as before
pkq "addprinc -pw Repair-pw3 after-repair"
"$PAIR" wait "$P" 60 || fail "chain not in sync after the repair"
kinit_at third after-repair Repair-pw3 || fail "kinit at the third after the repair"
wait_equal 30 "" primary replica third
echo "PASS: a change after the repair reaches the third"

# nothing differs now: the repair compares with the relay and says so
"$KDCSYNC" -c "$THIRD_NODE_CONF" repair >"$T/r2" 2>&1 || { cat "$T/r2"; fail "second repair"; }
grep -q "^the store holds what 'replica' holds" "$T/r2" ||
	fail "the second repair did not compare with the relay: $(cat "$T/r2")"

# a relay without a signing_key answers no REFETCH (it could not sign the
# values): the third's repair is local only
"$PAIR" node-stop "$P" replica || fail "replica stop"
sed -i '/^[[:space:]]*signing_key = /d' "$REPLICA_NODE_CONF"
"$PAIR" node-start "$P" replica || fail "replica start"
"$PAIR" wait "$P" 60 || fail "chain not in sync after the relay's restart"
"$KDCSYNC" -c "$THIRD_NODE_CONF" repair >"$T/r3" 2>&1 || { cat "$T/r3"; fail "local repair"; }
cat "$T/r3"
grep -q "^the store holds what 'replica' holds" "$T/r3" &&
	fail "the third compared with a relay that cannot answer REFETCH"
grep -q '^ok: the KDB and the store hold the same' "$T/r3" || fail "the local repair's report: $(cat "$T/r3")"
"$PAIR" down "$P"
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$P"/*/node.log || fail "sanitizer report"
echo "PASS: without a signing_key the relay answers no repair request"
