#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A replica whose store and KDB both differ from its primary's, made with
# the node stopped: in its store a record damaged, one lost and a stray one
# (store_poke --fix: no log entry, the position unchanged), in its KDB a
# record changed and an extra principal (kadmin.local).  `kdcsync verify
# primary` lists each key and where it differs; `kdcsync verify --repair`
# (the same as `kdcsync repair`, which repl_drift runs) fetches
# the primary's current values of the store's differing keys (PROTOCOL.md
# §3.12: REFETCH / REVALUES, a deletion for the stray key) through the
# apply path, then writes the store's values over the KDB's drift; after
# it the sorted dumps are equal and verify exits 0 from both ends.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"


pair_up
rk() { # kadmin.local on the replica's KDB, behind the node's back
	KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "$1" >>"$T/rk.out" 2>&1 || fail "replica kadmin.local: $1"
}
pkq "addprinc -pw Repair-pw1 alice" "addprinc -pw Repair-pw2 bob" \
	"addprinc -randkey carol" "addprinc -randkey dave"
converge 60

"$PAIR" node-stop "$P" replica || fail "replica stop"
damage_store "$REPLICA_DIR/node/store"
rk "modprinc -maxlife 3h bob"
rk "addprinc -randkey extra"
"$PAIR" node-start "$P" replica || fail "replica start"
"$PAIR" wait "$P" 60 || fail "replica did not resume"
[ "$(full_transfers replica)" = 0 ] || fail "the replica took a full copy"

rc=0
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary >"$T/v" 2>&1 || rc=$?
cat "$T/v"
[ "$rc" = 1 ] || fail "verify primary: exit $rc"
printf '%s\n' \
	"stores differ (replica, primary): Palice@$REALM" "replica: KDB differs from store: Palice@$REALM" \
	"only in primary's store: Pcarol@$REALM" "replica: only in its KDB: Pcarol@$REALM" \
	"only in replica's store: Pstray@$REALM" "replica: only in its store: Pstray@$REALM" \
	"KDBs differ (replica, primary): Pbob@$REALM" "replica: KDB differs from store: Pbob@$REALM" \
	"only in replica's KDB: Pextra@$REALM" "replica: only in its KDB: Pextra@$REALM" |
	sort >"$T/want"
diff "$T/want" <(listed_keys "$T/v") || fail "verify primary's list"

# repair: the primary's values for the store, then the store's for the KDB
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify --repair >"$T/r" 2>&1 || { cat "$T/r"; fail "repair"; }
cat "$T/r"
grep -q "^refetched 3 records from 'primary'" "$T/r" || fail "repair did not refetch 3 records"
printf '%s\n' "refetched: Palice@$REALM" "refetched: Pcarol@$REALM" "deleted: Pstray@$REALM" \
	"differs: Pbob@$REALM" "only in KDB: Pextra@$REALM" | sort >"$T/rwant"
diff "$T/rwant" <(listed_keys "$T/r" | grep -v '^after') || fail "repair's list"
grep -q '^after the repair: ok:' "$T/r" || fail "drift after the repair"
dumps_equal || { diff "$T/p.dump" "$T/r.dump" | head | cut -c1-200; fail "dumps differ after the repair"; }
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary >"$T/v2" 2>&1 || { cat "$T/v2"; fail "verify primary after the repair"; }
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" verify replica >"$T/v3" 2>&1 || { cat "$T/v3"; fail "verify replica (on the primary) after the repair"; }
grep -q "^equal: .* in their stores and their KDBs" "$T/v2" || fail "verify after the repair: $(cat "$T/v2")"

# replication goes on as before
pkq "addprinc -randkey after-repair"
converge 60
dumps_equal || fail "dumps differ after a change following the repair"
"$PAIR" down "$P"
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$REPLICA_DIR/node.log" "$PRIMARY_DIR/node.log" || fail "sanitizer report"
echo "repair: ok"
