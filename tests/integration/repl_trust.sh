#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 5: a replica configured with the wrong trusted signing key, or a
# primary whose certificate is not trusted, applies nothing and reports why
# in `kdcsync status`; with the right configuration back it converges.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up -n 100
applied() {
	local i
	for i in $(seq 1 100); do # the daemon may be starting
		status_json replica >/dev/null 2>&1 && break
		sleep 0.1
	done
	status_field replica applied_seq
}

# a) wrong trusted key
"$KDCSYNC" keygen -o "$T/other" >/dev/null
"$PAIR" node-stop "$P" replica
cp "$REPLICA_NODE_CONF" "$T/replica.conf.good"
sed -i "s|trusted_keys = .*|trusted_keys = $T/other.pub|" "$REPLICA_NODE_CONF"
"$PAIR" node-start "$P" replica
sleep 0.5
before=$(applied)
pkq "addprinc -pw Trust-pass-1 t1"
for i in $(seq 1 100); do
	status_field replica peers/primary/last_error peers/primary/repl/last_error | grep -q 'untrusted' && break
	sleep 0.1
done
st=$("$KDCSYNC" -c "$REPLICA_NODE_CONF" status)
echo "$st" | grep -i 'untrusted' || { echo "$st"; fail "status does not say the signer is untrusted"; }
[ "$(applied)" = "$before" ] || fail "the replica applied something signed by an untrusted key"
replica_has t1 && fail "t1 reached the replica's KDB"
echo "a: wrong key: nothing applied; status says: $(echo "$st" | grep -i untrusted | head -n 1 | sed 's/^ *//')"

# b) the primary presents a certificate from another CA
cp "$T/replica.conf.good" "$REPLICA_NODE_CONF"
"$PAIR" node-stop "$P" replica
"$PAIR" node-stop "$P" primary
"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/rogue" primary >/dev/null
cp "$P/pki/primary.crt" "$T/primary.crt.good"
cp "$P/pki/primary.key" "$T/primary.key.good"
cp "$T/rogue/primary.crt" "$P/pki/primary.crt"
cp "$T/rogue/primary.key" "$P/pki/primary.key"
"$PAIR" node-start "$P" primary
"$PAIR" node-start "$P" replica
before=$(applied)
pkq "addprinc -pw Trust-pass-2 t2"
for i in $(seq 1 100); do
	status_field replica peers/primary/last_error peers/primary/repl/last_error | grep -qi 'certif\|verify' && break
	sleep 0.1
done
st=$("$KDCSYNC" -c "$REPLICA_NODE_CONF" status)
echo "$st" | grep -qi 'certif\|verify' || { echo "$st"; fail "status does not report the certificate problem"; }
[ "$(applied)" = "$before" ] || fail "applied from an untrusted primary"
replica_has t2 && fail "t2 reached the replica's KDB"
echo "b: untrusted primary certificate: nothing applied; status says: $(echo "$st" | grep -i 'last error' | head -n 1 | sed 's/^ *//')"

# back to the right certificate and key: it converges
"$PAIR" node-stop "$P" primary
cp "$T/primary.crt.good" "$P/pki/primary.crt"
cp "$T/primary.key.good" "$P/pki/primary.key"
"$PAIR" node-start "$P" primary
converge 60
replica_has t1 && replica_has t2 || fail "did not converge after the fix"
echo "PASS: untrusted signer and untrusted certificate rejected and reported; converged after the fix"
