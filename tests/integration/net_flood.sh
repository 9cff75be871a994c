#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Connection flood on a real pair (deploy/pair.sh, loopback): 500 idle
# unauthenticated TCP connections from 50 loopback addresses to the
# primary's replication port, reopened as they are closed, for 65 s.
# Meanwhile the established link survives, a change made on the primary
# arrives, a restarted replica is back (streaming) within 5 s, admission
# really refused/evicted connections (status), and the primary's log stays
# under 100 lines in each minute of the flood.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

FLOOD_SECS=${FLOOD_SECS:-65}
pair_up
flood_start=$(date +%s)
python3 "$KS_SOURCE_DIR/tests/integration/net_flood.py" "$NODE_PORT" 500 \
	"$FLOOD_SECS" 50 >"$T/flood.json" 2>"$T/flood.err" &
FLOOD_PID=$!
stop_flood() {
	kill "$FLOOD_PID" 2>/dev/null || true
	wait "$FLOOD_PID" 2>/dev/null || true
}
TEST_EXIT_HOOKS+=(stop_flood)
sleep 8

# the established link survived and still carries changes
pkq "addprinc -randkey flood/one"
replica_streams() { [ "$(status_field replica peers/primary/repl/state)" = stream ]; }
wait_for 20 replica_has flood/one || fail "a change did not arrive during the flood"
conns=$(status_field primary connections) || fail "no connections in the primary's status"
[ "$(json_get "$conns" evicted)" -gt 0 ] || [ "$(json_get "$conns" refused)" -gt 0 ] ||
	fail "the flood never reached admission: $conns"

# restart the replica: back within its normal back-off
for round in 1 2; do
	"$PAIR" node-stop "$P" replica || fail "replica stop"
	t0=$(date +%s.%N)
	"$PAIR" node-start "$P" replica || fail "replica start"
	wait_for 15 replica_streams ||
		fail "the restarted replica did not reconnect under the flood"
	t1=$(date +%s.%N)
	secs=$(python3 -c "print(round($t1 - $t0, 2))")
	echo "round $round: replica streaming again $secs s after its start"
	python3 -c "import sys; sys.exit(0 if $t1 - $t0 <= 5 else 1)" ||
		fail "replica took $secs s (> 5 s) to reconnect under the flood"
	sleep 5
done
pkq "addprinc -randkey flood/two"
wait_for 20 replica_has flood/two || fail "a change did not arrive after the restarts"

wait "$FLOOD_PID" || fail "flood client failed: $(cat "$T/flood.err")"
flood_end=$(date +%s)
echo "flood: $(cat "$T/flood.json")"
echo "primary: connections $(status_field primary connections)"
# Lines per minute of the flood in the primary's log (ISO UTC times).
python3 - "$P/primary/node.log" "$flood_start" "$flood_end" <<'PY' || fail "primary log too chatty under the flood"
import sys, datetime
path, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buckets = {}
for line in open(path, errors="replace"):
    try:
        t = datetime.datetime.strptime(line[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        continue
    if start <= t <= end:
        buckets[int((t - start) // 60)] = buckets.get(int((t - start) // 60), 0) + 1
print("primary log lines per minute of the flood:", [buckets.get(i, 0) for i in range(max(buckets) + 1)] if buckets else [])
sys.exit(0 if all(n < 100 for n in buckets.values()) else 1)
PY
converge 30
echo "flood: ok"
