# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The kprop-compatibility tests' realms (source with "."): a primary realm
# and replica realms sharing the realm name and master key (as kprop
# requires: the dump carries keys under the master key), one host keytab,
# kdcsync configurations, stock kpropd started by recorded pid (lib/test.sh
# is the harness under it: proc_start/proc_stop, PIDS).
# shellcheck source=SCRIPTDIR/test.sh
. "$KS_SOURCE_DIR/tests/integration/lib/test.sh"

REALM=KPROP.TEST
HOST=$(hostname)
TEST_LOGS+=("$T/*/kdc.log")

# primary_init: realm P with principals and the host keytab T/host.keytab;
# starts P's KDC (kprop gets its ticket there).
primary_init() {
	realm_init "$T/P" "$REALM"
	realm_kadmin "$T/P" \
		"addpol -minlength 6 stdpol" \
		"addprinc -pw Alice-pass-1 -policy stdpol alice" \
		"addprinc -pw Bob-pass-123 +requires_preauth bob" \
		"addprinc -randkey svc/one" \
		"addprinc -randkey host/$HOST" \
		"addprinc -randkey host/other.example.test" \
		"ktadd -k $T/host.keytab host/$HOST" \
		"ktadd -k $T/other.keytab host/other.example.test"
	realm_kdc_start "$T/P"
}

# replica_init NAME: an empty realm with the same name and master key.
replica_init() {
	realm_init "$T/$1" "$REALM"
	echo "host/$HOST@$REALM" >"$T/$1/kpropd.acl"
}

# kconf NAME STATE_DIR KDC_PROFILE [extra lines]: a kdcsync configuration.
kconf() {
	local f=$T/$1.conf
	mkdir -p "$T/tls"
	[ -f "$T/tls/ca.pem" ] || : >"$T/tls/ca.pem"
	: >"$T/tls/cert.pem"
	: >"$T/tls/key.pem"
	chmod 600 "$T/tls/key.pem"
	cat >"$f" <<CONF
[node]
	name = $1
	role = primary
	state_dir = $2
	kdc_profile = $3
	listen = 127.0.0.1:$(realm_free_port)
[tls]
	ca = $T/tls/ca.pem
	cert = $T/tls/cert.pem
	key = $T/tls/key.pem
[kprop]
	keytab = FILE:$T/host.keytab
	timeout = 20s
${4:-}
CONF
	echo "$f"
}

# realms_equal A B: the realms' dumps (without header) are identical.
realms_equal() {
	realm_dump "$T/$1" "$T/$1.dump.cmp"
	realm_dump "$T/$2" "$T/$2.dump.cmp"
	cmp -s "$T/$1.dump.cmp" "$T/$2.dump.cmp" || {
		diff "$T/$1.dump.cmp" "$T/$2.dump.cmp" | head -20 >&2
		return 1
	}
}

# scan_store REALMDIR STATE_DIR: the realm's KDB into the node's store.
scan_store() {
	(realm_env "$T/$1" && "$TOOL" scan "$2/store" >/dev/null 2>&1)
}

# stock_kpropd NAME PORT: stock kpropd serving replica realm NAME.
stock_kpropd() {
	local r=$T/$1
	proc_start "kpropd-$1" env KRB5_CONFIG="$r/krb5.conf" \
		KRB5_KDC_PROFILE="$r/kdc.conf" KRB5RCACHEDIR="$r" \
		kpropd -D -d -P "$2" -s "$T/host.keytab" -r "$REALM" \
		-f "$r/from_master" -a "$r/kpropd.acl" -p /usr/sbin/kdb5_util
	wait_port "$2"
}
