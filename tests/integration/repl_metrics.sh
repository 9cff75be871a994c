#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Metrics of a running pair (deploy/pair.sh enables [metrics] on both):
# each node's http://.../metrics passes `promtool check metrics`, equals
# what `kdcsync metrics` prints through the control socket (up to the
# values that move), carries the series the alert rules use, and follows
# a change: after a kadmin write the replica's applied seq, its peer's
# batch/change counters and its propagation histogram move.  Also:
# unknown paths get 404, other methods 405, and deploy/prometheus's rules
# pass `promtool check rules`.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

command -v promtool >/dev/null || fail "promtool missing (deploy/deps.sh installs prometheus)"
promtool check rules "$KS_SOURCE_DIR/deploy/prometheus/kdcsync.rules.yml" >"$T/rules.out" 2>&1 ||
	{ cat "$T/rules.out" >&2; fail "promtool check rules"; }

# shellcheck disable=SC2119 # no pair.sh options
pair_up
if [ -z "${PRIMARY_METRICS_URL:-}" ] || [ -z "${REPLICA_METRICS_URL:-}" ]; then
	fail "env lacks PRIMARY_METRICS_URL / REPLICA_METRICS_URL"
fi

scrape() { # scrape URL OUT
	python3 - "$1" "$2" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    assert r.status == 200, r.status
    ct = r.headers.get("Content-Type", "")
    assert ct.startswith("text/plain; version=0.0.4"), ct
    open(sys.argv[2], "wb").write(r.read())
PY
}
value() { # value FILE SERIES-PREFIX: the value of the first matching line
	awk -v s="$2" 'index($0, s) == 1 { print $NF; exit }' "$1"
}

for n in primary replica; do
	url=PRIMARY_METRICS_URL
	[ $n = replica ] && url=REPLICA_METRICS_URL
	scrape "${!url}" "$T/$n.prom" || fail "$n: scrape failed"
	promtool check metrics <"$T/$n.prom" >"$T/$n.lint" 2>&1 ||
		{ cat "$T/$n.lint" >&2; fail "$n: promtool check metrics"; }
	conf=PRIMARY_NODE_CONF
	[ $n = replica ] && conf=REPLICA_NODE_CONF
	"$KDCSYNC" -c "${!conf}" metrics >"$T/$n.ctl" || fail "$n: kdcsync metrics"
	# the same series (names and labels) both ways
	diff <(grep -v '^#' "$T/$n.prom" | sed 's/ [^ ]*$//') \
		<(grep -v '^#' "$T/$n.ctl" | sed 's/ [^ ]*$//') >&2 ||
		fail "$n: kdcsync metrics and the endpoint differ"
done
grep -q '^kdcsync_role{role="primary"} 1$' "$T/primary.prom" || fail "primary role"
grep -q '^kdcsync_role{role="replica"} 1$' "$T/replica.prom" || fail "replica role"
grep -q '^kdcsync_peer_up{peer="replica"} 1$' "$T/primary.prom" || fail "primary: link to replica not up"
grep -q '^kdcsync_peer_up{peer="primary"} 1$' "$T/replica.prom" || fail "replica: link to primary not up"
for s in kdcsync_peer_lag_changes kdcsync_peer_lag_seconds kdcsync_peer_errors_total \
	kdcsync_replication_enabled kdcsync_peer_sessions_total kdcsync_store_used_bytes \
	kdcsync_lockout_upstream_total kdcsync_lockout_merge_total kdcsync_lockout_forwarded_total; do
	grep -q "^# TYPE $s " "$T/replica.prom" || fail "replica: no $s"
done
grep -q '^# TYPE kdcsync_propagation_seconds histogram' "$T/replica.prom" ||
	fail "replica: no propagation histogram"
grep -q '^# TYPE kdcsync_capture_changes_total counter' "$T/primary.prom" ||
	fail "primary: no capture counters"

# one change moves the replica's numbers
b0=$(value "$T/replica.prom" 'kdcsync_peer_batches_total{peer="primary"}')
p0=$(value "$T/replica.prom" 'kdcsync_propagation_seconds_count{peer="primary"}')
a0=$(value "$T/replica.prom" 'kdcsync_applied_seq ')
pkq "addprinc -pw metrics-pw-1 metricsuser"
"$PAIR" wait "$P" 30 >/dev/null || fail "replica did not catch up"
scrape "$REPLICA_METRICS_URL" "$T/replica2.prom"
b1=$(value "$T/replica2.prom" 'kdcsync_peer_batches_total{peer="primary"}')
p1=$(value "$T/replica2.prom" 'kdcsync_propagation_seconds_count{peer="primary"}')
a1=$(value "$T/replica2.prom" 'kdcsync_applied_seq ')
[ "$a1" -gt "$a0" ] || fail "applied seq did not move ($a0 -> $a1)"
[ "$b1" -gt "$b0" ] || fail "batches did not move ($b0 -> $b1)"
[ "$p1" -gt "$p0" ] || fail "propagation histogram did not count ($p0 -> $p1)"
[ "$(value "$T/replica2.prom" 'kdcsync_peer_lag_changes{peer="primary"}')" = 0 ] ||
	fail "lag after wait is not 0"

# HTTP edges: 404 elsewhere, 405 for other methods
base=${REPLICA_METRICS_URL%/metrics}
code=$(python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
    print(200)
except urllib.error.HTTPError as e:
    print(e.code)' "$base/")
[ "$code" = 404 ] || fail "GET / answered $code"
code=$(python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=b"x", method="POST"), timeout=5)
    print(200)
except urllib.error.HTTPError as e:
    print(e.code)' "$REPLICA_METRICS_URL")
[ "$code" = 405 ] || fail "POST answered $code"
echo PASS
