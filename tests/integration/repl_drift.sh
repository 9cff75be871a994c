#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drift of a replica's KDB from its store (kadmin.local on the replica:
# modprinc, cpw, delprinc, addprinc of a rogue principal): the local
# `kdcsync verify` lists all four keys both ways, `verify PEER` (from
# either end) says they differ (exit 1) with those keys and where (the two
# KDBs, the replica's KDB against its store), the periodic drift check reports them
# in status (JSON "drift", Prometheus kdcsync_drift_records), `kdcsync
# repair` rewrites them from the store, after which the dumps are equal
# and both verifies exit 0.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up
rk() { # kadmin.local on the replica's KDB, behind the node's back
	KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "$1" >>"$T/rk.out" 2>&1 || fail "replica kadmin.local: $1"
}
"$PAIR" node-stop "$P" replica || fail "replica stop"
sed -i '/^\[node\]/a\	drift_check_interval = 2s' "$REPLICA_NODE_CONF"
"$PAIR" node-start "$P" replica || fail "replica start"
pkq "addprinc -pw Drift-pw1 alice" "addprinc -pw Drift-pw2 bob" \
	"addprinc -randkey carol" "addprinc -randkey dave"
converge 60
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify >/dev/null || fail "verify before the drift"

rk "modprinc -maxlife 2h alice"
rk "cpw -randkey bob"
rk "delprinc -force carol"
rk "addprinc -randkey rogue"
want() {
	printf '%s\n' "differs: Palice@$REALM" "differs: Pbob@$REALM" \
		"only in store: Pcarol@$REALM" "only in KDB: Progue@$REALM" | sort
}
want >"$T/want"

# local verify: every key, both ways
rc=0
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify >"$T/v" 2>&1 || rc=$?
cat "$T/v"
[ "$rc" = 1 ] || fail "local verify: exit $rc"
grep '^  ' "$T/v" | sed 's/  */ /g; s/^ //' | sort >"$T/v.keys"
diff "$T/want" "$T/v.keys" || fail "local verify's keys"

# verify PEER: the stores are equal, the KDB is not
rc=0
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary >"$T/vp" 2>&1 || rc=$?
cat "$T/vp"
[ "$rc" = 1 ] || fail "verify primary: exit $rc"
grep '^local KDB:   ' "$T/vp" | sed 's/^local KDB://; s/  */ /g; s/^ //' | sort >"$T/vp.keys"
diff "$T/want" "$T/vp.keys" || fail "verify primary's keys"
# ... and the comparison of what the two KDBs hold names each key and where
# it differs, from either end
want_cmp() { # PAIR: the KDBs' pair as the verifying end names it
	printf '%s\n' "KDBs differ ($1): Palice@$REALM" "replica: KDB differs from store: Palice@$REALM" \
		"KDBs differ ($1): Pbob@$REALM" "replica: KDB differs from store: Pbob@$REALM" \
		"only in primary's KDB: Pcarol@$REALM" "replica: only in its store: Pcarol@$REALM" \
		"only in replica's KDB: Progue@$REALM" "replica: only in its KDB: Progue@$REALM" | sort
}
grep -q "^differ: 4 keys differ between this node (replica) and 'primary': 0 between the stores, 4 between the KDBs, 4 between the KDB and the store here, 0 between the KDB and the store on 'primary'" "$T/vp" ||
	fail "verify primary: summary line"
diff <(want_cmp "replica, primary") <(listed_keys "$T/vp") || fail "verify primary: the KDB comparison's keys"
rc=0
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" verify replica >"$T/vr" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$T/vr"; fail "verify replica (on the primary): exit $rc"; }
diff <(want_cmp "primary, replica") <(listed_keys "$T/vr") || fail "verify replica: the KDB comparison's keys"

# the periodic check puts it in status and metrics
deadline=$((SECONDS + 30))
until [ "$(status_field replica drift/records 2>/dev/null)" = 4 ]; do
	[ $SECONDS -lt $deadline ] || fail "status never reported the drift: $(status_json replica)"
	sleep 0.5
done
status_field replica drift/keys | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))' |
	sort >"$T/s.keys"
diff "$T/want" "$T/s.keys" || fail "status drift/keys"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" metrics >"$T/metrics" || fail "metrics"
grep -q '^kdcsync_drift_records 4$' "$T/metrics" || fail "kdcsync_drift_records: $(grep drift "$T/metrics")"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status | grep -A4 '^drift:'

# repair: the store's values written back through the apply path
"$KDCSYNC" -c "$REPLICA_NODE_CONF" repair >"$T/r" 2>&1 || { cat "$T/r"; fail "repair"; }
cat "$T/r"
grep -q '^repaired 4 records' "$T/r" || fail "repair did not rewrite 4 records"
grep -q '^after the repair: ok:' "$T/r" || fail "drift after the repair"
dumps_equal || { diff "$T/p.dump" "$T/r.dump" | head | cut -c1-200; fail "dumps differ after the repair"; }
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify || fail "local verify after the repair"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify primary || fail "verify primary after the repair"
kinit_at replica bob Drift-pw2 || fail "kinit bob against the replica after the repair"
deadline=$((SECONDS + 30))
until [ "$(status_field replica drift/records 2>/dev/null)" = 0 ]; do
	[ $SECONDS -lt $deadline ] || fail "status still reports drift: $(status_json replica)"
	sleep 0.5
done
# a primary refuses: its KDB is the source
! "$KDCSYNC" -c "$PRIMARY_NODE_CONF" repair 2>"$T/pr" || fail "repair on the primary"
grep -q "repair is for a replica" "$T/pr" || fail "the primary's refusal: $(cat "$T/pr")"
"$PAIR" down "$P"
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$REPLICA_DIR/node.log" || fail "sanitizer report"
echo "drift: ok"
