#!/bin/bash
# SPDX-License-Identifier: MIT
# kdcsync verify PEER when most records differ (a replica whose KDB was
# replaced by another dump), with [node] verify_memory at its minimum
# (64K) on both nodes, so that each side lists its KDB's differing
# buckets over several reads (kdbindex.c) instead of holding them all:
# the list of differing keys is still exact, from either end.  The
# replica's KDB gets, behind its node's back, a load of its own dump with
# the max_life of 2,000 principals changed, 150 principals removed and
# 150 added; the oracle is that edit itself.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

verify_at() { # primary|replica PEER OUT: run verify, echo its exit status
	local c rc=0
	[ "$1" = replica ] && c=$REPLICA_NODE_CONF || c=$PRIMARY_NODE_CONF
	"$KDCSYNC" -c "$c" verify "$2" --timeout 600 >"$3" 2>"$3.err" || rc=$?
	echo $rc
}

pair_up -n 3000
for h in primary replica; do
	"$PAIR" node-stop "$P" $h || fail "$h stop"
done
sed -i '/^\[node\]/a\	verify_memory = 64K' "$PRIMARY_NODE_CONF" "$REPLICA_NODE_CONF"
for h in primary replica; do
	"$PAIR" node-start "$P" $h || fail "$h start"
done
"$PAIR" wait "$P" 60 || fail "replica not in sync"
rc=$(verify_at replica primary "$T/v0")
[ "$rc" = 0 ] || { cat "$T/v0" "$T/v0.err"; fail "verify after sync: exit $rc"; }

# The replica's KDB replaced, behind its node's back: principals user*
# (pair.sh -n names) 1..2000 with max_life + 1, 2001..2150 gone, and 150
# new ones (copies of 2151..2300 named rogu*: same name length).
"$PAIR" node-stop "$P" replica || fail "replica stop"
host_conf replica
KRB5_CONFIG=$HOST_C KRB5_KDC_PROFILE=$HOST_K kdb5_util -r "$REALM" dump "$T/r.orig" ||
	fail "dump of the replica"
awk -F'\t' -v OFS='\t' -v M="$T/mod" -v D="$T/del" -v A="$T/add" '
	$1 == "princ" && match($7, /^user[0-9]+@/) {
		n = substr($7, 5, RLENGTH - 5) + 0
		if (n <= 2000) { $9 = $9 + 1; print $7 >M }
		else if (n <= 2150) { print $7 >D; next }
		else if (n <= 2300) {
			print
			sub(/^user/, "rogu", $7); print $7 >A
		}
	}
	{ print }' "$T/r.orig" >"$T/r.new"
[ "$(wc -l <"$T/mod")" = 2000 ] && [ "$(wc -l <"$T/del")" = 150 ] &&
	[ "$(wc -l <"$T/add")" = 150 ] || fail "the edit did not find the pair.sh -n principals"
KRB5_CONFIG=$HOST_C KRB5_KDC_PROFILE=$HOST_K kdb5_util -r "$REALM" load "$T/r.new" ||
	fail "load into the replica's KDB"
"$PAIR" node-start "$P" replica || fail "replica start"
"$PAIR" wait "$P" 60 || fail "replica did not resume"

# want REPLICA-END?: the exact lines (the verifying end names the pair)
want() {
	local me=$1 peer=$2
	while read -r k; do
		printf '%s\n' "KDBs differ ($me, $peer): P$k" "replica: KDB differs from store: P$k"
	done <"$T/mod"
	while read -r k; do
		printf '%s\n' "only in primary's KDB: P$k" "replica: only in its store: P$k"
	done <"$T/del"
	while read -r k; do
		printf '%s\n' "only in replica's KDB: P$k" "replica: only in its KDB: P$k"
	done <"$T/add"
}
keys() { grep '^  ' "$1" | grep -v ': *history [0-9a-f]* seq ' | sed 's/  */ /g; s/^ //' | LC_ALL=C sort; }

for end in replica primary; do
	[ $end = replica ] && peer=primary || peer=replica
	rc=$(verify_at $end $peer "$T/d.$end")
	head -n 1 "$T/d.$end"
	[ "$rc" = 1 ] || { cat "$T/d.$end" "$T/d.$end.err"; fail "verify from the $end: exit $rc"; }
	grep -q "^differ: 2300 keys differ between this node ($end) and '$peer': 0 between the stores, 2300 between the KDBs, " "$T/d.$end" ||
		fail "wrong counts from the $end: $(head -n 1 "$T/d.$end")"
	keys "$T/d.$end" >"$T/d.$end.keys"
	want $end $peer | LC_ALL=C sort >"$T/d.$end.want"
	diff "$T/d.$end.want" "$T/d.$end.keys" >"$T/d.$end.diff" ||
		{ head -n 20 "$T/d.$end.diff"; fail "the $end's list of differing keys"; }
done
# each side read its KDB more than twice (the listings did not fit 64K)
grep -q "reads of this node's KDB: [3-9]" "$P/replica/node.log" ||
	fail "the replica listed its KDB in one read: $(grep "verify with" "$P/replica/node.log")"
echo "PASS: verify PEER with 2,300 of 3,001 records differing and verify_memory = 64K: the exact 4,600-line list from both ends"
