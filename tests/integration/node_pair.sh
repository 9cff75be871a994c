#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two kdcsyncd processes on loopback, configured from deploy/primary.conf.sample
# and deploy/replica.conf.sample with certificates from deploy/make-certs.sh,
# hold a mutually authenticated TLS link, reconnect after either restarts,
# and `kdcsync status` on each shows the other.
. "$KS_SOURCE_DIR/tests/integration/lib/node.sh"

P=kdc1.example.com
R=kdc2.example.com
make_certs "$P" "$R"
port=$(free_port)
from_sample primary.conf.sample "$T/primary.conf" "$T/p" "$port"
from_sample replica.conf.sample "$T/replica.conf" "$T/r" "$port"

# every sample passes `kdcsyncd -t` (configuration and TLS files)
from_sample kdcsync.conf.sample "$T/full.conf" "$T/f" "$port"
for c in primary replica full; do
	"$KDCSYNCD" -c "$T/$c.conf" -t | grep -q "configuration OK" || fail "-t on the $c sample"
done
sed "s|$T/certs/$P.key|$T/certs/$R.key|" "$T/primary.conf" >"$T/mismatch.conf"
if "$KDCSYNCD" -c "$T/mismatch.conf" -t 2>"$T/err"; then fail "-t accepted a mismatched key"; fi
grep -q "ca/cert/key: cannot be loaded" "$T/err" || fail "-t message: $(cat "$T/err")"

start primary "$T/primary.conf"
start replica "$T/replica.conf"
wait_for 15 established "$T/primary.conf" "$R" || fail "primary never saw the replica"
wait_for 15 established "$T/replica.conf" "$P" || fail "replica never reached the primary"
echo "link up"

# status, text and JSON, on both sides
"$KDCSYNC" -c "$T/primary.conf" status | tee "$T/status.txt"
grep -q "^node: *$P" "$T/status.txt" || fail "status lacks the node name"
grep -q "^role: *primary" "$T/status.txt" || fail "status lacks the role"
grep -q "$R (native): established, from 127.0.0.1:" "$T/status.txt" || fail "status lacks the peer"
"$KDCSYNC" -c "$T/replica.conf" status --json | tee "$T/status.json"
js=$(cat "$T/status.json")
[ "$(json_get "$js" role)" = replica ] || fail "json role"
[ "$(json_get "$js" "peers/$P/direction")" = outbound ] || fail "json direction"
json_get "$js" uptime_s >/dev/null || fail "json uptime"
[ "$(json_get "$js" "peers/$P/bytes_in")" -gt 0 ] && [ "$(json_get "$js" "peers/$P/bytes_out")" -gt 0 ] ||
	fail "json byte counters"
grep -q "authenticated, TLSv1.3" "$T/primary.log" || fail "not TLS 1.3"

# control socket is 0600 in the state directory
[ "$(stat -c %a "$T/p/kdcsyncd.sock")" = 600 ] || fail "control socket mode"

# the replica restarts: the link comes back
stop replica
unlinked() { ! established "$1" "$2"; }
wait_for 10 unlinked "$T/primary.conf" "$R" ||
	fail "primary still shows the link after the replica stopped"
start replica "$T/replica.conf"
wait_for 15 established "$T/primary.conf" "$R" || fail "no link after replica restart"
wait_for 15 established "$T/replica.conf" "$P" || fail "replica status after its restart"
echo "replica restart: link back"

# the primary restarts: the replica reconnects with back-off
stop primary
wait_for 10 bash -c "$KDCSYNC -c $T/replica.conf status | grep -q 'reconnect\|connecting\|disconnected'" ||
	fail "replica did not notice the primary going away"
sleep 1
start primary "$T/primary.conf"
wait_for 20 established "$T/replica.conf" "$P" || fail "replica did not reconnect"
wait_for 10 established "$T/primary.conf" "$R" || fail "primary status after its restart"
grep -q "reconnecting to '$P' in" "$T/replica.log" || fail "no back-off logged"
[ "$(status_get "$T/replica.conf" "peers/$P/connects")" -ge 2 ] ||
	fail "replica should count 2 links since its restart"
echo "primary restart: replica reconnected"

# keygen writes a signing key pair (private key 0600), never overwrites
"$KDCSYNC" keygen -o "$T/signing" | grep -q "key id [0-9a-f]\{16\}" || fail "keygen"
[ "$(stat -c %a "$T/signing.key")" = 600 ] || fail "signing key mode"
[ -s "$T/signing.pub" ] || fail "no public key"
if "$KDCSYNC" keygen -o "$T/signing" 2>"$T/err"; then fail "keygen overwrote"; fi
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "keygen error is not one line"

# commands of later issues answer plainly and fail
if "$KDCSYNC" -c "$T/primary.conf" snapshot 2>"$T/err"; then fail "snapshot succeeded"; fi
grep -q "not available yet" "$T/err" || fail "snapshot message"
# status against a stopped daemon: one line, non-zero
stop replica
if "$KDCSYNC" -c "$T/replica.conf" status 2>"$T/err"; then fail "status of a stopped node"; fi
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "is it running" "$T/err" || fail "stopped-node message"
stop primary
grep -q "stopped" "$T/primary.log" || fail "no orderly stop logged"
echo "PASS"
