#!/bin/bash
# SPDX-License-Identifier: MIT
# kdcsync verify PEER on a loopback pair: after the initial sync both sides
# report equal (exit 0) from either end; then the replica's store is
# changed behind its node's back (tests/integration/store_poke: one
# consistent batch at its next three seqs: a key added, one deleted, one
# modified) while the primary logs three changes of its own at those seqs
# (so the replica resumes there without a snapshot), and
# both ends list exactly the differing keys (exit 1), saying for each where
# it differs: between the stores, the KDBs, or a node's KDB and its store
# (PROTOCOL.md §3.11).  A peer without a link is an error (exit 2).
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

POKE=$KS_BUILD_DIR/tests/integration/store_poke
[ -x "$POKE" ] || fail "no $POKE"

# verify_at primary|replica PEER OUT: run verify, echo its exit status.
verify_at() {
	local c rc=0
	[ "$1" = replica ] && c=$REPLICA_NODE_CONF || c=$PRIMARY_NODE_CONF
	"$KDCSYNC" -c "$c" verify "$2" >"$3" 2>"$3.err" || rc=$?
	echo $rc
}

pair_up -n 500
pkq "addprinc -pw Verify-pass-1 v1"
converge 60

rc=$(verify_at replica primary "$T/v1")
[ "$rc" = 0 ] || { cat "$T/v1" "$T/v1.err"; fail "verify after sync: exit $rc"; }
grep -q "^equal: this node and 'primary' hold the same records in their stores and their KDBs (50[0-9] here)" "$T/v1" ||
	fail "no 'equal' line: $(cat "$T/v1")"
rc=$(verify_at primary replica "$T/v2")
[ "$rc" = 0 ] || { cat "$T/v2" "$T/v2.err"; fail "verify from the primary after sync: exit $rc"; }
echo "equal after sync (both ends)"
# --timeout: a bound of the operator's choosing; a bad one is refused
rc=0
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary --timeout 120 >"$T/t1" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q "^equal:" "$T/t1" || fail "verify --timeout 120: exit $rc: $(cat "$T/t1")"
for bad in 0 -5 1x ""; do
	rc=0
	"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary --timeout "$bad" >"$T/t2" 2>&1 || rc=$?
	[ "$rc" = 2 ] && grep -q -- "--timeout takes seconds" "$T/t2" ||
		fail "verify --timeout '$bad': exit $rc: $(cat "$T/t2")"
done

# Behind the replica node's back.
"$PAIR" node-stop "$P" replica
"$POKE" "$REPLICA_DIR/node/store" \
	put "Pzz-fake@$REALM" "not a real record" \
	del "Puser00007@$REALM" \
	put "Puser00008@$REALM" "modified behind the node's back" >/dev/null ||
	fail "store_poke"
before=$(status_field primary last_seq)
pkq "addprinc -pw Verify-pass-2 v2" "addprinc -pw Verify-pass-3 v3" "addprinc -pw Verify-pass-4 v4"
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null
after=$(status_field primary last_seq)
[ "$after" = $((before + 3)) ] || fail "expected three logged changes ($before -> $after)"
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "replica did not resume"
[ "$(full_transfers replica)" = 0 ] || fail "the replica was repaired by a snapshot"

rc=$(verify_at replica primary "$T/d1")
cat "$T/d1"
[ "$rc" = 1 ] || { cat "$T/d1.err"; fail "verify of differing stores: exit $rc"; }
grep -q "^differ: 6 keys differ between this node (replica) and 'primary': 6 between the stores, 3 between the KDBs, 3 between the KDB and the store here, 0 between the KDB and the store on 'primary'" "$T/d1" || fail "wrong counts"
# want STORES: the lines both ends print (the stores' pair named as given)
want() {
	printf '%s\n' "stores differ ($1): Puser00008@$REALM" "replica: KDB differs from store: Puser00008@$REALM" \
		"only in replica's store: Pzz-fake@$REALM" "replica: only in its store: Pzz-fake@$REALM" \
		"only in primary's store: Puser00007@$REALM" "replica: only in its KDB: Puser00007@$REALM"
	for k in v2 v3 v4; do
		printf '%s\n' "only in primary's store: P$k@$REALM" "only in primary's KDB: P$k@$REALM"
	done
}
listed_keys "$T/d1" >"$T/d1.keys"
want "replica, primary" | sort >"$T/d1.want"
diff "$T/d1.want" "$T/d1.keys" || fail "replica's list of differing keys"

rc=$(verify_at primary replica "$T/d2")
[ "$rc" = 1 ] || { cat "$T/d2.err"; fail "verify from the primary: exit $rc"; }
listed_keys "$T/d2" >"$T/d2.keys"
want "primary, replica" | sort >"$T/d2.want"
diff "$T/d2.want" "$T/d2.keys" || fail "primary's list of differing keys"

# No link to such a peer: exit 2 with a reason.
rc=$(verify_at replica nosuchpeer "$T/e1")
[ "$rc" = 2 ] || fail "verify of an unknown peer: exit $rc"
grep -q "no replication link with 'nosuchpeer'" "$T/e1.err" || fail "reason: $(cat "$T/e1.err")"
echo "PASS: verify PEER: equal after sync (also with --timeout; bad ones refused); exactly the 6 differing keys from both ends; unknown peer refused"
