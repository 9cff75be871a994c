#!/bin/bash
# SPDX-License-Identifier: MIT
# kdcsync kprop -> stock kpropd: the store (filled by a scan of the primary
# KDB) is streamed to a stock kpropd; the replica's dump equals the
# primary's, a password principal kinits against the replica's KDC, and
# kpropd's own log shows the load succeeded.  Then a change on the primary
# is pushed again.  Refusals: a client not in the ACL, a wrong keytab key,
# nothing listening: kdcsync exits 1 with kprop-like messages.
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"

primary_init
replica_init R
CONF=$(kconf p "$T/pstate" "$T/P/kdc.conf")
mkdir -p "$T/pstate"
scan_store P "$T/pstate"
PORT=$(realm_free_port)
stock_kpropd R "$PORT"

export KRB5_CONFIG=$T/P/krb5.conf
# An empty store (never scanned) is never propagated.
EMPTY=$(kconf empty "$T/estate" "$T/P/kdc.conf")
mkdir -p "$T/estate"
rc=0
"$KDCSYNC" -c "$EMPTY" kprop "$HOST:$PORT" >/dev/null 2>"$T/empty.err" || rc=$?
[ $rc -eq 1 ] && grep -q 'store is empty' "$T/empty.err" || fail "empty store: rc $rc $(cat "$T/empty.err")"
echo "ok: empty store refused ($(cat "$T/empty.err"))"
out=$("$KDCSYNC" -c "$CONF" kprop "$HOST:$PORT" 2>"$T/push1.err") ||
	{ cat "$T/push1.err"; fail "kdcsync kprop failed"; }
[ "$out" = "Database propagation to $HOST: SUCCEEDED" ] || fail "output: $out"
realms_equal P R || fail "replica dump differs after the push"
grep -q 'Full propagation transfer finished' "$T/kpropd-R.log" ||
	fail "kpropd log does not show the transfer"
! grep -q 'returned a bad exit status\|Error\|error' "$T/kpropd-R.log" ||
	fail "kpropd log shows an error"
realm_kdc_start "$T/R"
realm_kinit "$T/R" "alice@$REALM" Alice-pass-1 || fail "alice cannot kinit against the replica"
realm_kdc_stop "$T/R"
echo "ok: push to stock kpropd"

# A change, rescanned and pushed again (-P form).
realm_kadmin "$T/P" "addprinc -pw Carol-pass-1 carol" "delprinc -force svc/one"
scan_store P "$T/pstate"
"$KDCSYNC" -c "$CONF" kprop -P "$PORT" "$HOST" >/dev/null 2>"$T/push2.err" ||
	{ cat "$T/push2.err"; fail "second push failed"; }
realms_equal P R || fail "replica dump differs after the second push"
echo "ok: second push"

# No [kprop] keytab: the krb5 default keytab, so KRB5_KTNAME works as for
# kprop -s.
DEF=$(kconf def "$T/pstate" "$T/P/kdc.conf")
sed -i '/^	keytab = /d' "$DEF"
realm_kadmin "$T/P" "addprinc -pw Hank-pass-1 hank"
scan_store P "$T/pstate"
KRB5_KTNAME=FILE:$T/host.keytab "$KDCSYNC" -c "$DEF" kprop "$HOST:$PORT" >/dev/null 2>"$T/ktname.err" ||
	{ cat "$T/ktname.err"; fail "push with KRB5_KTNAME failed"; }
realms_equal P R || fail "replica differs after the KRB5_KTNAME push"
echo "ok: default keytab from KRB5_KTNAME"

# Refused on the way: a cut connection and a flipped byte in the data
# block (through a proxy): kdcsync exits 1 and the replica is unchanged.
PROXY=$KS_SOURCE_DIR/tests/integration/kprop_proxy.py
realm_kadmin "$T/P" "addprinc -pw Gina-pass-1 gina"
scan_store P "$T/pstate"
realm_dump "$T/R" "$T/before.dump"
for mode in "--cut 1500" "--flip 1500"; do
	rm -f "$T/proxy.ready"
	PP=$(realm_free_port)
	# shellcheck disable=SC2086
	proc_start proxy python3 "$PROXY" "$PP" "$PORT" "$T/proxy.ready" $mode
	for i in $(seq 1 100); do [ -f "$T/proxy.ready" ] && break; sleep 0.05; done
	rc=0
	"$KDCSYNC" -c "$CONF" kprop "$HOST:$PP" >/dev/null 2>"$T/proxy.err" || rc=$?
	proc_wait proxy || true
	[ $rc -eq 1 ] || fail "$mode: kdcsync exited $rc"
	realm_dump "$T/R" "$T/after.dump"
	cmp -s "$T/before.dump" "$T/after.dump" || fail "$mode: the replica changed"
	echo "ok: sender $mode: $(cat "$T/proxy.err")"
done
grep -q 'while decoding database block starting at offset 0' "$T/kpropd-R.log" ||
	fail "kpropd did not log the bad block"

# Refused: a client principal not in the ACL (kpropd closes after AP-REP).
BAD=$(kconf bad "$T/pstate" "$T/P/kdc.conf" "	principal = host/other.example.test@$REALM")
sed -i "s|/host.keytab|/other.keytab|" "$BAD"
realm_kadmin "$T/P" "addprinc -pw Dave-pass-1 dave"
scan_store P "$T/pstate"
rc=0
"$KDCSYNC" -c "$BAD" kprop "$HOST:$PORT" >"$T/acl.out" 2>"$T/acl.err" || rc=$?
[ $rc -eq 1 ] || fail "ACL-refused push exited $rc"
grep -q '^kdcsync: kprop: ' "$T/acl.err" || fail "no message: $(cat "$T/acl.err")"
sleep 0.3
grep -q 'Rejected connection from unauthorized principal host/other.example.test' "$T/kpropd-R.log" ||
	fail "kpropd did not log the ACL refusal"
! (realm_env "$T/R" && kadmin.local -q "getprinc dave" 2>&1 | grep -q '^Principal: dave') ||
	fail "refused push loaded something"
echo "ok: ACL refusal ($(cat "$T/acl.err"))"

# Nothing listening.
proc_stop kpropd-R
rc=0
"$KDCSYNC" -c "$CONF" kprop "$HOST:$PORT" >/dev/null 2>"$T/conn.err" || rc=$?
[ $rc -eq 1 ] || fail "push to nothing exited $rc"
grep -q 'Connection refused' "$T/conn.err" || fail "message: $(cat "$T/conn.err")"
echo "ok: no listener ($(cat "$T/conn.err"))"

# Refused: wrong key (the keytab's key for host/$HOST is stale on the KDC).
cp "$T/host.keytab" "$T/host.keytab.good"
realm_kadmin "$T/P" "cpw -randkey host/$HOST"
rc=0
"$KDCSYNC" -c "$CONF" kprop "$HOST:$PORT" >/dev/null 2>"$T/key.err" || rc=$?
[ $rc -eq 1 ] || fail "wrong-key push exited $rc"
grep -q 'while getting initial credentials' "$T/key.err" || fail "message: $(cat "$T/key.err")"
echo "ok: wrong key ($(cat "$T/key.err"))"

