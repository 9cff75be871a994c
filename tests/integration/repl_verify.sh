#!/bin/bash
# SPDX-License-Identifier: MIT
# kdcsync verify PEER on a loopback pair: after the initial sync both sides
# report equal (exit 0) from either end; then the replica's store is
# changed behind its node's back (tests/integration/store_poke: one
# consistent batch at its next three seqs: a key added, one deleted, one
# modified) while the primary logs three changes of its own at those seqs
# (so the replica resumes there without a snapshot), and
# both ends list exactly the differing keys (exit 1).  A peer without a
# link is an error (exit 2).
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
grep -q "^equal: this node and 'primary' hold the same records (50[0-9] here)" "$T/v1" ||
	fail "no 'equal' line: $(cat "$T/v1")"
rc=$(verify_at primary replica "$T/v2")
[ "$rc" = 0 ] || { cat "$T/v2" "$T/v2.err"; fail "verify from the primary after sync: exit $rc"; }
echo "equal after sync (both ends)"

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
grep -q "^differ: 6 keys differ between this node and 'primary'" "$T/d1" || fail "wrong count"
grep '^  ' "$T/d1" | grep -v -e '^  here:' -e '^  primary:' | sed 's/  */ /g; s/^ //' | sort >"$T/d1.keys"
printf '%s\n' "differs: Puser00008@$REALM" "only here: Pzz-fake@$REALM" \
	"only on primary: Pv2@$REALM" "only on primary: Pv3@$REALM" "only on primary: Pv4@$REALM" \
	"only on primary: Puser00007@$REALM" | sort >"$T/d1.want"
diff "$T/d1.want" "$T/d1.keys" || fail "replica's list of differing keys"

rc=$(verify_at primary replica "$T/d2")
[ "$rc" = 1 ] || { cat "$T/d2.err"; fail "verify from the primary: exit $rc"; }
grep '^  ' "$T/d2" | grep -v -e '^  here:' -e '^  replica:' | sed 's/  */ /g; s/^ //' | sort >"$T/d2.keys"
printf '%s\n' "differs: Puser00008@$REALM" "only on replica: Pzz-fake@$REALM" \
	"only here: Pv2@$REALM" "only here: Pv3@$REALM" "only here: Pv4@$REALM" \
	"only here: Puser00007@$REALM" | sort >"$T/d2.want"
diff "$T/d2.want" "$T/d2.keys" || fail "primary's list of differing keys"

# No link to such a peer: exit 2 with a reason.
rc=$(verify_at replica nosuchpeer "$T/e1")
[ "$rc" = 2 ] || fail "verify of an unknown peer: exit $rc"
grep -q "no replication link with 'nosuchpeer'" "$T/e1.err" || fail "reason: $(cat "$T/e1.err")"
echo "PASS: verify PEER: equal after sync; exactly the 6 differing keys from both ends; unknown peer refused"
