#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# systemd Type=notify against a notification socket this test listens on
# (tests/integration/notify_listen.py), with WATCHDOG_USEC set:
#   READY=1 once the control socket answers, STATUS= naming the role,
#   WATCHDOG=1 pings at half the watchdog period from the event loop,
#   no pings while the process is stopped (SIGSTOP: a wedged loop), pings
#   again after SIGCONT, RELOADING=1 then READY=1 around SIGHUP, and
#   STOPPING=1 on SIGTERM.  Then deploy/kdcsyncd.service passes
#   `systemd-analyze verify` (when systemd-analyze is installed).
. "$KS_SOURCE_DIR/tests/integration/lib/node.sh"

P=kdc1.example.com
R=kdc2.example.com
make_certs "$P" "$R"
port=$(free_port)
from_sample primary.conf.sample "$T/primary.conf" "$T/p" "$port"

python3 "$KS_SOURCE_DIR/tests/integration/notify_listen.py" "$T/notify.sock" \
	"$T/notify.msgs" &
PIDS[listener]=$!
wait_for 10 test -S "$T/notify.sock" || fail "listener did not bind"

# 600 ms watchdog: pings every 300 ms
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=600000 start primary "$T/primary.conf"
wait_for 20 grep -q 'READY=1' "$T/notify.msgs" || fail "no READY=1"
"$KDCSYNC" -c "$T/primary.conf" status >/dev/null ||
	fail "READY=1 sent but the control socket does not answer"
grep 'READY=1' "$T/notify.msgs" | head -1 | grep -q 'STATUS=primary' ||
	fail "READY without STATUS=primary: $(grep READY "$T/notify.msgs")"
grep -q 'systemd watchdog: 600 ms, ping every 300 ms' "$T/primary.log" ||
	fail "watchdog not announced in the log"

pings() { grep -c 'WATCHDOG=1' "$T/notify.msgs" || true; }
sleep 2
n=$(pings)
[ "$n" -ge 4 ] || fail "only $n watchdog pings in 2 s (expected ~6)"
# pings are periodic: no gap between consecutive ones over 1.5 periods
# (generous for a loaded machine: the watchdog itself allows 2 periods)
gaps=$(awk '/WATCHDOG=1/ { if (p) printf "%d\n", ($1 - p) * 1000; p = $1 }' \
	"$T/notify.msgs" | sort -n | tail -1)
[ "${gaps:-0}" -lt 600 ] || fail "largest gap between pings: ${gaps} ms"

# a stopped loop sends nothing: what makes systemd kill a wedged daemon
kill -STOP "${PIDS[primary]}"
sleep 0.3
n1=$(pings)
sleep 1.5
n2=$(pings)
kill -CONT "${PIDS[primary]}"
[ "$n1" = "$n2" ] || fail "pings while stopped ($n1 -> $n2)"
sleep 1
n3=$(pings)
[ "$n3" -gt "$n2" ] || fail "no pings after SIGCONT"

# reload: RELOADING=1 then READY=1
kill -HUP "${PIDS[primary]}"
wait_for 10 grep -q 'RELOADING=1' "$T/notify.msgs" || fail "no RELOADING=1"
wait_for 10 bash -c "sed -n '/RELOADING=1/,\$p' '$T/notify.msgs' | grep -q READY=1" ||
	fail "no READY=1 after the reload"
grep 'RELOADING=1' "$T/notify.msgs" | grep -q 'MONOTONIC_USEC=' ||
	fail "RELOADING without MONOTONIC_USEC"

stop primary
grep -q 'STOPPING=1' "$T/notify.msgs" || fail "no STOPPING=1"

# the unit file: systemd's own checks, against this build's binaries
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/unit"
	sed -e "s|/usr/sbin/kdcsyncd|$KDCSYNCD|g" \
		"$KS_SOURCE_DIR/deploy/kdcsyncd.service" >"$T/unit/kdcsyncd.service"
	grep -q '^Type=notify$' "$T/unit/kdcsyncd.service" || fail "unit is not Type=notify"
	grep -q '^WatchdogSec=' "$T/unit/kdcsyncd.service" || fail "unit has no WatchdogSec"
	SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
		"$T/unit/kdcsyncd.service" >"$T/verify.out" 2>&1 || true
	if [ -s "$T/verify.out" ]; then
		cat "$T/verify.out" >&2
		fail "systemd-analyze verify reports problems"
	fi
else
	echo "systemd-analyze not installed: unit check skipped"
fi
echo "PASS"
