#!/bin/bash
# SPDX-License-Identifier: MIT
# A kdcsyncd primary with a kprop-compat peer (mode = kprop) in front of a
# stock kpropd: the initial push, then a kadmin change on the primary
# reaches the stock replica with no command (daemon scan -> store digest
# changes -> push), a password principal made after start kinits against
# the replica's KDC, and `kdcsync status` (text and JSON) shows the peer's
# last push time, duration, bytes and result.
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"

primary_init
replica_init R
K=$(realm_free_port)
stock_kpropd R "$K"
"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/pki" p q >/dev/null
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
proc_start daemon "$KDCSYNCD" -c "$T/d.conf" -f

# wait_equal SECONDS: until the replica's dump equals the primary's.
wait_equal() {
	local deadline=$((SECONDS + $1))
	until realms_equal P R 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || { realms_equal P R; return 1; }
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

# Switching by configuration only: a second kprop peer added by SIGHUP is
# pushed to; the unchanged first peer keeps its state and is not pushed
# again.
replica_init R3
K3=$(realm_free_port)
stock_kpropd R3 "$K3"
pushes_before=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["kprop"]["peers"][0]["pushes"])' "$js")
sed -i "s|^\[kprop\]|\trep3 = {\n\t\taddress = $HOST:$K3\n\t\tmode = kprop\n\t}\n[kprop]|" "$T/d.conf"
kill -HUP "${PIDS[daemon]}"
deadline=$((SECONDS + 30))
until realms_equal P R3 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || fail "the peer added by reload was not pushed to"
	sleep 0.3
done
js=$("$KDCSYNC" -c "$T/d.conf" status --json)
python3 -c 'import json,sys
d = json.loads(sys.argv[1])
p = {x["name"]: x for x in d["kprop"]["peers"]}
assert p["rep"]["pushes"] == int(sys.argv[2]), p["rep"]
assert p["rep3"]["last_result"] == "SUCCEEDED", p["rep3"]' "$js" "$pushes_before" ||
	fail "reload: peer state"
echo "ok: a kprop peer added by SIGHUP is pushed to; the unchanged peer is not re-pushed"
proc_stop kpropd-R3
proc_stop daemon
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/daemon.log" || fail "sanitizer report"

# The daemon's own listener ([kprop] listen) takes a stock kprop.
replica_init R2
L=$(realm_free_port)
mkdir -p "$T/qstate"
chmod 700 "$T/qstate"
cat >"$T/q.conf" <<CONF
[node]
	name = q
	role = primary
	state_dir = $T/qstate
	kdc_profile = $T/R2/kdc.conf
	listen = 127.0.0.1:$(realm_free_port)
	signing_key = $T/pki/signing.key
	scan_interval = 1h
[tls]
	ca = $T/pki/ca.crt
	cert = $T/pki/q.crt
	key = $T/pki/q.key
[kprop]
	keytab = FILE:$T/host.keytab
	listen = 127.0.0.1:$L
	acl_file = $T/R2/kpropd.acl
	timeout = 20s
CONF
KRB5_CONFIG=$T/R2/krb5.conf KRB5_KDC_PROFILE=$T/R2/kdc.conf KRB5RCACHEDIR=$T/R2 \
	proc_start qdaemon "$KDCSYNCD" -c "$T/q.conf" -f
wait_port "$L"
(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/p.dump")
kprop -r "$REALM" -f "$T/p.dump" -P "$L" -s "$T/host.keytab" "$HOST" >"$T/kprop.out" 2>&1 ||
	{ cat "$T/kprop.out"; fail "stock kprop into the daemon's listener"; }
realm_dump "$T/R2" "$T/r2.dump"
tail -n +2 "$T/p.dump" | cmp -s - "$T/r2.dump" || fail "R2 differs from the dump"
st=$(KRB5_CONFIG=$T/R2/krb5.conf "$KDCSYNC" -c "$T/q.conf" status)
grep -q "listener 127.0.0.1:$L: [1-9][0-9]* loaded, [0-9]* refused; last [0-9TZ:-]*: loaded" <<<"$st" ||
	{ echo "$st"; fail "status lacks the listener"; }
echo "ok: stock kprop into the daemon's listener; $(grep listener <<<"$st" | sed 's/^ *//')"
proc_stop qdaemon
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/qdaemon.log" || fail "sanitizer report"
