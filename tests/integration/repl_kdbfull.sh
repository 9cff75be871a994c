#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The replica's KDB on a full file system (a 3 MiB tmpfs in a private mount
# namespace of this test): changes made on the primary are not applied
# (never a torn KDB), status says "KDB filesystem full", the node stays up
# and its KDB stays readable; once space is freed the replica catches up by
# itself and the dumps are equal; meanwhile the link stays up (applying and
# acknowledging pause; an ACK of the applied position keeps the primary
# from timing it out).  The same for a full copy (snapshot).  Skipped (77) where mounts are not allowed.
if [ -z "${KS_IN_MNTNS:-}" ]; then
	if ! unshare -m --propagation private true 2>/dev/null; then
		echo "SKIP: cannot make a private mount namespace"
		exit 77
	fi
	KS_IN_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up
rpid() { sed -n 's/^node-replica //p' "$P/pids"; }

# move the replica's KDB onto a small tmpfs
"$PAIR" node-stop "$P" replica || fail "replica stop"
mkdir "$T/kdbfs"
mount -t tmpfs -o size=3m,mode=0700 tmpfs "$T/kdbfs" || fail "tmpfs mount"
umount_kdbfs() { umount "$T/kdbfs" 2>/dev/null || true; }
trap 'ks_rc=$?; umount_kdbfs; set +e; (exit $ks_rc); cleanup' EXIT
cp -a "$REPLICA_DIR"/principal* "$T/kdbfs/"
sed -i "s|database_name = .*|database_name = $T/kdbfs/principal|" "$REPLICA_KDC_PROFILE"
# leave 600 KiB: less than any batch needs (the 1 MiB reserve)
avail=$(($(stat -f -c '%a * %S' "$T/kdbfs")))
fallocate -l $((avail - 600 * 1024)) "$T/kdbfs/filler" || fail "fallocate"
"$PAIR" node-start "$P" replica || fail "replica start"
pid=$(rpid)
"$PAIR" wait "$P" 30 || fail "replica not in sync before the changes"
connects=$(status_field replica peers/primary/connects)

for i in $(seq 1 15); do
	pkq "addprinc -randkey full/p$i"
done
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null || true
# kdb_full_is PATTERN: the replica's status kdb_full reason matches PATTERN
kdb_full_is() {
	[[ "$(status_field replica kdb_full)" == $1 ]]
}
deadline=$((SECONDS + 30))
until kdb_full_is "KDB filesystem full*"; do
	[ $SECONDS -lt $deadline ] || fail "status never said 'KDB filesystem full': $(status_json replica)"
	sleep 0.3
done
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status | grep "^kdb:"
grep -q "KDB filesystem full: '$T/kdbfs' has [0-9]* bytes free" "$REPLICA_DIR/node.log" ||
	fail "no log line about the full KDB file system"
sleep 3
{ [ "$(rpid)" = "$pid" ] && kill -0 "$pid"; } || fail "the replica node died"
dump_of replica "$T/r-full.dump" # readable: not torn
! grep -q "full/p" "$T/r-full.dump" || fail "changes applied to a full KDB"

# space returns: the replica catches up without help
rm -f "$T/kdbfs/filler"
t0=$SECONDS
converge 60
echo "caught up $((SECONDS - t0)) s after space was freed"
st=$(status_json replica) || fail "no status from the replica"
! json_get "$st" kdb_full || fail "status still says the KDB is full"
replica_has full/p15 || fail "full/p15 missing on the replica"
[ "$(rpid)" = "$pid" ] || fail "the replica node was restarted"
# applying paused, the link kept: no reset, no redial
# (a reset ends the session with an error: counted by code since the start)
errs=$(status_field replica peers/primary/repl/errors) || fail "no repl status on the replica"
[ "$errs" = "{}" ] || fail "the link was reset while the KDB was full: $errs"
[ "$(status_field replica peers/primary/connects)" = "$connects" ] ||
	fail "the replica redialled while the KDB was full ($connects -> $(status_field replica peers/primary/connects))"
grep -q "the link is kept and applying resumes by itself" "$REPLICA_DIR/node.log" || fail "no log line about the pause"

# a full copy (the replica's store removed) into a full KDB file system:
# abandoned, the KDB left as it was; done once there is room
"$PAIR" node-stop "$P" replica || fail "replica stop"
rm -rf "$REPLICA_DIR/node/store"
pkq "addprinc -randkey full/after"
avail=$(($(stat -f -c '%a * %S' "$T/kdbfs")))
fallocate -l $((avail - 600 * 1024)) "$T/kdbfs/filler" || fail "fallocate"
"$PAIR" node-start "$P" replica || fail "replica start"
deadline=$((SECONDS + 30))
until kdb_full_is "KDB filesystem full*snapshot abandoned*"; do
	[ $SECONDS -lt $deadline ] || fail "a full copy into a full KDB file system was not refused: $(status_json replica)"
	sleep 0.3
done
dump_of replica "$T/r-full2.dump"
! grep -q "full/after" "$T/r-full2.dump" || fail "the full copy reached the KDB"
! compgen -G "$T/kdbfs/*~*" >/dev/null || fail "a side database was left behind: $(ls "$T/kdbfs")"
rm -f "$T/kdbfs/filler"
t0=$SECONDS
converge 60
echo "full copy done $((SECONDS - t0)) s after space was freed"
replica_has full/after || fail "full/after missing on the replica"
"$PAIR" down "$P"
umount_kdbfs
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$REPLICA_DIR/node.log" || fail "sanitizer report"
echo "kdb full: ok"
