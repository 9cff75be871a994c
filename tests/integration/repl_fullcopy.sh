#!/bin/bash
# SPDX-License-Identifier: MIT
# Full copies of a realistic realm (bench/gen_realm.py: own random keys,
# varied names, so the copy is megabytes on the wire, not kilobytes) into a
# replica whose state directory was emptied, while its KDC keeps serving:
#   1. a copy killed mid-stream (SIGKILL of the replica's node while it
#      stages): the KDC still serves the old database, unchanged, and the
#      next start copies again from scratch and converges;
#   2. a copy whose receiver stalls (SIGSTOP for longer than the primary's
#      keepalive interval, so the primary's write queue fills and its
#      keepalive timer fires mid-transfer): the stream stays well-formed
#      and the copy completes in one transfer, no reset; principals added,
#      changed and deleted on the primary meanwhile, before and after the
#      slices already read (the snapshot reads each slice in its own
#      transaction), are on the replica afterwards: the dumps are equal.
# A kinit against the replica's KDC works throughout.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

N=${FULLCOPY_N:-60000}
pair_up_generated "$N"
pkq "addprinc -pw Fullcopy-pass-1 early"
"$PAIR" wait "$P" 60 || fail "replica not in sync"
kinit_at replica early Fullcopy-pass-1 || fail "kinit early against the replica"
dump_of replica "$T/before.dump"

replica_pid() { sed -n 's/^node-replica //p' "$P/pids"; }
replica_log_has() { grep -q "$1" "$REPLICA_DIR/node.log"; }
# restart the replica's node with an empty state directory
empty_replica() {
	"$PAIR" node-stop "$P" replica "${1:-TERM}"
	rm -rf "${REPLICA_DIR:?}/node/"*
	: >"$REPLICA_DIR/node.log"
	"$PAIR" node-start "$P" replica
}
# until the replica has staged at least one chunk of the copy
staging() {
	local d=$((SECONDS + 60))
	until replica_log_has 'receiving a full snapshot'; do
		[ $SECONDS -lt $d ] || fail "the replica did not start receiving"
		sleep 0.05
	done
	sleep "${1:-0.3}"
}

# 1. killed mid-stream
empty_replica
staging 0.5
kinit_at replica early Fullcopy-pass-1 || fail "kinit during the copy"
if replica_log_has 'transfer peer=primary direction=receive'; then
	echo "note: the copy finished before the kill; part 1 checks less" >&2
fi
"$PAIR" node-stop "$P" replica KILL
kinit_at replica early Fullcopy-pass-1 || fail "kinit after the killed copy"
dump_of replica "$T/killed.dump"
cmp -s "$T/before.dump" "$T/killed.dump" || fail "the killed copy changed the served KDB"
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 120 || fail "no sync after the killed copy"
dumps_equal || fail "dumps differ after the killed copy"
echo "killed copy: the KDC kept serving the old KDB; the restart converged"

# 2. the receiver stalls past the keepalive interval
sed -i 's/^\(\s*keepalive_interval\s*=\).*/\1 100ms/' "$PRIMARY_NODE_CONF"
grep -q 'keepalive_interval = 100ms' "$PRIMARY_NODE_CONF" || fail "keepalive_interval not set"
"$PAIR" node-stop "$P" primary
"$PAIR" node-start "$P" primary
"$PAIR" wait "$P" 60 || fail "no sync after the primary's restart"
# principals at both ends of the key order (already sent / still to come)
awk -F'\t' '$1 == "princ" { print $7 }' "$W/gen.dump" | LC_ALL=C sort >"$T/names"
mapfile -t ends < <({ head -n 2 "$T/names"; tail -n 2 "$T/names"; } | sed "s/@$REALM\$//")
[ ${#ends[@]} = 4 ] || fail "no generated names"
empty_replica
staging 0.2
pid=$(replica_pid)
kill -STOP "$pid"
pkq "addprinc -pw Fullcopy-pass-2 aaa-during" "addprinc -pw Fullcopy-pass-2 zzz-during" \
	"delprinc -force ${ends[0]}" "cpw -randkey ${ends[1]}" \
	"delprinc -force ${ends[3]}" "cpw -randkey ${ends[2]}"
sleep 1.5
kill -CONT "$pid"
kinit_at replica early Fullcopy-pass-1 || fail "kinit after the stall"
"$PAIR" wait "$P" 120 || fail "no sync after the stall"
if grep -E 'bad frame|frame exceeds|malformed message' "$REPLICA_DIR/node.log" >&2; then
	fail "the stream was corrupted during the stall"
fi
[ "$(full_transfers replica)" = 1 ] || fail "expected one full transfer, got $(full_transfers replica)"
grep -q 'transfer_phases peer=primary chunks=' "$REPLICA_DIR/node.log" ||
	fail "no transfer_phases line"
dumps_equal || fail "dumps differ after the stalled copy"
kinit_at replica early Fullcopy-pass-1 || fail "kinit after the copy"
kinit_at replica zzz-during Fullcopy-pass-2 || fail "kinit zzz-during against the replica"
echo "PASS: $N realistic principals: killed copy left the KDB serving and converged on restart; stalled copy completed in one transfer"
