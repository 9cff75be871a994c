#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 1: initial sync of 10,000 principals.  The replica's KDB dump
# equals the primary's (sorted; lockout fields zeroed: replicate_lockout is
# off), the replica got one full snapshot, `kdcsync dump` of the replica's
# store equals its KDB, and a password principal made before the sync
# kinits against the replica's KDC; `kdcsync verify` finds KDB == store,
# then reports a principal added to the replica's KDB behind its back.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

start=$SECONDS
pair_up -n 10000
echo "pair with 10,000 preloaded principals up and in sync in $((SECONDS - start)) s"
pkq "addprinc -pw Initial-pass-1 early"
converge 60
n=$(grep -c '^princ' "$T/r.dump")
[ "$n" -ge 10000 ] || fail "only $n principals on the replica"
[ "$(full_transfers replica)" = 1 ] || fail "expected one full snapshot"
kinit_at replica early Initial-pass-1 || fail "kinit early against the replica"
# the replica's store is the same record set as its KDB
"$KDCSYNC" -c "$REPLICA_NODE_CONF" dump -o "$T/store.dump" >/dev/null
dump_of replica "$T/rk.dump" keep
tail -n +2 "$T/store.dump" | LC_ALL=C sort >"$T/rs.dump"
# (the replica KDC wrote last_success for the kinit above: compare zeroed)
awk -F'\t' -v OFS='\t' '$1 == "princ" { $13 = 0; $14 = 0; $15 = 0 } { print }' "$T/rk.dump" | LC_ALL=C sort >"$T/rk0.dump"
cmp -s "$T/rk0.dump" "$T/rs.dump" || fail "replica store differs from its KDB"
# kdcsync verify: the replica's KDB matches its store; drift is reported
"$KDCSYNC" -c "$REPLICA_NODE_CONF" verify | grep -q '^ok:' || fail "verify on the replica"
KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
	kadmin.local -r "$REALM" -q "addprinc -randkey behind-its-back" >/dev/null 2>&1
if "$KDCSYNC" -c "$REPLICA_NODE_CONF" verify 2>"$T/verify.err"; then fail "verify missed a local change"; fi
grep -q '^  only in KDB: *Pbehind-its-back@' "$T/verify.err" || { cat "$T/verify.err"; fail "verify output"; }
echo "PASS: $n principals replicated; dumps equal; kinit against the replica works; verify ok, then reports drift"
