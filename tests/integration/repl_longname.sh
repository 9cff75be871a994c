#!/bin/bash
# SPDX-License-Identifier: MIT
# Principal names longer than LMDB's 511-byte key limit (issue 10 item 6;
# store.h "Long keys") on a loopback pair with the scan interval at an
# hour: a 600-byte and a 2,000-byte name (and a 700-byte one sharing the
# first 560 bytes of the 600-byte one) made with kadmin.local on the
# primary reach the replica by capture; the sorted dumps are equal;
# `kdcsync verify` (KDB against store) exits 0 on both nodes and
# `kdcsync verify PEER` (digests, bucket bisection) reports equal; kinit of
# the long principals works against the replica's KDC; a change and a
# delete of a long principal follow; a full snapshot into an empty replica
# state directory carries them; a scan of the primary changes nothing and
# nothing is skipped.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

# name_of LEN HEAD: a principal name (with realm) of exactly LEN bytes.
name_of() {
	python3 -c 'import sys
n, head, realm = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = n - len(head) - 1 - len(realm)
tail = ("host" + "".join(".d%03d" % i for i in range(400)))[:body]
print(head + tail + "@" + realm)' "$1" "$2" "$REALM"
}

verify_ok() { # verify_ok primary|replica [PEER]
	local c out rc=0
	[ "$1" = replica ] && c=$REPLICA_NODE_CONF || c=$PRIMARY_NODE_CONF
	out=$("$KDCSYNC" -c "$c" verify ${2:+"$2"} 2>&1) || rc=$?
	[ "$rc" = 0 ] || { echo "$out" | cut -c1-300 >&2; fail "kdcsync verify ${2:-} on $1: exit $rc"; }
}

pair_up -n 50 --scan-interval 1h
long600=$(name_of 600 "HTTP/")
long700=$(name_of 700 "HTTP/")
long2000=$(name_of 2000 "svc/")
if [ "${#long600}" != 600 ] || [ "${#long2000}" != 2000 ]; then fail "name lengths"; fi
[ "${long600:0:560}" = "${long700:0:560}" ] || fail "shared prefix"
n600=${long600%@*} n700=${long700%@*} n2000=${long2000%@*}

pkq "addprinc -pw Long-pass-600 $n600" "addprinc -randkey $n700" \
	"addprinc -pw Long-pass-2000 $n2000"
"$PAIR" wait "$P" 30 || fail "replica not in sync"
deadline=$((SECONDS + 20))
until dumps_equal; do
	[ $SECONDS -lt $deadline ] || { diff "$T/p.dump" "$T/r.dump" | cut -c1-200 | head >&2; fail "dumps differ after capture"; }
	sleep 0.2
done
grep -c "^princ" "$T/r.dump" | grep -q . || fail "empty dump"
for n in "$long600" "$long700" "$long2000"; do
	grep -qF "	$n	" "$T/r.dump" || fail "replica lacks a ${#n}-byte name"
done
echo "long names captured and applied (600, 700, 2000 bytes)"

verify_ok primary
verify_ok replica
verify_ok replica primary
verify_ok primary replica
echo "kdcsync verify: exit 0 on both nodes, and against the peer"

kinit_at replica "$n600" Long-pass-600 || fail "kinit of the 600-byte name at the replica"
kinit_at replica "$n2000" Long-pass-2000 || fail "kinit of the 2000-byte name at the replica"
echo "kinit of the long principals against the replica's KDC works"

pkq "cpw -pw Long-pass-2000b $n2000" "modprinc -maxlife 2h $n600" "delprinc -force $n700"
"$PAIR" wait "$P" 30 || fail "replica not in sync after changes"
deadline=$((SECONDS + 20))
until dumps_equal; do
	[ $SECONDS -lt $deadline ] || fail "dumps differ after change/delete"
	sleep 0.2
done
grep -qF "	$long700	" "$T/r.dump" && fail "deleted long name still on the replica"
kinit_at replica "$n2000" Long-pass-2000b || fail "kinit with the changed password"
verify_ok replica
verify_ok replica primary

# A full snapshot into an empty replica state directory (staging path).
"$PAIR" node-stop "$P" replica
rm -rf "${REPLICA_DIR:?}/node/store"
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "replica did not resync"
[ "$(full_transfers replica)" -ge 1 ] || fail "no full snapshot after wiping the store"
dumps_equal || fail "dumps differ after the full snapshot"
verify_ok replica
verify_ok replica primary
echo "full snapshot with long names: equal, verify exit 0"

# A scan on the primary finds nothing to change and skips nothing.
seq0=$(status_field primary last_seq)
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null || fail "kdcsync snapshot"
seq1=$(status_field primary last_seq)
[ "$seq0" = "$seq1" ] || fail "a scan logged changes ($seq0 -> $seq1)"
[ "$(status_field primary capture/scan_skipped_names)" = 0 ] || fail "the primary skipped names (too long)"
verify_ok primary
echo "scan: no change, nothing skipped"
