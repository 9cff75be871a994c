#!/bin/bash
# SPDX-License-Identifier: MIT
# One user of the KDB at a time (node/kdb_lock.h):
# 1. a node that replicates natively refuses [kprop] listen, in
#    `kdcsyncd -t` and at start, with one line saying why (a kprop load and
#    the native stream would both replace the KDB and the staged records);
# 2. a primary without native peers, scanning its KDB every second, takes a
#    stock kprop of a 20,000-principal dump into its listener while the
#    scans run: the transfer loads (dump equal), `status` keeps answering,
#    scans go on afterwards, and SIGTERM stops the node promptly (no
#    wedge: the listener and the replication worker take turns).
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"

primary_init
replica_init R
"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/pki" q other >/dev/null
"$KDCSYNC" keygen -o "$T/pki/signing" >/dev/null
mkdir -p "$T/qstate"
chmod 700 "$T/qstate"
L=$(realm_free_port)

# conf ROLE EXTRA_NODE_LINES PEERS: the node's configuration, in T/q.conf
conf() {
	cat >"$T/q.conf" <<CONF
[node]
	name = q
	role = $1
	state_dir = $T/qstate
	kdc_profile = $T/R/kdc.conf
	listen = 127.0.0.1:$(realm_free_port)
	signing_key = $T/pki/signing.key
	trusted_keys = $T/pki/signing.pub
	scan_interval = 1s
$2
[tls]
	ca = $T/pki/ca.crt
	cert = $T/pki/q.crt
	key = $T/pki/q.key
[peers]
$3
[kprop]
	keytab = FILE:$T/host.keytab
	listen = 127.0.0.1:$L
	acl_file = $T/R/kpropd.acl
	timeout = 60s
CONF
}
refused() { # refused WHAT: -t and a start both refuse, naming the reason
	local out
	if out=$("$KDCSYNCD" -c "$T/q.conf" -t 2>&1); then
		fail "$1: kdcsyncd -t accepted [kprop] listen"
	fi
	grep -q 'kprop\] listen: not on a node that replicates natively' <<<"$out" ||
		fail "$1: kdcsyncd -t said: $out"
	[ "$(wc -l <<<"$out")" = 1 ] || fail "$1: more than one line: $out"
	if out=$("$KDCSYNCD" -c "$T/q.conf" -f 2>&1); then
		fail "$1: kdcsyncd started with [kprop] listen"
	fi
	grep -q 'replicates natively' <<<"$out" || fail "$1: start said: $out"
	echo "ok: $1 refused: $(grep -o 'kprop\] listen: [^(]*' <<<"$out" | head -n 1)"
}
peer="	other = {
		address = 127.0.0.1:1
		mode = native
	}"
conf replica "	primary = other" "$peer"
refused "a native replica"
conf primary "" "$peer"
refused "a primary with a native peer"

# 2. the allowed combination under load
realm_env "$T/P"
realm_kadmin "$T/P" "addprinc -randkey bulk-template"
kdb5_util -r "$REALM" dump "$T/tmpl.dump"
awk -F'\t' -v OFS='\t' -v realm="$REALM" '
	NR == 1 { print; next }
	$1 == "princ" && $7 == "bulk-template@" realm {
		for (i = 1; i <= 20000; i++) {
			$7 = sprintf("bulk%05d@%s", i, realm)
			$3 = length($7)
			print
		}
		next
	}
	{ print }' "$T/tmpl.dump" >"$T/big.dump"
touch "$T/big.dump.dump_ok" # kprop -f wants kdb5_util's marker
conf primary "" ""
"$KDCSYNCD" -c "$T/q.conf" -t >/dev/null 2>&1 || fail "the listener on a primary without native peers is refused"
KRB5_CONFIG=$T/R/krb5.conf KRB5_KDC_PROFILE=$T/R/kdc.conf KRB5RCACHEDIR=$T/R \
	proc_start q "$KDCSYNCD" -c "$T/q.conf" -f
wait_port "$L"
rm -f "$T/stop"
proc_start poller python3 "$KS_SOURCE_DIR/tests/integration/status_poll.py" "$T/stop" "$T/poll" "$T/qstate/kdcsyncd.sock"
for _ in 1 2; do
	kprop -r "$REALM" -f "$T/big.dump" -P "$L" -s "$T/host.keytab" "$HOST" >"$T/kprop.out" 2>&1 ||
		{ cat "$T/kprop.out"; fail "stock kprop into the scanning node's listener"; }
done
scans0=$(status_get "$T/q.conf" capture/scans)
sleep 3
touch "$T/stop"
proc_wait poller || fail "poller"
read -r n p50 p99 max fails <"$T/poll"
echo "status during the transfers: $n answers, p50 $p50 ms, p99 $p99 ms, max $max ms, $fails failed"
[ "$n" -ge 5 ] && [ "$fails" = 0 ] || fail "status did not answer throughout"
awk -v m="$max" 'BEGIN { exit !(m < 1000) }' || fail "a status answer took $max ms"
scans1=$(status_get "$T/q.conf" capture/scans)
[ "$scans1" -gt "$scans0" ] || fail "no scan after the transfers ($scans0 -> $scans1)"
realm_dump "$T/R" "$T/r.dump"
tail -n +2 "$T/big.dump" | cmp -s - "$T/r.dump" || fail "the node's KDB differs from the dump"
t0=$SECONDS
proc_stop q
[ $((SECONDS - t0)) -le 10 ] || fail "SIGTERM took $((SECONDS - t0)) s"
! grep -q 'ERROR: AddressSanitizer\|runtime error\|ThreadSanitizer' "$T/q.log" || fail "sanitizer report"
echo "PASS: [kprop] listen refused with native replication; two kprop loads into a scanning node, no wedge"
