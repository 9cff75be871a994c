#!/bin/bash
# SPDX-License-Identifier: MIT
# Refused transfers into the kdcsync kprop listener, each from the stock
# kprop: client not in the ACL (enctype-qualified line), the listener's
# keytab holding a stale key, a connection cut midway, a flipped byte in
# a data block, fewer bytes than announced (the dump shrinks under kprop),
# and a dump that does not parse.  Each time kprop exits 1, the listener
# logs why, and the replica's KDB and the node's store are unchanged.
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"
PROXY=$KS_SOURCE_DIR/tests/integration/kprop_proxy.py

primary_init
replica_init R
export KRB5_CONFIG=$T/P/krb5.conf
(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/p.dump")
cp "$T/host.keytab" "$T/listen.keytab"
LPORT=$(realm_free_port)
RCONF=$(kconf r "$T/rstate" "$T/R/kdc.conf" "	listen = 127.0.0.1:$LPORT
	acl_file = $T/R/kpropd.acl")
sed -i "s|FILE:$T/host.keytab|FILE:$T/listen.keytab|" "$RCONF"
mkdir -p "$T/rstate"
proc_start listen env KRB5_CONFIG="$T/R/krb5.conf" KRB5_KDC_PROFILE="$T/R/kdc.conf" \
	KRB5RCACHEDIR="$T/R" "$KDCSYNC" -c "$RCONF" kpropd
wait_port "$LPORT"

# A first good load, the baseline every refusal must leave untouched.
kprop -r "$REALM" -f "$T/p.dump" -P "$LPORT" -s "$T/host.keytab" "$HOST" >/dev/null 2>&1 ||
	fail "baseline kprop failed"
realm_dump "$T/R" "$T/base.dump"
storeinfo() { (realm_env "$T/R" && "$TOOL" storeinfo "$T/rstate/store") 2>/dev/null; }
BASESTORE=$(storeinfo)
realm_kadmin "$T/P" "addprinc -pw Eve-pass-123 eve"
(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/p2.dump")

# unchanged WHAT: the replica KDB and the store are as at the baseline.
unchanged() {
	realm_dump "$T/R" "$T/now.dump"
	cmp -s "$T/base.dump" "$T/now.dump" || fail "$1: the replica KDB changed"
	[ "$(storeinfo)" = "$BASESTORE" ] || fail "$1: the store changed"
}

# expect_refusal WHAT LOGPATTERN KPROP-ARGS...: kprop exits 1, the
# listener logs LOGPATTERN and "nothing loaded", nothing changes.
expect_refusal() {
	local what=$1 pat=$2 rc=0 i
	shift 2
	local before
	before=$(grep -c 'nothing loaded' "$T/listen.log" || true)
	kprop -r "$REALM" -P "$@" >"$T/kprop.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] || { cat "$T/kprop.out"; fail "$what: kprop exited $rc"; }
	for i in $(seq 1 100); do
		[ "$(grep -c 'nothing loaded' "$T/listen.log")" -gt "$before" ] && break
		sleep 0.05
	done
	tail -n 1 "$T/listen.log" | grep -q "nothing loaded.*$pat" ||
		{ tail -n 3 "$T/listen.log"; fail "$what: listener did not log '$pat'"; }
	unchanged "$what"
	echo "ok: $what: kprop: $(tail -n 1 "$T/kprop.out")"
	echo "    listener: $(tail -n 1 "$T/listen.log" | sed 's/.*nothing loaded: //')"
}

# 1. Not in the ACL: the only line names another ticket enctype.
echo "host/$HOST@$REALM aes128-cts-hmac-sha1-96" >"$T/R/kpropd.acl"
expect_refusal "client not in ACL" "client not authorised" \
	"$LPORT" -f "$T/p2.dump" -s "$T/host.keytab" "$HOST"
grep -q "unauthorized principal host/$HOST@$REALM" "$T/listen.log" || fail "no ACL log line"
echo "host/$HOST@$REALM" >"$T/R/kpropd.acl"

# 2. Wrong key: the KDC's key for host/$HOST changes, kprop gets the new
# one, the listener's keytab still has the old one.
realm_kadmin "$T/P" "ktadd -k $T/new.keytab host/$HOST"
expect_refusal "wrong keytab key" "authentication failed" \
	"$LPORT" -f "$T/p2.dump" -s "$T/new.keytab" "$HOST"
realm_kadmin "$T/P" "ktadd -k $T/listen.keytab -norandkey host/$HOST"
cp "$T/new.keytab" "$T/host.keytab"

# Through a proxy: 3. cut, 4. flipped byte (in the second data block of a
# 30,000-principal dump).
python3 - "$T/p2.dump" "$T/big.dump" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
princ = [l for l in lines if l.startswith("princ\t") and "svc/one@" in l][0]
out = lines[:]
for i in range(30000):
    f = princ.split("\t")
    f[6] = "bulk%05d/x@KPROP.TEST" % i
    f[2] = str(len(f[6]))
    out.append("\t".join(f))
open(sys.argv[2], "w").write("".join(out))
PY
touch "$T/big.dump.dump_ok"
cp "$T/big.dump" "$T/big2.dump"
touch "$T/big2.dump.dump_ok"
proxy() {
	rm -f "$T/proxy.ready"
	PPORT=$(realm_free_port)
	proc_start proxy python3 "$PROXY" "$PPORT" "$LPORT" "$T/proxy.ready" "$@"
	for i in $(seq 1 100); do [ -f "$T/proxy.ready" ] && break; sleep 0.05; done
}
proxy --cut 100000
expect_refusal "connection cut" "transfer cut off after [1-9]" \
	"$PPORT" -f "$T/big2.dump" -s "$T/host.keytab" "$HOST"
proc_wait proxy || true
proxy --flip 50000
expect_refusal "corrupted block" "while decoding database block starting at offset 32768" \
	"$PPORT" -f "$T/big2.dump" -s "$T/host.keytab" "$HOST"
proc_wait proxy || true

# 5. Fewer bytes than announced: the dump shrinks while kprop sends it
# (throttled through the proxy); kprop reports premature EOF.
proxy --rate 2000000
(sleep 0.5 && truncate -s 100000 "$T/big.dump") &
expect_refusal "size mismatch" "client sent an error: .*Premature EOF" \
	"$PPORT" -f "$T/big.dump" -s "$T/host.keytab" "$HOST"
proc_wait proxy || true

# 6. A dump that does not parse (one mangled record in the middle).
awk 'NR==5 { sub(/\t/, "\tx") } { print }' "$T/p2.dump" >"$T/bad.dump"
touch "$T/bad.dump.dump_ok"
expect_refusal "unparsable dump" "does not parse" \
	"$LPORT" -f "$T/bad.dump" -s "$T/host.keytab" "$HOST"

# And a good one still goes through afterwards.
kprop -r "$REALM" -f "$T/p2.dump" -P "$LPORT" -s "$T/host.keytab" "$HOST" >/dev/null 2>&1 ||
	fail "kprop after the refusals failed"
realm_dump "$T/R" "$T/final.dump"
tail -n +2 "$T/p2.dump" | cmp -s - "$T/final.dump" || fail "replica differs after the final kprop"
echo "ok: a good transfer after the refusals"
proc_stop listen
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/listen.log" || fail "sanitizer report"
