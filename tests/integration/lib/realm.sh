# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Throw-away MIT Kerberos realms for integration tests (source with ".").
#
#   realm_init DIR REALM [MASTERPW]   make DIR/{krb5.conf,kdc.conf,principal*,
#                                     stash} with `kdb5_util create -s`; picks a
#                                     free loopback port; prints nothing
#                                     ($REALM_CREATE_ARGS: extra kdb5_util
#                                     options, e.g. "-x hash=true")
#   realm_env DIR                     export KRB5_CONFIG/KRB5_KDC_PROFILE (and
#                                     KRB5CCNAME) for the realm in DIR
#   realm_kdc_start DIR               start krb5kdc for DIR (pid in DIR/kdc.pid)
#   realm_kdc_stop DIR                stop it by its recorded pid
#   realm_kadmin DIR QUERY...         kadmin.local -q for each QUERY
#   realm_dump DIR OUT                `kdb5_util dump` without the header line
#   realm_fixture DIR                 the rich fixture (see below); starts and
#                                     stops a krb5kdc for real lockout counters
#   realm_kinit DIR NAME PASSWORD     kinit against the realm's KDC
#   realm_cleanup                     stop every KDC started here (by pid)
#
# The configuration text, the database and the KDC's start are
# deploy/lib/realm.sh's (the same realm deploy/pair.sh makes).
# Never touches system paths: every file lives in DIR, every port is on
# 127.0.0.1, every process is stopped by the pid it was started with.
# Needs: kdb5_util kadmin.local krb5kdc kinit (Debian krb5-kdc, krb5-user).

# shellcheck source=SCRIPTDIR/../../../deploy/lib/realm.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../../deploy/lib/realm.sh"

REALM_KDC_PIDS=()

realm_free_port() {
	python3 "${KS_SOURCE_DIR:?}/deploy/free-port.py"
}

realm_init() {
	local dir=$1 realm=$2 mpw=${3:-master-password-123}
	local port
	port=$(realm_free_port)
	mkdir -p "$dir"
	echo "$realm" >"$dir/realm"
	echo "$port" >"$dir/port"
	realm_write_conf "$dir" "$realm" "$port"
	# shellcheck disable=SC2086 # REALM_CREATE_ARGS: options, split on purpose
	realm_create "$dir" "$realm" "$mpw" ${REALM_CREATE_ARGS:-}
}

realm_env() {
	local dir=$1
	export KRB5_CONFIG=$dir/krb5.conf
	export KRB5_KDC_PROFILE=$dir/kdc.conf
	export KRB5CCNAME=FILE:$dir/ccache
	export KRB5RCACHEDIR=$dir
}

realm_kdc_start() {
	local dir=$1 rc=0
	realm_kdc_spawn "$dir" "$(cat "$dir/realm")" "$(cat "$dir/port")" || rc=$?
	echo "$REALM_SPAWNED_PID" >"$dir/kdc.pid"
	REALM_KDC_PIDS+=("$REALM_SPAWNED_PID")
	return $rc
}

realm_kdc_stop() {
	local dir=$1 pid
	[ -f "$dir/kdc.pid" ] || return 0
	pid=$(cat "$dir/kdc.pid")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$dir/kdc.pid"
}

realm_cleanup() {
	local pid
	for pid in "${REALM_KDC_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	REALM_KDC_PIDS=()
}

realm_kadmin() {
	local dir=$1 q
	shift
	for q in "$@"; do
		(realm_env "$dir" && kadmin.local -r "$(cat "$dir/realm")" -q "$q") \
			>>"$dir/kadmin.out" 2>&1 || { echo "kadmin.local failed: $q" >&2; return 1; }
		local last
		last=$(tail -n 3 "$dir/kadmin.out")
		if grep -qiE 'error|while|usage|unable|invalid' <<<"$last"; then
			echo "kadmin.local reported an error for: $q" >&2
			tail -n 3 "$dir/kadmin.out" >&2
			return 1
		fi
	done
}

realm_dump() {
	local dir=$1 out=$2
	(realm_env "$dir" && kdb5_util -r "$(cat "$dir/realm")" dump "$out.tmp") || return 1
	tail -n +2 "$out.tmp" >"$out"
	rm -f "$out.tmp" "$out.tmp.dump_ok"
}

# kinit NAME with PASSWORD against the realm's KDC; returns kinit's status.
realm_kinit() {
	local dir=$1 name=$2 pw=$3
	(realm_env "$dir" && printf '%s\n' "$pw" | kinit "$name" >>"$dir/kinit.out" 2>&1)
}

# The rich fixture: every kind of object the bridge must carry.
realm_fixture() {
	local dir=$1 r
	r=$(cat "$dir/realm")
	realm_kadmin "$dir" \
		"addpol -maxlife 2d -minlife 1h -minlength 8 -minclasses 2 -history 3 -maxfailure 5 -failurecountinterval 600 -lockoutduration 1800 -allowedkeysalts aes256-cts-hmac-sha1-96:normal,aes128-cts-hmac-sha1-96:normal fullpol" \
		"addpol -maxfailure 2 -failurecountinterval 0 -lockoutduration 0 lockpol" \
		"addpol plainpol" \
		"addprinc -pw Alice-pass-1 -policy fullpol +requires_preauth alice" \
		"addprinc -pw Bob-pass-123 +requires_preauth bob" \
		"addprinc -pw Lock-pass-12 -policy lockpol +requires_preauth lockme" \
		"addprinc -randkey host/server.example.test" \
		"cpw -keepold -randkey host/server.example.test" \
		"cpw -keepold -randkey host/server.example.test" \
		"cpw -keepold -pw Bob-pass-456 bob" \
		"addprinc -randkey -e aes128-cts-hmac-sha1-96:special svc/salted" \
		"addprinc -randkey -allow_postdated -allow_forwardable -allow_tgs_req -allow_renewable -allow_proxiable -allow_dup_skey -allow_tix +requires_preauth +requires_hwauth +needchange -allow_svr -password_changing_service +ok_as_delegate +ok_to_auth_as_delegate +no_auth_data_required +lockdown_keys flags/all" \
		"addprinc -randkey -expire \"2031-01-02 03:04:05 UTC\" -pwexpire \"2030-06-07 08:09:10 UTC\" -maxlife \"3 hours\" -maxrenewlife \"4 days\" dated" \
		"addprinc -nokey nokey" \
		"addprinc -randkey -policy plainpol \"with space/in name\"" \
		"addprinc -randkey a/b/c/d" \
		"addprinc -randkey us\\@er" \
		"addprinc -randkey $(printf 'j\xc3\xbcrgen/\xe6\x97\xa5\xe6\x9c\xac')" \
		"addprinc -pw Cross-pass-1 krbtgt/OTHER.TEST@$r" \
		"setstr alice session_enctypes aes256-cts-hmac-sha1-96" \
		"setstr alice note \"a value with spaces\"" \
		"setstr host/server.example.test require_auth_ind otp" \
		"modprinc -maxlife \"5 hours\" bob"
	# Lockout counters and last_success from a real KDC.
	realm_kdc_start "$dir" || return 1
	realm_kinit "$dir" "alice@$r" Alice-pass-1 || { echo "alice kinit failed" >&2; realm_kdc_stop "$dir"; return 1; }
	realm_kinit "$dir" "lockme@$r" wrong-one && { echo "bad password accepted" >&2; realm_kdc_stop "$dir"; return 1; }
	realm_kinit "$dir" "bob@$r" wrong-two && { realm_kdc_stop "$dir"; return 1; }
	realm_kdc_stop "$dir"
	# An admin unlock leaves a LAST_ADMIN_UNLOCK tl-data (0x700).
	realm_kadmin "$dir" "modprinc -unlock alice" || return 1
	# Master key rollover: new key, make it active, re-encrypt everything.
	(realm_env "$dir" &&
		printf 'second-master-pw\nsecond-master-pw\n' |
		kdb5_util -r "$r" add_mkey -s -e aes256-cts-hmac-sha1-96 &&
		kdb5_util -r "$r" use_mkey 2 &&
		kdb5_util -r "$r" update_princ_encryption -f) >>"$dir/mkey.log" 2>&1 ||
		{ cat "$dir/mkey.log" >&2; return 1; }
	# One principal made after the rollover, under the new master key.
	realm_kadmin "$dir" "addprinc -pw After-roll-1 +requires_preauth after"
}
