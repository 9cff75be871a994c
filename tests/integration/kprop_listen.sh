#!/bin/bash
# SPDX-License-Identifier: MIT
# stock kprop -f DUMP -> kdcsync kpropd: after kprop's SUCCEEDED the
# replica's dump equals the primary's, a password principal kinits against
# the replica's KDC, and the node's store holds the records (so the node
# can serve them on: a kdcsync kprop from the replica's store to a stock
# kpropd yields the same dump again).  A second connection during a
# transfer is refused cleanly.
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"

primary_init
replica_init R
export KRB5_CONFIG=$T/P/krb5.conf
(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/p.dump")

LPORT=$(realm_free_port)
RCONF=$(kconf r "$T/rstate" "$T/R/kdc.conf" "	listen = 127.0.0.1:$LPORT
	acl_file = $T/R/kpropd.acl")
mkdir -p "$T/rstate"
# the listener: replica realm's profile, host keytab
proc_start listen env KRB5_CONFIG="$T/R/krb5.conf" KRB5_KDC_PROFILE="$T/R/kdc.conf" \
	KRB5RCACHEDIR="$T/R" "$KDCSYNC" -c "$RCONF" kpropd --port-file "$T/lport"
wait_port "$LPORT"

out=$(kprop -r "$REALM" -f "$T/p.dump" -P "$LPORT" -s "$T/host.keytab" "$HOST" 2>&1) ||
	{ echo "$out"; fail "stock kprop into the listener failed"; }
grep -q "Database propagation to $HOST: SUCCEEDED" <<<"$out" || fail "kprop said: $out"
realms_equal P R || fail "replica dump differs after stock kprop"
grep -q 'full propagation from host/'"$HOST"'@'"$REALM"'.*loaded' "$T/listen.log" ||
	fail "listener log does not show the load"
realm_kdc_start "$T/R"
realm_kinit "$T/R" "alice@$REALM" Alice-pass-1 || fail "alice cannot kinit against the replica"
realm_kdc_stop "$T/R"
n=$( (realm_env "$T/R" && "$TOOL" storeinfo "$T/rstate/store") 2>"$T/storeinfo.log" | sed -n 's/.*records \([0-9]*\).*/\1/p')
[ "$n" = "$(($(wc -l <"$T/p.dump") - 1))" ] || { cat "$T/storeinfo.log"; fail "store holds $n records"; }
echo "ok: stock kprop -> kdcsync listener ($n records in the store)"

# The store now serves: push it on from the replica node to a stock kpropd.
replica_init R2
K2=$(realm_free_port)
stock_kpropd R2 "$K2"
RPUSH=$(kconf rp "$T/rstate" "$T/R/kdc.conf")
KRB5_CONFIG=$T/P/krb5.conf "$KDCSYNC" -c "$RPUSH" kprop "$HOST:$K2" >/dev/null 2>"$T/chain.err" ||
	{ cat "$T/chain.err"; fail "push from the replica's store failed"; }
realms_equal P R2 || fail "chained replica differs"
proc_stop kpropd-R2
echo "ok: replica's store pushed on to a stock kpropd"

# Second connection during a transfer: a big dump, a raw connection made
# while it runs is closed at once; the transfer still succeeds.
python3 - "$T/p.dump" "$T/big.dump" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines(True)
princ = [l for l in lines if l.startswith("princ\t") and "svc/one@" in l][0]
out = lines[:]
for i in range(60000):
    name = "bulk%05d/x@KPROP.TEST" % i
    f = princ.split("\t")
    old = f[6]
    f[6] = name
    f[2] = str(len(name))
    out.append("\t".join(f))
open(dst, "w").write("".join(out))
PY
touch "$T/big.dump.dump_ok"
nconn=$(grep -c 'kprop: connection from' "$T/listen.log")
kprop -r "$REALM" -f "$T/big.dump" -P "$LPORT" -s "$T/host.keytab" "$HOST" >"$T/big.out" 2>&1 &
PIDS[bigkprop]=$!
# Connect only once the listener has accepted the big transfer (its
# "connection from" line), not after a fixed sleep: a loaded machine may
# start kprop late, and the transfer must still be running when we dial.
for _ in $(seq 1 500); do
	[ "$(grep -c 'kprop: connection from' "$T/listen.log")" -gt "$nconn" ] && break
	sleep 0.01
done
python3 - "$LPORT" <<'PY' || fail "second connection was not closed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.settimeout(30)
data = s.recv(10)
sys.exit(0 if data == b"" else 1)
PY
proc_wait bigkprop || { cat "$T/big.out"; fail "big kprop failed"; }
grep -q 'refused a connection from 127.0.0.1: a transfer is in progress' "$T/listen.log" ||
	fail "no refusal logged"
realm_dump "$T/R" "$T/R.big"
[ "$(grep -c '^princ.*bulk' "$T/R.big")" = 60000 ] || fail "big dump not loaded"
echo "ok: second connection refused during a transfer"
proc_stop listen
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/listen.log" || fail "sanitizer report"
