#!/bin/bash
# SPDX-License-Identifier: MIT
# The loop stays responsive while the database work runs: with N (default
# 100,000) principals, `status` on both nodes is polled continuously (every
# answer within STATUS_BOUND_MS, default 1000 ms: a generous bound, not a
# performance figure) while the primary scans every second and while the
# replica, its store wiped, receives a full copy, and while a change of
# every principal streams to the replica, and while the primary, restarted
# after every principal changed while it was down, runs its start-up scan
# on the worker (status answers at once and says "scanning"; the replica
# waits and is served once the scan is done); no link idles out and the
# pair converges.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

N=${REPL_BUSY_N:-100000}
BOUND=${STATUS_BOUND_MS:-1000}

pair_up -n "$N" --scan-interval 1s
poll_start() {
	rm -f "$T/stop"
	python3 "$KS_SOURCE_DIR/tests/integration/status_poll.py" "$T/stop" "$T/poll.$1" \
		"$PRIMARY_DIR/node/kdcsyncd.sock" "$REPLICA_DIR/node/kdcsyncd.sock" &
	POLLER=$!
}
poll_stop() { # poll_stop NAME: check the figures
	touch "$T/stop"
	wait "$POLLER" || fail "poller"
	read -r n p50 p99 max fails <"$T/poll.$1"
	echo "$1: $n status answers, p50 $p50 ms, p99 $p99 ms, max $max ms, $fails failed"
	[ "$n" -ge 20 ] || fail "$1: only $n status answers"
	[ "$fails" = 0 ] || fail "$1: $fails status requests got no answer"
	awk -v m="$max" -v b="$BOUND" 'BEGIN { exit !(m < b) }' ||
		fail "$1: a status answer took $max ms (bound $BOUND ms)"
}

# 1. scans of the whole KDB every second, and `kdcsync snapshot` (a scan
#    on request) answered while status keeps answering
poll_start scan
for _ in 1 2 3; do
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null || fail "kdcsync snapshot"
done
sleep 3
poll_stop scan

# 2. a full copy into a replica whose store was wiped
"$PAIR" node-stop "$P" replica
rm -rf "$REPLICA_DIR/node/store"
"$PAIR" node-start "$P" replica
poll_start copy
"$PAIR" wait "$P" 120 || fail "replica did not catch up after the full copy"
poll_stop copy
n=$(full_transfers replica) # (since the restart above)
[ "$n" = 1 ] || fail "expected a second full snapshot, saw $n since the restart"
grep -q 'idle timeout' "$P/primary/node.log" "$P/replica/node.log" &&
	fail "a link timed out while the database work ran"

# 3. a large stream: every principal changed on the primary at once (one
#    kdb5_util load -update), scanned into one change set of N changes,
#    streamed while status is polled; the replica reads every frame while
#    its worker applies, so no side idles out (pair.sh: idle_timeout 10 s)
(
	export KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE
	kdb5_util -r "$REALM" dump "$T/all.dump"
	awk -F'\t' -v OFS='\t' 'NR == 1 { print; next }
		$1 == "princ" && $7 ~ /^user[0-9]+@/ { $9 = 36000 } { print }' \
		"$T/all.dump" >"$T/changed.dump"
	kdb5_util -r "$REALM" load -update "$T/changed.dump"
) || fail "changing every principal on the primary"
poll_start stream
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >"$T/scan.out" || fail "kdcsync snapshot"
"$PAIR" wait "$P" 300 || fail "replica did not apply the stream"
poll_stop stream
grep -q "puts" "$T/scan.out" && echo "stream: $(cat "$T/scan.out")"
grep -q 'idle timeout' "$P/primary/node.log" "$P/replica/node.log" &&
	fail "a link timed out during the stream"
converge 120

# 4. the start-up scan: every principal changed while the primary's node
#    was down (nobody captures: the start-up scan finds them all); status
#    answers at once, says "scanning" (or the scan was over in under 2 s),
#    and the replica is served the changes once the scan is done
"$PAIR" node-stop "$P" primary
(
	export KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE
	awk -F'\t' -v OFS='\t' 'NR == 1 { print; next }
		$1 == "princ" && $7 ~ /^user[0-9]+@/ { $9 = 72000 } { print }' \
		"$T/all.dump" >"$T/changed2.dump"
	kdb5_util -r "$REALM" load -update "$T/changed2.dump"
) || fail "changing every principal while the primary's node is down"
"$PAIR" node-start "$P" primary
poll_start startup
startup=$(status_field primary capture/startup) || fail "status right after the start"
"$PAIR" wait "$P" 300 || fail "replica did not apply the changes the start-up scan found"
poll_stop startup
echo "startup: the first status said '$startup'"
if [ "$startup" != scanning ]; then
	[ "$startup" = ready ] || fail "status said startup '$startup'"
	ms=$(sed -n 's/.*start-up scan done \([0-9]*\) ms after start.*/\1/p' "$P/primary/node.log" | tail -n 1)
	[ -n "$ms" ] && [ "$ms" -lt 2000 ] ||
		fail "status did not say 'scanning' during a start-up scan of ${ms:-?} ms"
fi
[ "$(status_field primary capture/startup)" = ready ] || fail "startup not ready after the sync"
grep -q 'idle timeout' "$P/primary/node.log" "$P/replica/node.log" &&
	fail "a link timed out during the start-up scan"
converge 120
echo "PASS: status answered within $BOUND ms during scans of $N principals, a full copy, a stream of every principal and the start-up scan"
