# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# A throw-away MIT Kerberos realm in one directory, its KDC on loopback
# (source with ".").  deploy/pair.sh (and through it deploy/demo.sh) and the
# integration tests (tests/integration/lib/realm.sh) both make their realms
# here, so the realm the tests check is the realm the demo runs.
#
#   realm_write_conf DIR REALM PORT [MODDIR [FLAGS]]
#       DIR/krb5.conf (the KDC at 127.0.0.1:PORT, no DNS, TCP first),
#       DIR/kdc.conf (database, stash, ACL and logs in DIR; aes256 master
#       key; FLAGS, e.g. "+preauth", as default_principal_flags) and an
#       empty DIR/kadm5.acl.  With MODDIR, a [dbmodules] section puts the
#       kdcsync KDB module found in MODDIR in front of db2, reporting
#       changes to DIR/node/capture.sock.
#   realm_create DIR REALM MASTERPW [kdb5_util options...]
#       `kdb5_util create -s` for that configuration; its output goes to
#       DIR/create.log, shown on stderr when it fails (status 1)
#   realm_kdc_spawn DIR REALM PORT
#       krb5kdc -n in the background (output appended to DIR/kdc.out), its
#       pid in REALM_SPAWNED_PID (set even when this fails, so the caller can
#       record it); returns once 127.0.0.1:PORT accepts a connection, 1 if
#       krb5kdc exits or does not listen within 10 s
#
# Never touches /etc/krb5.conf or /var/lib/krb5kdc: KRB5_CONFIG and
# KRB5_KDC_PROFILE point into DIR.  Needs kdb5_util and krb5kdc (Debian
# krb5-kdc).

REALM_SPAWNED_PID=

realm_write_conf() {
	local dir=$1 realm=$2 port=$3 moddir=${4:-} flags=${5:-}
	mkdir -p "$dir"
	cat >"$dir/krb5.conf" <<EOF
[libdefaults]
	default_realm = $realm
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1
[realms]
	$realm = {
		kdc = 127.0.0.1:$port
	}
EOF
	{
		cat <<EOF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$port
	kdc_tcp_listen = 127.0.0.1:$port
[realms]
	$realm = {
		database_name = $dir/principal
		key_stash_file = $dir/stash
		acl_file = $dir/kadm5.acl
		kdc_listen = 127.0.0.1:$port
		kdc_tcp_listen = 127.0.0.1:$port
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
EOF
		[ -z "$flags" ] || printf '\t\tdefault_principal_flags = %s\n' "$flags"
		cat <<EOF
		max_life = 10h
		max_renewable_life = 7d
	}
[logging]
	kdc = FILE:$dir/kdc.log
	admin_server = FILE:$dir/kadmin.log
	default = FILE:$dir/krb5lib.log
EOF
		[ -z "$moddir" ] || cat <<EOF
[dbmodules]
	db_module_dir = $moddir
	$realm = {
		db_library = kdcsync
		kdcsync_backend = db2
		kdcsync_socket = $dir/node/capture.sock
	}
EOF
	} >"$dir/kdc.conf"
	: >"$dir/kadm5.acl"
}

realm_create() {
	local dir=$1 realm=$2 mpw=$3
	shift 3
	KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf \
		kdb5_util -r "$realm" "$@" create -s -P "$mpw" >"$dir/create.log" 2>&1 || {
		cat "$dir/create.log" >&2
		return 1
	}
}

realm_kdc_spawn() {
	local dir=$1 realm=$2 port=$3 try
	# (env execs krb5kdc: the pid is the KDC's own, for its signals)
	env KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf" \
		KRB5RCACHEDIR="$dir" krb5kdc -n -r "$realm" >>"$dir/kdc.out" 2>&1 &
	REALM_SPAWNED_PID=$!
	for try in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "$REALM_SPAWNED_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "krb5kdc for $realm in $dir did not listen on 127.0.0.1:$port (after $try tries):" >&2
	tail -n 20 "$dir/kdc.out" "$dir/kdc.log" >&2 2>/dev/null
	return 1
}
