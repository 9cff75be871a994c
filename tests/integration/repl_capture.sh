#!/bin/bash
# SPDX-License-Identifier: MIT
# Every write path reaches the replica through the KDB module, long before
# any scan could (scan_interval = 1h; the only scans are the start-up one
# and the one a whole-database load asks for):
#   kadmin.local (add, modify, cpw, setstr/delstr, rename, delete,
#   purgekeys), a policy before its user and a user leaving a policy before
#   it is deleted, remote kadmin through a running kadmind, kpasswd through
#   kadmind, kdb5_util load -update and load, failed and successful kinits
#   against the primary's KDC (replicate_lockout on).  After each, the
#   replica's sorted dump equals the primary's (lockout fields included).
# Then, with the primary's node stopped, kadmin.local and kdb5_util finish
# promptly (nobody listens), and the node's start-up scan catches up.
# Last, with scan_interval reloaded to 1 s: idle audits are skipped, and a
# write that no module reported is found by the next audit.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

. "$KS_SOURCE_DIR/tests/integration/lib/kadmind.sh"
TEST_EXIT_HOOKS+=(kadmind_stop)

now_ms() { echo $(($(date +%s%N) / 1000000)); }
capture_of() { # capture_of FIELD: the primary's status capture/FIELD
	status_field primary "capture/$1" || true # (empty: no status; the check fails)
}
# synced WHAT: wait (20 s at most) until the replica's dump equals the
# primary's, lockout fields included; print how long it took.
synced() {
	local t0 deadline
	t0=$(now_ms)
	deadline=$((SECONDS + 20))
	until dumps_equal keep; do
		if [ $SECONDS -ge $deadline ]; then
			diff "$T/p.dump" "$T/r.dump" | head -n 10 | cut -c1-200 >&2
			fail "$1: replica differs after 20 s"
		fi
		sleep 0.05
	done
	echo "PASS: $1 (replica equal within $(($(now_ms) - t0)) ms of the check)"
}
scans_are() {
	local n
	n=$(capture_of scans)
	[ "$n" = "$1" ] || fail "$2: $n scans, expected $1 (a scan did the work?)"
}

pair_up --replicate-lockout --scan-interval 1h
scans_are 1 "start"

# 1. kadmin.local
pkq "addprinc -pw Cap-pass-1 +requires_preauth c1" \
	"modprinc -maxlife \"3 hours\" c1" \
	"cpw -pw Cap-pass-2 c1" \
	"setstr c1 note \"a value\"" \
	"addprinc -randkey c2" \
	"setstr c2 colour blue" \
	"delstr c2 colour" \
	"addprinc -randkey c3" \
	"renprinc -force c3 c3b" \
	"addprinc -randkey c4" \
	"delprinc -force c4" \
	"cpw -keepold -randkey c2" \
	"purgekeys -all c2"
synced "kadmin.local: add, modify, cpw, setstr, delstr, rename, delete, purgekeys"

# 2. a policy before its user; a user leaving a policy before it goes
pkq "addpol -maxfailure 2 -lockoutduration 600 pol1" \
	"addprinc -pw Pol-pass-1 -policy pol1 +requires_preauth u1"
synced "addpol then addprinc -policy"
KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
	kadmin.local -r "$REALM" -q "getprinc u1" 2>&1 | grep -q "^Policy: pol1$" ||
	fail "the replica's u1 does not name an existing pol1"
pkq "addpol polx" "modpol -maxlife \"2 days\" polx" \
	"modprinc -policy polx u1" "modprinc -clearpolicy u1" "delpol -force polx" "delpol -force pol1"
synced "modpol, user moves and leaves, delpol"

# 3. remote kadmin and kpasswd through a running kadmind
pkq "addprinc -pw Kp-pass-1 +requires_preauth kp1"
kadmind_start "$T" Admin-pass-1 || { cat "$T/kadmind.out" >&2; fail "kadmind did not start"; }
rk() {
	rkadmin "$T/cc.admin" Admin-pass-1 "$1" >>"$T/rkadmin.out" 2>&1 || fail "kadmin -q $1"
	if tail -n 2 "$T/rkadmin.out" | grep -qiE 'error|while|usage|unable|invalid'; then
		tail -n 2 "$T/rkadmin.out" >&2
		fail "kadmin reported an error: $1"
	fi
}
rk "addprinc -pw Remote-pass-1 +requires_preauth remote1"
rk "modprinc -maxlife \"5 hours\" remote1"
rk "setstr remote1 k v"
rk "addpol rpol"
rk "modprinc -policy rpol remote1"
synced "remote kadmin through kadmind: addprinc, modprinc, setstr, addpol"
printf 'Kp-pass-1\nKp-pass-2\nKp-pass-2\n' |
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5CCNAME=FILE:$T/cc.kp kpasswd "kp1@$REALM" >>"$T/kpasswd.out" 2>&1 ||
	{ cat "$T/kpasswd.out" >&2; fail "kpasswd"; }
synced "kpasswd through kadmind"

# 4. kdb5_util load -update, then a whole load
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kdb5_util -r "$REALM" dump "$T/full.dump"
awk -F'\t' -v OFS='\t' -v r="$REALM" 'NR == 1 { print; next }
	$1 == "princ" && $7 == "c1@" r {
		for (i = 1; i <= 20; i++) { $7 = sprintf("upd%02d@%s", i, r); $3 = length($7); print }
	}' "$T/full.dump" >"$T/upd.dump"
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kdb5_util -r "$REALM" load -update "$T/upd.dump" || fail "load -update"
synced "kdb5_util load -update (20 principals)"
scans_are 1 "load -update"
awk -F'\t' -v OFS='\t' -v r="$REALM" '$1 == "princ" && $7 == "upd01@" r { next } { print }' \
	"$T/full.dump" >"$T/less.dump"
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kdb5_util -r "$REALM" load "$T/less.dump" || fail "load"
synced "kdb5_util load (a whole database, upd01 gone)"
scans_are 2 "load"
[ "$(capture_of last_scan_reason)" = report:load ] || fail "the load's scan was not asked for by the report"

# 5. lockout from the primary's KDC (replicate_lockout = yes)
pkq "addpol -maxfailure 3 lockpol" "addprinc -pw Lock-pass-1 -policy lockpol +requires_preauth lk"
synced "lockout principal"
kinit_at primary lk wrong-1 && fail "bad password accepted"
kinit_at primary lk wrong-2 && fail "bad password accepted"
synced "two failed kinits at the primary's KDC"
[ "$(field_of "$T/r.dump" lk 15)" = 2 ] || fail "fail_auth_count of lk on the replica: $(field_of "$T/r.dump" lk 15)"
kinit_at primary lk Lock-pass-1 || fail "kinit lk"
synced "a successful kinit (count reset, last_success)"
[ "$(field_of "$T/r.dump" lk 15)" = 0 ] || fail "fail_auth_count not reset on the replica"
scans_are 2 "after every path"
reports=$(capture_of module_reports)
changes=$(capture_of module_changes)
[ "$reports" -gt 0 ] && [ "$changes" -gt 0 ] || fail "status shows no module captures"
echo "primary status: $reports module reports, $changes changes logged from them, 2 scans"

# 6. nobody listening: the tools do not wait; the start-up scan catches up
"$PAIR" node-stop "$P" primary
t0=$(now_ms)
pkq "addprinc -randkey offline1" "setstr offline1 a b" "addpol offpol"
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kdb5_util -r "$REALM" load -update "$T/upd.dump" || fail "load -update without a node"
ms=$(($(now_ms) - t0))
[ "$ms" -lt 30000 ] || fail "writes took ${ms} ms with no node listening"
echo "PASS: 4 tool runs with the primary's node stopped took ${ms} ms"
"$PAIR" node-start "$P" primary
synced "start-up scan after writes made while the node was down"

# 7. the audit: idle, it is skipped (KDB files unchanged); a write no
#    module reported (a program pointed at another socket) is found by it
sed -i 's/^\tscan_interval = 1h$/\tscan_interval = 1s/' "$PRIMARY_NODE_CONF"
grep -q "scan_interval = 1s" "$PRIMARY_NODE_CONF" || fail "node.conf edit"
scans0=$(capture_of scans)
kill -HUP "$(awk '$1 == "node-primary" { print $2 }' "$P/pids")"
sleep 3.5
skipped=$(capture_of scans_skipped)
[ "$skipped" -ge 2 ] || fail "idle audits not skipped ($skipped)"
scans_are "$scans0" "idle audits"
KDCSYNC_CAPTURE_SOCKET=$T/nobody.sock pkq "addprinc -randkey unreported1"
synced "a write no module reported, found by the audit"
[ "$(capture_of scans)" -gt "$scans0" ] || fail "no audit scan ran"
[ "$(capture_of last_scan_reason)" = audit ] || fail "last scan not an audit"
echo "PASS: $skipped idle audits skipped; an unreported write found by the audit"
# last: a kinit at the replica's KDC writes lockout fields there, which
# stay there (nothing flows upstream yet), so no dump comparison follows
kinit_at replica kp1 Kp-pass-2 || fail "kinit kp1 with the kpasswd password against the replica"
echo "PASS: all write paths"
