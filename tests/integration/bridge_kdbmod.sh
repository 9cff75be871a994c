#!/bin/bash
# SPDX-License-Identifier: MIT
# The KDB module (bridge/kdbmod, kdcsync.so wrapping db2) under the real MIT
# tools, with tests/integration/report_listener.py as the node:
#   - no listener: every tool works and is not slowed down;
#   - kadmin.local: principal and policy operations, setstr/delstr,
#     purgekeys, rename, each reported exactly, in order;
#   - kdb5_util load (one "load"), load -update (every record), the
#     master-key chain add_mkey -> use_mkey -> update_princ_encryption ->
#     purge_mkeys (mkey reports, each waiting for the node's answer; every
#     re-encrypted principal);
#   - krb5kdc: failed and successful AS requests -> lockout reports;
#   - the node's own bridge (bridge_tool apply/load): nothing reported;
#   - a node that never reads: a 3,000-principal load -update and kadmin
#     still finish promptly;
#   - a bad kdcsync_backend: a clear error, no crash.
. "$KS_SOURCE_DIR/tests/integration/lib/test.sh"
MOD_DIR=$KS_BUILD_DIR/bridge/kdbmod
LISTENER=$KS_SOURCE_DIR/tests/integration/report_listener.py
LPID=
stop_listener() {
	if [ -n "$LPID" ]; then
		kill "$LPID" 2>/dev/null || true
		wait "$LPID" 2>/dev/null || true
		LPID=
	fi
}
TEST_EXIT_HOOKS+=(stop_listener)
now_ms() { echo $(($(date +%s%N) / 1000000)); }

[ -f "$MOD_DIR/kdcsync.so" ] || fail "no $MOD_DIR/kdcsync.so"
R=KDBMOD.TEST
SOCK=$T/cap.sock
realm_init "$T/r" "$R"
cat >>"$T/r/kdc.conf" <<EOF
[dbmodules]
	db_module_dir = $MOD_DIR
	$R = {
		db_library = kdcsync
		kdcsync_backend = db2
		kdcsync_socket = $SOCK
	}
EOF
realm_env "$T/r"

start_listener() { # [--stall]
	rm -f "$SOCK" "$T/got" "$T/got.ready"
	python3 "$LISTENER" "$SOCK" "$T/got" "$@" &
	LPID=$!
	for _ in $(seq 100); do [ -f "$T/got.ready" ] && return 0; sleep 0.05; done
	fail "listener did not start"
}
# wait until GOT has N lines (5 s at most)
wait_lines() {
	local n=$1 i
	for i in $(seq 100); do
		[ "$(wc -l <"$T/got")" -ge "$n" ] && return 0
		sleep 0.05
	done
	return 0
}
expect() { # expected lines on stdin
	local want n
	want=$(cat)
	n=$(printf '%s\n' "$want" | wc -l)
	wait_lines "$n"
	sleep 0.1 # and nothing more
	if [ "$(cat "$T/got")" != "$want" ]; then
		echo "got:" >&2
		cat "$T/got" >&2
		echo "want:" >&2
		printf '%s\n' "$want" >&2
		fail "$1"
	fi
	: >"$T/got"
}

# 1. the module is in the way (a bad back end name is refused clearly)
sed "s/kdcsync_backend = db2/kdcsync_backend = nosuch/" "$T/r/kdc.conf" >"$T/bad.conf"
if out=$(KRB5_KDC_PROFILE=$T/bad.conf kadmin.local -q "listprincs" 2>&1); then
	fail "a missing back end was not noticed: $out"
fi
grep -q "kdcsync: back end 'nosuch' refused" <<<"$out" || fail "unclear error: $out"
echo "PASS: bad back end refused: $(grep -o "kdcsync: back end[^:]*: [a-z ]*" <<<"$out" | head -1)"

# 2. no listener: everything works, at once
t0=$(now_ms)
realm_kadmin "$T/r" "addprinc -pw Quiet-pass-1 nolistener" "addpol nolpol" \
	"delprinc -force nolistener" "delpol -force nolpol"
kdb5_util dump "$T/d0"
kdb5_util load -update "$T/d0"
ms=$(($(now_ms) - t0))
[ "$ms" -lt 30000 ] || fail "tools took ${ms} ms without a listener"
echo "PASS: 6 tool runs without a listener in ${ms} ms"

# 3. kadmin.local, every operation, in order
start_listener
realm_kadmin "$T/r" \
	"addprinc -pw Alice-pass-1 alice" \
	"modprinc -maxlife \"2 hours\" alice" \
	"cpw -pw Alice-pass-2 alice" \
	"setstr alice note x" \
	"delstr alice note" \
	"addpol -maxfailure 2 -failurecountinterval 0 -lockoutduration 0 lockpol" \
	"modpol -maxlife \"1 day\" lockpol" \
	"modprinc -policy lockpol +requires_preauth alice" \
	"cpw -keepold -randkey alice" \
	"purgekeys -all alice" \
	"renprinc -force alice alice2" \
	"delprinc -force alice2" \
	"delpol -force lockpol"
expect "kadmin.local reports" <<EOF
princ_put alice@$R dropped=0
princ_put alice@$R dropped=0
princ_put alice@$R dropped=0
princ_put alice@$R dropped=0
princ_put alice@$R dropped=0
policy_put lockpol dropped=0
policy_put lockpol dropped=0
princ_put alice@$R dropped=0
princ_put alice@$R dropped=0
princ_put alice@$R dropped=0
princ_put alice2@$R dropped=0
princ_del alice@$R dropped=0
princ_put alice2@$R dropped=0
princ_del alice2@$R dropped=0
policy_del lockpol dropped=0
EOF
echo "PASS: kadmin.local: principal, policy, setstr/delstr, purgekeys, rename, delete"

# 4. kdb5_util load (one report), load -update (each record)
realm_kadmin "$T/r" "addpol ldpol" "addprinc -randkey -policy ldpol ld1"
: >"$T/got"
kdb5_util dump "$T/d1"
kdb5_util load "$T/d1"
expect "kdb5_util load" <<EOF
load - dropped=0
EOF
kdb5_util load -update "$T/d1"
wait_lines 7
sort "$T/got" >"$T/got.s"
cat >"$T/want.s" <<EOF
mkey K/M@$R dropped=0
policy_put ldpol dropped=0
princ_put kadmin/admin@$R dropped=0
princ_put kadmin/changepw@$R dropped=0
princ_put krbtgt/$R@$R dropped=0
princ_put ld1@$R dropped=0
EOF
sort "$T/want.s" -o "$T/want.s"
diff "$T/want.s" "$T/got.s" || fail "load -update reports"
: >"$T/got"
echo "PASS: kdb5_util load (one load report), load -update (each record)"

# 5. the master-key chain
printf 'second-master-pw\nsecond-master-pw\n' | kdb5_util add_mkey -s >/dev/null 2>&1 ||
	fail "add_mkey"
expect "add_mkey" <<EOF
mkey K/M@$R dropped=0 wait
EOF
kdb5_util use_mkey 2 >/dev/null 2>&1 || fail "use_mkey"
expect "use_mkey" <<EOF
mkey K/M@$R dropped=0 wait
EOF
kdb5_util update_princ_encryption -f >/dev/null 2>&1 || fail "update_princ_encryption"
wait_lines 4
sort "$T/got" >"$T/got.s"
grep -v -e "^mkey" -e ldpol "$T/want.s" >"$T/want.upe"
diff "$T/want.upe" "$T/got.s" || fail "update_princ_encryption reports"
: >"$T/got"
kdb5_util purge_mkeys -f >/dev/null 2>&1 || fail "purge_mkeys"
expect "purge_mkeys" <<EOF
mkey K/M@$R dropped=0 wait
EOF
echo "PASS: add_mkey, use_mkey, update_princ_encryption, purge_mkeys"

# 6. krb5kdc: lockout writes
realm_kadmin "$T/r" "addpol -maxfailure 3 kdcpol" \
	"addprinc -pw Carol-pass-1 -policy kdcpol +requires_preauth carol"
: >"$T/got"
realm_kdc_start "$T/r"
realm_kinit "$T/r" "carol@$R" wrong-1 && fail "bad password accepted"
realm_kinit "$T/r" "carol@$R" wrong-2 && fail "bad password accepted"
realm_kinit "$T/r" "carol@$R" Carol-pass-1 || fail "kinit carol"
expect "krb5kdc lockout" <<EOF
lockout carol@$R dropped=0
lockout carol@$R dropped=0
lockout carol@$R dropped=0
EOF
realm_kdc_stop "$T/r"
echo "PASS: krb5kdc: two failed AS requests and a success, three lockout reports"

# 7. the node's own bridge reports nothing (no echo)
mkdir -p "$T/store"
"$TOOL" scan "$T/store" >/dev/null 2>&1 || fail "bridge_tool scan"
"$TOOL" load "$T/store" >/dev/null 2>&1 || fail "bridge_tool load"
kdb5_util dump "$T/d2"
grep -P "^princ\t.*\tcarol@$R\t" "$T/d2" >"$T/carol.line"
"$TOOL" applylines "$T/carol.line" >/dev/null 2>&1 || fail "bridge_tool applylines"
sleep 0.3
[ ! -s "$T/got" ] || { cat "$T/got" >&2; fail "the bridge's own writes were reported"; }
echo "PASS: bridge scan, full load and apply report nothing"
stop_listener

# 8. a node that never reads: writes go on, promptly
start_listener --stall
awk -F'\t' -v OFS='\t' -v r="$R" 'NR == 1 { print; next }
	$1 == "princ" && $7 == "ld1@" r {
		for (i = 1; i <= 3000; i++) { $7 = sprintf("bulk%05d@%s", i, r); $3 = length($7); print }
	}' "$T/d2" >"$T/bulk"
t0=$(now_ms)
kdb5_util load -update "$T/bulk"
realm_kadmin "$T/r" "addprinc -randkey stalled1" "delprinc -force stalled1"
ms=$(($(now_ms) - t0))
[ "$ms" -lt 60000 ] || fail "writes took ${ms} ms with a node that does not read"
kdb5_util dump "$T/d3"
[ "$(grep -c "^princ.*bulk" "$T/d3")" = 3000 ] || fail "bulk load incomplete"
echo "PASS: 3,000-principal load -update and two kadmin.local runs with a stalled node: ${ms} ms"
stop_listener
echo "PASS: all"
