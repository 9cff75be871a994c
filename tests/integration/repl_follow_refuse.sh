#!/bin/bash
# SPDX-License-Identifier: MIT
# kdcsync follow refused, with a clear message and nothing changed (role,
# history, seqs, KDB): a peer that is not a primary, a primary of another
# realm, a primary signing with a key this node does not trust.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

OPID=
stop_other() {
	if [ -n "$OPID" ] && kill "$OPID" 2>/dev/null; then wait "$OPID" 2>/dev/null || true; fi
}
TEST_EXIT_HOOKS+=(stop_other) # (its other.log is shown on failure)

# state_of: what must not change on the primary's host
state_of() {
	status_field primary role role_source history last_seq applied_seq | tr '\n' ' '
}
# refused PEER PATTERN: `follow PEER` on the primary's node fails, says
# PATTERN and "nothing changed", and changes nothing.
refused() {
	local before after
	before=$(state_of)
	dump_of primary "$T/before.dump"
	if "$KDCSYNC" -c "$PRIMARY_NODE_CONF" follow "$1" >"$T/out" 2>"$T/err"; then
		fail "follow $1 succeeded: $(cat "$T/out")"
	fi
	grep -q -- "$2" "$T/err" || fail "follow $1: no reason matching '$2': $(cat "$T/err")"
	grep -q "nothing changed" "$T/err" || fail "follow $1 does not say nothing changed"
	# the switch back settles, then nothing differs
	for _ in $(seq 1 50); do
		[ "$(status_field primary role)" = primary ] && break
		sleep 0.1
	done
	after=$(state_of)
	[ "$before" = "$after" ] || fail "follow $1 changed the node: '$before' -> '$after'"
	dump_of primary "$T/after.dump"
	cmp -s "$T/before.dump" "$T/after.dump" || fail "follow $1 changed the KDB"
	echo "refused: $(cat "$T/err")"
}

pair_up -n 50
pkq "addprinc -pw Refuse-pass-1 rf1"
converge 60

# 1. A peer that is not a primary.
refused replica "'replica' is not a primary"

# 2. A primary of another realm (same CA, a trusted signing key).
"$KS_SOURCE_DIR/deploy/make-certs.sh" "$P/pki" other >/dev/null
mkdir -p "$T/other/node"
chmod 700 "$T/other/node"
cat >"$T/other/kdc.conf" <<EOF
[realms]
	OTHER.TEST = {
		database_name = $T/other/principal
		key_stash_file = $T/other/stash
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal
	}
EOF
printf '[libdefaults]\n\tdefault_realm = OTHER.TEST\n' >"$T/other/krb5.conf"
KRB5_CONFIG=$T/other/krb5.conf KRB5_KDC_PROFILE=$T/other/kdc.conf \
	kdb5_util -r OTHER.TEST create -s -P other-master-1 >/dev/null 2>&1 || fail "kdb5_util create OTHER.TEST"
oport=$(python3 "$KS_SOURCE_DIR/deploy/free-port.py")
cat >"$T/other/node.conf" <<EOF
[node]
	name = other
	role = primary
	state_dir = $T/other/node
	kdc_profile = $T/other/kdc.conf
	listen = 127.0.0.1:$oport
	signing_key = $P/pki/signing.key
[tls]
	ca = $P/pki/ca.crt
	cert = $P/pki/other.crt
	key = $P/pki/other.key
[peers]
	primary = {
		mode = native
	}
EOF
(export KRB5_CONFIG=$T/other/krb5.conf KRB5_KDC_PROFILE=$T/other/kdc.conf &&
	exec "$KDCSYNCD" -c "$T/other/node.conf" -f >>"$T/other.log" 2>&1) &
OPID=$!
for _ in $(seq 1 200); do
	"$KDCSYNC" -c "$T/other/node.conf" status >/dev/null 2>&1 && break
	sleep 0.05
done
# (right after the [peers] line: other sections may follow it)
sed -i "s|^\[peers\]\$|[peers]\n\tother = {\n\t\taddress = 127.0.0.1:$oport\n\t\tmode = native\n\t}|" "$PRIMARY_NODE_CONF"
grep -q "address = 127.0.0.1:$oport" "$PRIMARY_NODE_CONF" || fail "could not add the peer 'other'"
kill -HUP "$(sed -n 's/^node-primary //p' "$P/pids")"
for _ in $(seq 1 50); do
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" status | grep -q "^  other " && break
	sleep 0.1
done
refused other "'other' serves realm OTHER.TEST, this node's KDB is of $REALM"

# 3. A primary signing with a key this node does not trust: the replica is
# promoted (it signs with pki/replica-signing.key), the old primary trusts
# only pki/signing.pub.
"$PAIR" node-stop "$P" primary
sed -i "\|trusted_keys = $P/pki/replica-signing.pub|d" "$PRIMARY_NODE_CONF"
"$PAIR" node-start "$P" primary
"$KDCSYNC" -c "$REPLICA_NODE_CONF" promote >/dev/null || fail "promote the replica"
refused replica "'replica' signs with key [0-9a-f]*, which \[node\] trusted_keys does not list"
echo "PASS: follow refused for a replica, another realm and an untrusted signing key; nothing changed"
