#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A damaged replica KDB never makes the node crash or crash-loop.
# 1. The replica's principal database garbled while its node is stopped (as
#    DB2 on a full file system leaves it): at start the node finds the
#    damage (the check runs in a child process), rebuilds the KDB from its
#    store through a side database, says so in the log and in status; the
#    dumps are equal, kinit against the replica's KDC works, and it applies
#    new changes again.
# 2. A damage it cannot fix (the KDB directory read-only, a bind mount in a
#    private mount namespace of this test): the node stays up, applies
#    nothing, status --json says why; once the directory is writable again
#    it rebuilds by itself.  Part 2 is skipped (said so) where mounts are
#    not allowed.
if [ -z "${KS_IN_MNTNS:-}" ] && unshare -m --propagation private true 2>/dev/null; then
	KS_IN_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up
rpid() { sed -n 's/^node-replica //p' "$P/pids"; }
replica_dump_fails() {
	! KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		kdb5_util -r "$REALM" dump "$T/broken.dump" >/dev/null 2>&1
}
# garble DBFILE: random bytes over pages 3..6 of a principal database
garble() {
	dd if=/dev/urandom of="$1" bs=4096 seek=3 count=4 conv=notrunc status=none
}
# wait_kdb STATE SECONDS: status --json kdb/state reaches STATE
wait_kdb() {
	local deadline=$((SECONDS + $2))
	until [ "$(status_field replica kdb/state 2>/dev/null)" = "$1" ]; do
		[ $SECONDS -lt $deadline ] || fail "kdb state never became '$1': $(status_json replica)"
		sleep 0.3
	done
}

pkq "addprinc -pw Rebuild-pw1 alice"
for i in $(seq 1 60); do pkq "addprinc -randkey rb/p$i"; done
converge 60

# --- 1. damaged while stopped: rebuilt at start ---------------------------
"$PAIR" node-stop "$P" replica || fail "replica stop"
garble "$REPLICA_DIR/principal"
replica_dump_fails || fail "the garbled KDB still dumps: the test damages nothing"
"$PAIR" node-start "$P" replica || fail "replica start"
pid=$(rpid)
wait_kdb ok 60
[ "$(status_field replica kdb/rebuilds)" = 1 ] || fail "no rebuild counted: $(status_json replica)"
status_field replica kdb/last_rebuild | grep -q "KDB rebuilt from the store" ||
	fail "status does not say the KDB was rebuilt: $(status_json replica)"
grep -q "KDB damaged (.*): rebuilding it from the store (.*records.*krb5kdc serves the old file until the swap; lockout counters are not merged" \
	"$REPLICA_DIR/node.log" || fail "no log line about the rebuild"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status | grep "^kdb state:"
converge 60
kinit_at replica alice Rebuild-pw1 || { cat "$T/kinit.out"; fail "kinit against the rebuilt replica"; }
pkq "addprinc -randkey rb/after"
converge 60
replica_has rb/after || fail "rb/after not applied after the rebuild"
[ "$(rpid)" = "$pid" ] && kill -0 "$pid" || fail "the replica node died"
echo "part 1 (rebuilt at start): ok"

# --- 2. a damage it cannot fix: stays up, says why, fixes it later ---------
if [ -z "${KS_IN_MNTNS:-}" ]; then
	echo "SKIP part 2: cannot make a private mount namespace for a read-only KDB directory"
	"$PAIR" down "$P"
	exit 0
fi
"$PAIR" node-stop "$P" replica || fail "replica stop"
mkdir "$T/kdbdir"
cp -a "$REPLICA_DIR"/principal* "$T/kdbdir/"
sed -i "s|database_name = .*|database_name = $T/kdbdir/principal|" "$REPLICA_KDC_PROFILE"
garble "$T/kdbdir/principal"
mount --bind "$T/kdbdir" "$T/kdbdir" || fail "bind mount"
umount_kdbdir() { umount "$T/kdbdir" 2>/dev/null || true; }
trap 'ks_rc=$?; umount_kdbdir; set +e; (exit $ks_rc); cleanup' EXIT
mount -o remount,ro,bind "$T/kdbdir" || fail "read-only remount"
pkq "addprinc -randkey rb/broken"
"$PAIR" node-start "$P" replica || fail "replica start"
pid=$(rpid)
wait_kdb damaged 60
err=$(status_field replica kdb/error)
echo "status --json kdb/error: $err"
case $err in
*"rebuilding it from the store failed"*) ;;
*) fail "kdb/error does not say why: $err" ;;
esac
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status | grep "^kdb state: damaged" || fail "status text"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" metrics >"$T/metrics.txt" || fail "kdcsync metrics"
grep -q '^kdcsync_kdb_damaged 1' "$T/metrics.txt" || fail "metrics: $(grep kdb "$T/metrics.txt")"
sleep 4
{ [ "$(rpid)" = "$pid" ] && kill -0 "$pid"; } || fail "the replica node died"
! replica_has rb/broken || fail "applied to a KDB it could not fix"
# writable again: the retry rebuilds without a restart
umount_kdbdir
t0=$SECONDS
wait_kdb ok 60
echo "rebuilt $((SECONDS - t0)) s after the directory became writable"
[ "$(status_field replica kdb/rebuilds)" -ge 1 ] || fail "no rebuild counted"
[ "$(rpid)" = "$pid" ] || fail "the replica node was restarted"
converge 90
replica_has rb/broken || fail "rb/broken missing after the fix"
"$PAIR" down "$P"
# the check child may crash on the garbled file (that is its purpose: under
# ASan the crash is reported); any other sanitizer report fails the test
reports=$(grep -c 'ERROR: AddressSanitizer\|runtime error' "$REPLICA_DIR/node.log" || true)
in_check=$(grep -c ' in node_kdb_check_main ' "$REPLICA_DIR/node.log" || true)
[ "$reports" = "$in_check" ] || fail "sanitizer report outside the KDB check child"
echo "kdb rebuild: ok"
