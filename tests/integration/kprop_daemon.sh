#!/bin/bash
# SPDX-License-Identifier: MIT
# A kdcsyncd primary with a kprop-compat peer (mode = kprop) in front of a
# stock kpropd: the initial push, then a kadmin change on the primary
# reaches the stock replica with no command (daemon scan -> store digest
# changes -> push), a password principal made after start kinits against
# the replica's KDC, and `kdcsync status` (text and JSON) shows the peer's
# last push time, duration, bytes and result.
. "$KS_SOURCE_DIR/tests/integration/kprop_lib.sh"

primary_init
replica_init R
K=$(realm_free_port)
stock_kpropd R "$K"
"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/pki" p >/dev/null
"$KDCSYNC" keygen -o "$T/pki/signing" >/dev/null
mkdir -p "$T/pstate"
chmod 700 "$T/pstate"
cat >"$T/d.conf" <<CONF
[node]
	name = p
	role = primary
	state_dir = $T/pstate
	kdc_profile = $T/P/kdc.conf
	listen = 127.0.0.1:$(realm_free_port)
	signing_key = $T/pki/signing.key
	scan_interval = 1s
	reconnect_min = 200ms
	reconnect_max = 2s
[tls]
	ca = $T/pki/ca.crt
	cert = $T/pki/p.crt
	key = $T/pki/p.key
[peers]
	rep = {
		address = $HOST:$K
		mode = kprop
	}
[kprop]
	keytab = FILE:$T/host.keytab
	timeout = 20s
	push_interval = 1h
CONF
export KRB5_CONFIG=$T/P/krb5.conf KRB5_KDC_PROFILE=$T/P/kdc.conf
kstart daemon "$KDCSYNCD" -c "$T/d.conf" -f

# wait_equal SECONDS: until the replica's dump equals the primary's.
wait_equal() {
	local deadline=$((SECONDS + $1))
	until dumps_equal P R 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || { dumps_equal P R; return 1; }
		sleep 0.3
	done
}
wait_equal 30 || fail "the initial push did not reach the stock kpropd"
echo "ok: initial push"

realm_kadmin "$T/P" "addprinc -pw Frank-pass-1 frank" "modprinc -maxlife \"2 hours\" alice"
wait_equal 30 || fail "the change did not reach the stock kpropd"
echo "ok: change propagated with no command"
realm_kdc_start "$T/R"
realm_kinit "$T/R" "frank@$REALM" Frank-pass-1 || fail "frank cannot kinit against the replica"
realm_kdc_stop "$T/R"

st=$("$KDCSYNC" -c "$T/d.conf" status)
grep -q "push rep ($HOST:$K): last 20[0-9-]*T[0-9:]*Z, [0-9]* ms, [1-9][0-9]* bytes, SUCCEEDED" <<<"$st" ||
	{ echo "$st"; fail "status lacks the kprop peer's last push"; }
js=$("$KDCSYNC" -c "$T/d.conf" status --json)
python3 -c 'import json,sys
d = json.loads(sys.argv[1])
p = d["kprop"]["peers"][0]
assert p["name"] == "rep" and p["last_result"] == "SUCCEEDED", p
assert p["last_bytes"] > 0 and p["pushes"] >= 2, p
print("ok: status:", p)' "$js" || fail "JSON status"
grep -c 'Full propagation transfer finished' "$T/kpropd-R.log" >/dev/null || fail "kpropd log"
kstop daemon
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/daemon.log" || fail "sanitizer report"
