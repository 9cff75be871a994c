#!/bin/bash
# SPDX-License-Identifier: MIT
# Master-key rollover on the primary, followed by the replica (bridge/mkey.c):
#   add_mkey -s -> use_mkey 2 -> update_princ_encryption -f -> purge_mkeys -f
# on the primary, each captured by the KDB module and applied at once; the
# replica's node writes the new master key list to its own stash (0600)
# before the purge makes its old key useless, so the replica's kdb5_util,
# kadmin.local and a RESTARTED krb5kdc keep working (kinit of principals
# made before and after the rollover).  A replica whose node was down
# through two rollovers follows each from the log.  A rollover its stash
# cannot follow (two more while its node is down and its store lost: the
# full copy's master key list holds none of the keys in its stash) is
# refused: nothing applied, status and log say why, its tools still work;
# after the operator puts the new key in its stash, it catches up.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"
# shellcheck source=SCRIPTDIR/lib/mkey.sh
. "$KS_SOURCE_DIR/tests/integration/lib/mkey.sh"

pair_up --scan-interval 1h
pkq "addprinc -pw Before-pass-1 +requires_preauth before"
[ "$(stash_kvnos "$REPLICA_DIR")" = "1 " ] || fail "replica stash at start: $(stash_kvnos "$REPLICA_DIR")"

# 1. the whole chain, followed
printf 'second-master-pw\nsecond-master-pw\n' | on primary kdb5_util -r "$REALM" add_mkey -s >/dev/null 2>&1 ||
	fail "add_mkey"
synced "add_mkey -s"
[ "$(stash_kvnos "$REPLICA_DIR")" = "1 2 " ] || fail "replica stash after add_mkey: $(stash_kvnos "$REPLICA_DIR")"
[ "$(stat -c %a "$REPLICA_DIR/stash")" = 600 ] || fail "replica stash mode $(stat -c %a "$REPLICA_DIR/stash")"
on primary kdb5_util -r "$REALM" use_mkey 2 >/dev/null 2>&1 || fail "use_mkey"
synced "use_mkey 2"
on primary kdb5_util -r "$REALM" update_princ_encryption -f >/dev/null 2>&1 || fail "update_princ_encryption"
synced "update_princ_encryption -f"
on primary kdb5_util -r "$REALM" purge_mkeys -f >/dev/null 2>&1 || fail "purge_mkeys"
synced "purge_mkeys -f"
pkq "addprinc -pw After-pass-1 +requires_preauth after"
synced "a principal made under the new master key"
on replica kdb5_util -r "$REALM" list_mkeys >"$T/lm" 2>&1 || { cat "$T/lm" >&2; fail "replica kdb5_util list_mkeys"; }
grep -q "KVNO: 2" "$T/lm" || fail "replica list_mkeys: $(cat "$T/lm")"
on replica kadmin.local -r "$REALM" -q "getprinc after" 2>&1 | grep -q "^Principal: after@" ||
	fail "replica kadmin.local"
replica_kdc_restart
kinit_at replica before Before-pass-1 || fail "kinit (made before the rollover) at the restarted replica KDC"
kinit_at replica after After-pass-1 || fail "kinit (made after the rollover) at the restarted replica KDC"
echo "PASS: replica kdb5_util, kadmin.local and a restarted krb5kdc work after the chain"

# step CMD...: one kdb5_util step on the primary, then check that the
# primary's node logged it (each K/M change waits for its capture in the
# KDB module; chains run back to back are repl_mkey_fast's).
step() {
	local before deadline
	before=$(status_field primary last_seq) || fail "no last_seq in the primary's status"
	"$@" >/dev/null 2>&1 || fail "$*"
	deadline=$((SECONDS + 20))
	until [ "$(status_field primary last_seq)" -gt "$before" ]; do
		[ $SECONDS -lt $deadline ] || fail "the primary did not log: $*"
		sleep 0.05
	done
}
# rollover KVNO...: whole chains on the primary, one per kvno
rollover() {
	local k
	for k in "$@"; do
		printf 'master-pw-%s\nmaster-pw-%s\n' "$k" "$k" >"$T/pw"
		step on primary kdb5_util -r "$REALM" add_mkey -s <"$T/pw"
		step on primary kdb5_util -r "$REALM" use_mkey "$k"
		step on primary kdb5_util -r "$REALM" update_princ_encryption -f
		step on primary kdb5_util -r "$REALM" purge_mkeys -f
	done
}

# 2. a replica that was down through two rollovers follows each from the log
"$PAIR" node-stop "$P" replica
rollover 3 4
"$PAIR" node-start "$P" replica
synced "two rollovers made while the replica's node was down"
case "$(stash_kvnos "$REPLICA_DIR")" in *4*) ;; *) fail "replica stash lacks kvno 4: $(stash_kvnos "$REPLICA_DIR")" ;; esac
replica_kdc_restart
kinit_at replica after After-pass-1 || fail "kinit at the restarted replica KDC after two rollovers"

# 3. a rollover the replica's stash cannot follow is refused: two more
#    while its node is down and its store lost, so it gets a full copy
#    whose master key list holds none of the keys in its stash
"$PAIR" node-stop "$P" replica
stash_before=$(stash_kvnos "$REPLICA_DIR")
rollover 5 6
on primary kdb5_util -r "$REALM" list_mkeys 2>&1 | grep -q "KVNO: 4" && fail "kvno 4 survived two purges"
rm -rf "${REPLICA_DIR:?}/node/store"
pkq "addprinc -pw Third-pass-1 third"
"$PAIR" node-start "$P" replica
emkey() { status_field replica peers/primary/repl/errors/KS_EMKEY || echo 0; }
for _ in $(seq 100); do
	[ "$(emkey)" -ge 1 ] && break
	sleep 0.1
done
[ "$(emkey)" -ge 1 ] ||
	fail "replica status counts no KS_EMKEY error: $(status_field replica peers/primary/repl)"
grep -q "cannot be decrypted with this KDC's stash" "$P/replica/node.log" || fail "replica log does not say why"
replica_has third && fail "the refused batch was applied in part"
on replica kdb5_util -r "$REALM" list_mkeys >/dev/null 2>&1 || fail "replica tools broken by the refused rollover"
[ "$(stash_kvnos "$REPLICA_DIR")" = "$stash_before" ] || fail "replica stash changed: $(stash_kvnos "$REPLICA_DIR")"
echo "PASS: an unfollowable rollover refused; status and log say why; the replica keeps working"
# the operator puts the new key in the replica's stash: it catches up
cp "$PRIMARY_DIR/stash" "$REPLICA_DIR/stash"
synced "after the operator's stash fix"
replica_kdc_restart
kinit_at replica after After-pass-1 || fail "kinit at the restarted replica KDC after the fix"
echo "PASS: master-key rollover followed"
