#!/bin/bash
# SPDX-License-Identifier: MIT
# Master-key rollover chains run back to back on the primary, with no pause
# between the steps (add_mkey -s, use_mkey, update_princ_encryption -f,
# purge_mkeys -f), faster than its node captures them.  The node re-reads
# K/M when it captures a report, so each K/M change must wait in the KDB
# module until the node has logged that state (bridge/kdbmod/send.c):
# otherwise a replica sees only the final K/M, whose list its stash cannot
# decrypt, and stops with KS_EMKEY.  Checked here:
#   1. three chains back to back, the replica connected: it follows each
#      rollover (its node log shows its stash updated to each new kvno);
#   2. the primary's node stopped (SIGSTOP: a busy node) while a chain
#      starts: the chain waits for it instead of running past it, and
#      after SIGCONT every K/M state is captured and followed;
#   3. the replica's node stopped through two chains and started again:
#      the primary's log holds each K/M version; the replica replays them;
#   4. the primary's node down during add_mkey: kdb5_util says on stderr
#      that the node did not confirm the K/M change; the node's start-up
#      scan logs that state, and the rest of the chain is followed;
# then a principal made after the chains kinits at the replica's restarted
# krb5kdc (and one made before), the sorted dumps are equal, and the
# replica counted no KS_EMKEY.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"
# shellcheck source=SCRIPTDIR/lib/mkey.sh
. "$KS_SOURCE_DIR/tests/integration/lib/mkey.sh"

# chain KVNO: the four steps of one rollover to master key KVNO, at once
chain() {
	local k=$1
	printf 'master-pw-%s\nmaster-pw-%s\n' "$k" "$k" >"$T/pw.$k"
	on primary kdb5_util -r "$REALM" add_mkey -s <"$T/pw.$k" >>"$T/chain.out" 2>&1 || fail "add_mkey ($k)"
	on primary kdb5_util -r "$REALM" use_mkey "$k" >>"$T/chain.out" 2>&1 || fail "use_mkey $k"
	on primary kdb5_util -r "$REALM" update_princ_encryption -f >>"$T/chain.out" 2>&1 ||
		fail "update_princ_encryption ($k)"
	on primary kdb5_util -r "$REALM" purge_mkeys -f >>"$T/chain.out" 2>&1 || fail "purge_mkeys ($k)"
}
emkey() { status_field replica peers/primary/repl/errors/KS_EMKEY || echo 0; }
no_emkey() {
	[ "$(emkey)" = 0 ] || fail "$1: the replica refused a master key list (KS_EMKEY): $(grep -m1 'cannot be decrypted' "$P/replica/node.log")"
}
# followed KVNO...: the replica's node wrote each kvno's list to its stash
followed() {
	local k
	for k in "$@"; do
		grep -q "stash updated to the primary's master key list (latest kvno $k," "$P/replica/node.log" ||
			fail "the replica never saw a master key list it could follow to kvno $k"
	done
}
node_pid() { sed -n "s/^node-$1 //p" "$P/pids"; }

pair_up -n 50 --scan-interval 1h
pkq "addprinc -pw Before-pass-1 +requires_preauth before"
[ "$(stash_kvnos "$REPLICA_DIR")" = "1 " ] || fail "replica stash at start: $(stash_kvnos "$REPLICA_DIR")"

# 1. three chains back to back, the replica connected
chain 2
chain 3
chain 4
synced "three rollover chains back to back"
no_emkey "three chains"
followed 2 3 4
on primary kdb5_util -r "$REALM" list_mkeys 2>&1 | grep -q "KVNO: 3" && fail "kvno 3 survived its purge"

# 2. the primary's node stopped while a chain starts: add_mkey waits for it
ppid=$(node_pid primary)
[ -n "$ppid" ] || fail "no primary node pid"
kill -STOP "$ppid"
rm -f "$T/chain5.rc"
(
	chain 5
	echo 0 >"$T/chain5.rc"
) &
cpid=$!
sleep 3
ran_past=false
[ -e "$T/chain5.rc" ] && ran_past=true
kill -CONT "$ppid"
wait "$cpid" || fail "the chain after the node resumed"
[ -e "$T/chain5.rc" ] || fail "the chain did not finish"
# a replica shown only the final K/M stops with KS_EMKEY: say so first
for _ in $(seq 30); do
	[ "$(emkey)" -ge 1 ] && no_emkey "the chain over a stopped node"
	"$PAIR" wait "$P" 1 && break
done
$ran_past && fail "the chain ran past a stopped node (add_mkey did not wait for its capture)"
grep -q "did not confirm" "$T/chain.out" && fail "kdb5_util said a K/M change was unconfirmed: $(grep -m1 'did not confirm' "$T/chain.out")"
synced "a chain started while the primary's node was stopped"
no_emkey "the chain over a stopped node"
followed 5

# 3. the replica's node stopped through two chains: it replays each K/M
"$PAIR" node-stop "$P" replica
chain 6
chain 7
"$PAIR" node-start "$P" replica
synced "two chains made while the replica's node was down"
no_emkey "after the replica's restart"
followed 6 7

# 4. the primary's node down during add_mkey: kdb5_util says so
"$PAIR" node-stop "$P" primary
printf 'master-pw-8\nmaster-pw-8\n' >"$T/pw.8"
on primary kdb5_util -r "$REALM" add_mkey -s <"$T/pw.8" >"$T/add8.out" 2>&1 || fail "add_mkey (8)"
grep -q "did not confirm that it captured this state (no node listens there)" "$T/add8.out" ||
	fail "kdb5_util did not say that no node captured the K/M change: $(cat "$T/add8.out")"
"$PAIR" node-start "$P" primary
synced "add_mkey made while the primary's node was down"
on primary kdb5_util -r "$REALM" use_mkey 8 >>"$T/chain.out" 2>&1 || fail "use_mkey 8"
on primary kdb5_util -r "$REALM" update_princ_encryption -f >>"$T/chain.out" 2>&1 || fail "update_princ_encryption (8)"
on primary kdb5_util -r "$REALM" purge_mkeys -f >>"$T/chain.out" 2>&1 || fail "purge_mkeys (8)"
pkq "addprinc -pw After-pass-1 +requires_preauth after"
synced "the rest of that chain and a principal made after it"
no_emkey "after all chains"
followed 8
case "$(stash_kvnos "$REPLICA_DIR")" in *8*) ;; *) fail "replica stash lacks kvno 8: $(stash_kvnos "$REPLICA_DIR")" ;; esac
on replica kdb5_util -r "$REALM" list_mkeys >"$T/lm" 2>&1 || { cat "$T/lm" >&2; fail "replica kdb5_util list_mkeys"; }
grep -q "KVNO: 8" "$T/lm" || fail "replica list_mkeys: $(cat "$T/lm")"
replica_kdc_restart
kinit_at replica before Before-pass-1 || fail "kinit (made before the chains) at the restarted replica KDC"
kinit_at replica after After-pass-1 || fail "kinit (made after the chains) at the restarted replica KDC"
dumps_equal || fail "dumps differ at the end"
echo "PASS: master-key rollover chains run back to back are followed"
