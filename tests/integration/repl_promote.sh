#!/bin/bash
# SPDX-License-Identifier: MIT
# kdcsync promote on a loopback pair (DESIGN.md §2, §4): the primary is
# stopped, the replica is promoted (new history remembering the old one and
# its last seq; it stops following), refusals on the primary and on a
# second promotion, then the node restarted with the config lines promote
# names (role = primary, signing_key, listen) captures a kadmin.local
# change under the new history.  A second replica of the old primary (a
# copy of the replica's store taken at the same position, on the old
# primary's host and KDB) then follows the promoted node and resumes
# incrementally: no full snapshot, and the new principal reaches its KDC.
. "$KS_SOURCE_DIR/tests/integration/repl_lib.sh"

NPIDS=()
promote_cleanup() {
	local rc=$? p
	for p in "${NPIDS[@]}"; do
		if kill "$p" 2>/dev/null; then wait "$p" 2>/dev/null || true; fi
	done
	if [ $rc -ne 0 ]; then
		for f in "$T"/promoted.log "$T"/second.log; do
			[ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
		done
	fi
	(exit $rc)
	cleanup
}
trap promote_cleanup EXIT

json_field() { # json_field JSON KEY: a top-level string or number field
	sed -n "s/^{[^[]*\"$2\":\"\{0,1\}\([0-9a-z]*\).*/\1/p" <<<"$1"
}
# start_node_as NAME CONF KDC_DIR: kdcsyncd in the background, pid kept.
start_node_as() {
	(export KRB5_CONFIG=$3/krb5.conf KRB5_KDC_PROFILE=$3/kdc.conf &&
		exec "$KDCSYNCD" -c "$2" -f >>"$T/$1.log" 2>&1) &
	NPIDS+=($!)
	local _
	for _ in $(seq 1 200); do
		"$KDCSYNC" -c "$2" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "kdcsyncd ($1) does not answer"
}

pair_up -n 300
pkq "addprinc -pw Promote-pass-1 pr1"
converge 60
old=$(json_field "$(status_json primary)" history)
[ -n "$old" ] || fail "no history in the primary's status"

# Refused on a primary, with the reason.
if "$KDCSYNC" -c "$PRIMARY_NODE_CONF" promote >"$T/out" 2>"$T/err"; then
	fail "promote succeeded on the primary"
fi
grep -q "already the primary" "$T/err" || fail "no reason given on the primary: $(cat "$T/err")"

"$PAIR" node-stop "$P" primary
rs=$(status_json replica)
[ "$(json_field "$rs" applied_history)" = "$old" ] || fail "replica not on the primary's history"
at=$(json_field "$rs" applied_seq)

# A second replica of the old primary at the same position: a copy of the
# replica's store (taken with its node stopped).
"$PAIR" node-stop "$P" replica
mkdir -m 700 "$T/second"
cp -a "$REPLICA_DIR/node/store" "$T/second/store"
"$PAIR" node-start "$P" replica

# Promote the running replica.
"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >"$T/out" 2>"$T/err" ||
	fail "promote failed: $(cat "$T/err")"
cat "$T/out"
grep -q "^promoted: new history" "$T/out" || fail "promote printed no new history"
grep -q "role = primary" "$T/out" || fail "promote did not name the config lines"
grep -q "continues history $old up to seq $at" "$T/out" || fail "promote did not name the old history and seq"
rs=$(status_json replica)
new=$(json_field "$rs" history)
if [ -z "$new" ] || [ "$new" = "$old" ]; then fail "no new history after promote"; fi
[ "$(json_field "$rs" promoted)" = true ] || fail "status does not show the promotion"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status | grep -q "^role: *replica (promoted" ||
	fail "status text does not show the promotion"
# A second promotion is refused (running, then stopped: offline path).
if "$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null 2>"$T/err"; then
	fail "second promote succeeded"
fi
grep -q "already promoted" "$T/err" || fail "second promote: $(cat "$T/err")"
"$PAIR" node-stop "$P" replica
if "$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null 2>"$T/err"; then
	fail "offline second promote succeeded"
fi
grep -q "already promoted" "$T/err" || fail "offline second promote: $(cat "$T/err")"

# Restart it with the lines promote named (pair.sh gives it signing_key
# and listen already).
port=$REPLICA_NODE_PORT
sed -e "s/^\trole = replica$/\trole = primary/" \
	-e '/^\tprimary = primary$/d' "$REPLICA_NODE_CONF" >"$T/promoted.conf"
grep -q "role = primary" "$T/promoted.conf" || fail "could not write the promoted config"
start_node_as promoted "$T/promoted.conf" "$REPLICA_DIR"
ps=$("$KDCSYNC" -c "$T/promoted.conf" status --json)
[ "$(json_field "$ps" role)" = primary ] || fail "restarted node is not primary"
[ "$(json_field "$ps" history)" = "$new" ] || fail "restart changed the history"

# A change on the promoted node's KDB is logged under the new history.
KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
	kadmin.local -r "$REALM" -q "addprinc -pw Promote-pass-2 pr2" >>"$T/kadmin.out" 2>&1 ||
	fail "kadmin.local on the promoted node"
"$KDCSYNC" -c "$T/promoted.conf" snapshot >/dev/null || fail "snapshot on the promoted node"
ps=$("$KDCSYNC" -c "$T/promoted.conf" status --json)
[ "$(json_field "$ps" history)" = "$new" ] || fail "change not under the new history"
last=$(json_field "$ps" last_seq)
[ "$last" -gt "$at" ] || fail "nothing logged after the promotion (last $last, promoted at $at)"
"$KDCSYNC" -c "$T/promoted.conf" dump -o "$T/promoted.dump" || fail "dump of the promoted store"
grep -q "	pr2@$REALM	" "$T/promoted.dump" || fail "pr2 not in the promoted store"
echo "promoted: history $new continues $old at $at; pr2 logged up to seq $last"

# The second replica (old primary's host and KDB, replica store copy at
# $at on the old history) follows the promoted node: incremental.
cat >"$T/second.conf" <<EOF2
[node]
	name = primary
	role = replica
	state_dir = $T/second
	kdc_profile = $PRIMARY_KDC_PROFILE
	primary = replica
	trusted_keys = $P/pki/signing.pub
	trusted_keys = $P/pki/replica-signing.pub
	reconnect_min = 100ms
	reconnect_max = 2s
[tls]
	ca = $P/pki/ca.crt
	cert = $P/pki/primary.crt
	key = $P/pki/primary.key
[peers]
	replica = {
		address = 127.0.0.1:$port
		mode = native
	}
EOF2
start_node_as second "$T/second.conf" "$PRIMARY_DIR"
deadline=$((SECONDS + 60))
until [ "$(json_field "$("$KDCSYNC" -c "$T/second.conf" status --json)" applied_seq)" = "$last" ]; do
	[ $SECONDS -lt $deadline ] || fail "second replica did not catch up to $last"
	sleep 0.2
done
ss=$("$KDCSYNC" -c "$T/second.conf" status --json)
[ "$(json_field "$ss" applied_history)" = "$new" ] || fail "second replica not on the new history"
grep -q "incremental (continuing from the previous history)" "$T/promoted.log" ||
	fail "the promoted node did not resume the old history"
grep -q "receiving a full snapshot" "$T/second.log" && fail "second replica got a full snapshot"
grep -q "following the primary's new history" "$T/second.log" || fail "second replica did not adopt the history"
kinit_at primary pr2 Promote-pass-2 || fail "kinit pr2 at the second replica's KDC"
echo "PASS: promote refused on a primary and twice; new history logs kadmin changes; a replica of the old primary resumed incrementally"
