# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# kadmind (remote kadmin and kpasswd) for a deploy/pair.sh primary, on
# loopback ports of its own (source with "." after loading the pair's env).
#
#   kadmind_start DIR ADMINPW   adds admin_server/kpasswd_server to the
#                               primary's krb5.conf and kadmind_listen /
#                               kpasswd_listen to its kdc.conf, grants
#                               admin/admin@REALM everything in the ACL,
#                               creates admin/admin with ADMINPW and starts
#                               kadmind -nofork; its pid is in KADMIND_PID
#                               (logs in DIR/kadmind.out)
#   kadmind_stop                stops it by that pid
#   rkadmin CCACHE ADMINPW QUERY  one remote kadmin query as admin/admin
# Uses PRIMARY_KRB5_CONFIG, PRIMARY_KDC_PROFILE, PRIMARY_KDC_PORT,
# PRIMARY_DIR and REALM from the pair's env file.

KADMIND_PID=

kadmind_free_port() {
	python3 "${KS_SOURCE_DIR:?}/deploy/free-port.py"
}

kadmind_start() {
	local dir=$1 pw=$2 aport pwport i
	aport=$(kadmind_free_port)
	pwport=$(kadmind_free_port)
	sed -i "s|^\t\tkdc = 127.0.0.1:$PRIMARY_KDC_PORT\$|&\n\t\tadmin_server = 127.0.0.1:$aport\n\t\tkpasswd_server = 127.0.0.1:$pwport|" \
		"$PRIMARY_KRB5_CONFIG"
	grep -q "admin_server = 127.0.0.1:$aport" "$PRIMARY_KRB5_CONFIG" || return 1
	sed -i "s|^\t\tacl_file = .*|&\n\t\tkadmind_listen = 127.0.0.1:$aport\n\t\tkpasswd_listen = 127.0.0.1:$pwport|" \
		"$PRIMARY_KDC_PROFILE"
	echo "admin/admin@$REALM *" >"$PRIMARY_DIR/kadm5.acl"
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "addprinc -pw $pw admin/admin" >>"$dir/kadmind.out" 2>&1 || return 1
	(export KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		KRB5RCACHEDIR=$PRIMARY_DIR && exec kadmind -nofork -r "$REALM") >>"$dir/kadmind.out" 2>&1 &
	KADMIND_PID=$!
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$aport") 2>/dev/null && return 0
		kill -0 "$KADMIND_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

kadmind_stop() {
	if [ -n "$KADMIND_PID" ]; then
		kill "$KADMIND_PID" 2>/dev/null || true
		wait "$KADMIND_PID" 2>/dev/null || true
		KADMIND_PID=
	fi
}

rkadmin() {
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5CCNAME=FILE:$1 \
		kadmin -r "$REALM" -p "admin/admin@$REALM" -w "$2" -q "$3"
}
