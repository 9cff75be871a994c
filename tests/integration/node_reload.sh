#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SIGHUP reload: a broken configuration (unknown key, bad value, unloadable
# certificate, a key that needs a restart) is rejected with the reason logged
# and the node keeps serving with the old one; a good one is applied (a
# removed peer loses its link and is refused).  Startup with a bad or missing
# file fails with one line naming the key and the file.  SIGINT exits 0.
. "$KS_SOURCE_DIR/tests/integration/lib/node.sh"

P=kdc1.example.com
R=kdc2.example.com
make_certs "$P" "$R"
port=$(free_port)
from_sample primary.conf.sample "$T/primary.conf" "$T/p" "$port"
from_sample replica.conf.sample "$T/replica.conf" "$T/r" "$port"
cp "$T/primary.conf" "$T/primary.good"

# startup errors: one line naming the key and the file, exit 1
printf '[node]\n\tcolour = blue\n' >>"$T/primary.conf"
if "$KDCSYNCD" -c "$T/primary.conf" -f 2>"$T/err"; then fail "started with a bad key"; fi
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "startup error is not one line"
grep -q "$T/primary.conf: unknown key 'colour' in \[node\]" "$T/err" || fail "startup error text: $(cat "$T/err")"
if "$KDCSYNCD" -c "$T/nope.conf" -f 2>"$T/err"; then fail "started without a file"; fi
grep -q "$T/nope.conf" "$T/err" || fail "missing-file error does not name the file"
cp "$T/primary.good" "$T/primary.conf"

start primary "$T/primary.conf"
start replica "$T/replica.conf"
wait_for 15 established "$T/primary.conf" "$R" || fail "no link"

reload_expect() { # reload_expect PATTERN: SIGHUP, wait for PATTERN in the log
	local before
	before=$(grep -c "reloading configuration" "$T/primary.log" || true)
	kill -HUP "${PIDS[primary]}"
	wait_for 10 bash -c "[ \$(grep -c 'reloading configuration' $T/primary.log) -gt $before ]" ||
		fail "no reload logged"
	wait_for 10 grep -q "$1" "$T/primary.log" || fail "log lacks '$1'"
	alive primary || fail "primary died on reload"
}

# unknown key
cp "$T/primary.good" "$T/primary.conf"
printf '[tls]\n\tciphers = ALL\n' >>"$T/primary.conf"
reload_expect "reload rejected, keeping the running configuration: .*unknown key 'ciphers' in \[tls\]"
# bad value
cp "$T/primary.good" "$T/primary.conf"
printf '[tls]\n\tmax_connections = none\n' >>"$T/primary.conf"
reload_expect "\[tls\] max_connections: 'none' is not a whole number"
# missing file
cp "$T/primary.good" "$T/primary.conf"
sed -i "s|key = $T/certs/$P.key|key = $T/certs/missing.key|" "$T/primary.conf"
reload_expect "\[tls\] key: cannot use file '$T/certs/missing.key'"
# a key that does not match the certificate
cp "$T/primary.good" "$T/primary.conf"
sed -i "s|key = $T/certs/$P.key|key = $T/certs/$R.key|" "$T/primary.conf"
reload_expect "\[tls\] ca/cert/key: cannot be loaded"
# a key that needs a restart
cp "$T/primary.good" "$T/primary.conf"
sed -i "s|listen = 127.0.0.1:$port|listen = 127.0.0.1:$((port + 1))|" "$T/primary.conf"
reload_expect "\[node\] listen cannot change while running"
# the operator sees the rejection in the status too, even through the
# edited file (warning on stderr, status on stdout)
"$KDCSYNC" -c "$T/primary.conf" status 2>"$T/err" | grep -q "REJECTED: .*\[node\] listen cannot change" ||
	fail "status does not show the rejected reload"
printf '[tls]\n\tbogus = 1\n' >>"$T/primary.conf"
"$KDCSYNC" -c "$T/primary.conf" status 2>"$T/err" | grep -q "^node: *$P" || fail "status hidden by a broken file"
grep -q "warning: .*unknown key 'bogus'" "$T/err" || fail "no warning about the broken file"
# the old configuration still serves: link up, new connections accepted
established "$T/primary.conf" "$R" || fail "link lost after rejected reloads"
stop replica
start replica "$T/replica.conf"
wait_for 15 established "$T/primary.conf" "$R" || fail "old configuration no longer accepts the peer"
echo "broken reloads rejected, old configuration kept"

# a second daemon on the same state directory is refused (pid file lock)
sed "s|listen = 127.0.0.1:$port|listen = 127.0.0.1:$(free_port)|" "$T/primary.good" >"$T/second.conf"
if "$KDCSYNCD" -c "$T/second.conf" -f 2>"$T/err"; then fail "second daemon started"; fi
grep -q "another kdcsyncd (pid ${PIDS[primary]}) uses state_dir '$T/p'" "$T/err" || fail "lock message: $(cat "$T/err")"
alive primary || fail "first daemon hurt by the second"
[ -S "$T/p/kdcsyncd.sock" ] || fail "second daemon removed the control socket"

# a good reload that removes the peer: its link closes and it is refused
cp "$T/primary.good" "$T/primary.conf"
sed -i "/^\t$R = {/,/^\t}/d" "$T/primary.conf"
reload_expect "configuration reloaded"
wait_for 10 grep -q "peer removed from the configuration" "$T/primary.log" || fail "removed peer kept its link"
wait_for 10 grep -q "refused connection from 127.0.0.1: peer certificate names no configured peer" "$T/primary.log" ||
	fail "removed peer not refused"
"$KDCSYNC" -c "$T/primary.conf" status | grep -q "$R" && fail "removed peer still in status"
# and back
cp "$T/primary.good" "$T/primary.conf"
reload_expect "configuration reloaded"
wait_for 15 established "$T/primary.conf" "$R" || fail "peer not accepted again"
echo "good reloads applied"

# a replica pointed at the wrong address keeps retrying; a reload that
# fixes the address brings the link up
stop replica
cp "$T/replica.conf" "$T/replica.good"
badport=$(free_port)
sed -i "s|address = 127.0.0.1:$port|address = 127.0.0.1:$badport|" "$T/replica.conf"
start replica "$T/replica.conf"
wait_for 10 grep -q "connect to 127.0.0.1:$badport failed (connection refused)" "$T/replica.log" ||
	fail "replica did not try the wrong address"
cp "$T/replica.good" "$T/replica.conf"
kill -HUP "${PIDS[replica]}"
wait_for 15 established "$T/replica.conf" "$P" || fail "replica did not follow the new address"
echo "replica reload: new primary address followed"

# SIGINT is an orderly shutdown too
kill -INT "${PIDS[primary]}"
rc=0
wait "${PIDS[primary]}" || rc=$?
unset "PIDS[primary]"
[ $rc -eq 0 ] || fail "SIGINT exit status $rc"
[ ! -e "$T/p/kdcsyncd.sock" ] || fail "control socket left behind"
stop replica
echo "PASS"
