#!/bin/bash
# SPDX-License-Identifier: MIT
# High availability with keepalived (deploy/keepalived/): two KDC hosts in
# two network namespaces joined by a veth pair (192.0.2.1 and .2, TEST-NET-1
# inside the namespaces only), each running krb5kdc, kdcsyncd and Debian's
# keepalived with the check and notify scripts; the virtual IP 192.0.2.100
# is the clients' KDC.  kinit through the virtual IP works; the master's
# krb5kdc and kdcsyncd are killed: the address moves and the backup is
# promoted within a few seconds; kinit through the virtual IP works again;
# a change made on the new primary reaches the old one after its processes
# return and keepalived makes it follow, without a full copy.
# Exit 77 (skipped) where network namespaces cannot be made.
set -euo pipefail

: "${KS_BUILD_DIR:?set by ctest}"
: "${KS_SOURCE_DIR:?set by ctest}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
KDCSYNC=$KS_BUILD_DIR/node/kdcsync
KDCSYNCD=$KS_BUILD_DIR/node/kdcsyncd
MODDIR=$KS_BUILD_DIR/bridge/kdbmod
KA=$KS_SOURCE_DIR/deploy/keepalived
REALM=HA.TEST
VIP=192.0.2.100
KDC_PORT=8888
NODE_PORT=7541
MASTER_PW=ha-master-password-1

command -v keepalived >/dev/null || { echo "SKIP: keepalived not installed"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ks-ha.XXXXXX")
NS_A=ks-ha-a-$$
NS_B=ks-ha-b-$$
PIDS=()

cleanup() {
	local rc=$? i
	# keepalived first (TERM: it gives the address up), then the rest
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$T"/a/node.log "$T"/b/node.log "$T"/a/ka.log "$T"/b/ka.log; do
			[ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if ! ip netns add "$NS_A" 2>/dev/null; then
	echo "SKIP: cannot create network namespaces here"
	exit 77
fi
ip netns add "$NS_B"
ip link add ksha-a$$ netns "$NS_A" type veth peer name ksha-b$$ netns "$NS_B"
ip -n "$NS_A" addr add 192.0.2.1/24 dev ksha-a$$
ip -n "$NS_B" addr add 192.0.2.2/24 dev ksha-b$$
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link set lo up
done
ip -n "$NS_A" link set ksha-a$$ up
ip -n "$NS_B" link set ksha-b$$ up

"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/pki" a b >/dev/null
"$KDCSYNC" keygen -o "$T/pki/a-signing" >/dev/null
"$KDCSYNC" keygen -o "$T/pki/b-signing" >/dev/null

# host NAME ADDR OTHER OTHER_ADDR ROLE PRIORITY: realm, node and keepalived
# configuration of one host in $T/NAME.
host() {
	local n=$1 addr=$2 other=$3 oaddr=$4 role=$5 prio=$6 d=$T/$1
	mkdir -p "$d/node"
	chmod 700 "$d/node"
	cat >"$d/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1
[realms]
	$REALM = {
		kdc = $VIP:$KDC_PORT
	}
EOF
	cat >"$d/kdc.conf" <<EOF
[kdcdefaults]
	kdc_listen = $KDC_PORT
	kdc_tcp_listen = $KDC_PORT
[realms]
	$REALM = {
		database_name = $d/principal
		key_stash_file = $d/stash
		acl_file = $d/kadm5.acl
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
	}
[logging]
	kdc = FILE:$d/kdc.log
	default = FILE:$d/krb5lib.log
[dbmodules]
	db_module_dir = $MODDIR
	$REALM = {
		db_library = kdcsync
		kdcsync_backend = db2
		kdcsync_socket = $d/node/capture.sock
	}
EOF
	: >"$d/kadm5.acl"
	KRB5_CONFIG=$d/krb5.conf KRB5_KDC_PROFILE=$d/kdc.conf \
		kdb5_util -r "$REALM" create -s -P "$MASTER_PW" >"$d/create.log" 2>&1 ||
		fail "kdb5_util create ($n)"
	{
		echo "[node]"
		echo "	name = $n"
		echo "	role = $role"
		[ "$role" = replica ] && echo "	primary = $other"
		echo "	state_dir = $d/node"
		echo "	kdc_profile = $d/kdc.conf"
		echo "	listen = $addr:$NODE_PORT"
		echo "	signing_key = $T/pki/$n-signing.key"
		echo "	trusted_keys = $T/pki/a-signing.pub"
		echo "	trusted_keys = $T/pki/b-signing.pub"
		echo "	reconnect_min = 100ms"
		echo "	reconnect_max = 1s"
		echo "[tls]"
		echo "	ca = $T/pki/ca.crt"
		echo "	cert = $T/pki/$n.crt"
		echo "	key = $T/pki/$n.key"
		echo "	keepalive_interval = 1s"
		echo "	idle_timeout = 5s"
		echo "[peers]"
		echo "	$other = {"
		echo "		address = $oaddr:$NODE_PORT"
		echo "		mode = native"
		echo "	}"
	} >"$d/node.conf"
	cat >"$d/keepalived.conf" <<EOF
vrrp_script kdc_alive {
	script "$KA/kdcsync-check.sh $d/node.conf $d/kdc.pid $KDCSYNC"
	interval 1
	fall 2
	rise 2
}
vrrp_instance KDC {
	state BACKUP
	nopreempt
	interface ksha-$n$$
	virtual_router_id 51
	priority $prio
	advert_int 1
	virtual_ipaddress {
		$VIP/24
	}
	track_script {
		kdc_alive
	}
	notify_master "$KA/kdcsync-notify.sh master $d/node.conf $other $KDCSYNC"
	notify_backup "$KA/kdcsync-notify.sh backup $d/node.conf $other $KDCSYNC"
	notify_fault "$KA/kdcsync-notify.sh fault $d/node.conf $other $KDCSYNC"
}
EOF
}
host a 192.0.2.1 b 192.0.2.2 primary 150
host b 192.0.2.2 a 192.0.2.1 replica 100

# in_ns NS NAME CMD...: start CMD in namespace NS with host NAME's krb5
# environment; sets $LAST to its pid (ip netns exec and env exec it).
in_ns() {
	local ns=$1 n=$2
	shift 2
	ip netns exec "$ns" env KRB5_CONFIG="$T/$n/krb5.conf" KRB5_KDC_PROFILE="$T/$n/kdc.conf" \
		KRB5RCACHEDIR="$T/$n" "$@" &
	LAST=$!
	PIDS+=("$LAST")
}
start_kdc() { # start_kdc NS NAME
	in_ns "$1" "$2" krb5kdc -n -r "$REALM" -P "$T/$2/kdc.pid" >>"$T/$2/kdc.out" 2>&1
}
start_node() { # start_node NS NAME
	in_ns "$1" "$2" "$KDCSYNCD" -c "$T/$2/node.conf" -f >>"$T/$2/node.log" 2>&1
	for _ in $(seq 1 200); do
		"$KDCSYNC" -c "$T/$2/node.conf" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "kdcsyncd ($2) does not answer"
}
start_ka() { # start_ka NS NAME
	in_ns "$1" "$2" keepalived -n -l -D -P -f "$T/$2/keepalived.conf" \
		-p "$T/$2/ka.pid" -r "$T/$2/vrrp.pid" >>"$T/$2/ka.log" 2>&1
}
# shellcheck source=lib/status.sh
. "$KS_SOURCE_DIR/tests/integration/lib/status.sh"
field() { # field NAME KEY: a field of NAME's status ("" without one)
	status_get "$T/$1/node.conf" "$2" || true
}
has_vip() { ip -n "$1" -4 addr show | grep -q "inet $VIP/"; }
role_is() { [ "$(field "$1" role)" = "$2" ]; } # role_is NAME ROLE
captured() { [ "$(field "$1" last_seq)" -gt "$(field "$1" applied_seq)" ]; }
kq() { # kq NAME QUERY: kadmin.local on host NAME's KDB
	KRB5_CONFIG=$T/$1/krb5.conf KRB5_KDC_PROFILE=$T/$1/kdc.conf \
		kadmin.local -r "$REALM" -q "$2" >>"$T/kadmin.out" 2>&1 || fail "kadmin.local ($1): $2"
}
has() { # has NAME PRINCIPAL
	KRB5_CONFIG=$T/$1/krb5.conf KRB5_KDC_PROFILE=$T/$1/kdc.conf \
		kadmin.local -r "$REALM" -q "getprinc $2" 2>&1 | grep -q "^Principal: $2@"
}
kinit_vip() { # kinit_vip NS PRINCIPAL PASSWORD: from inside NS, through the VIP
	printf '%s\n' "$3" | ip netns exec "$1" env KRB5_CONFIG="$T/a/krb5.conf" \
		KRB5CCNAME="FILE:$T/cc" kinit "$2@$REALM" >>"$T/kinit.out" 2>&1
}
in_sync() { # in_sync PRIMARY REPLICA
	local l a
	l=$(field "$1" last_seq)
	a=$(field "$2" applied_seq)
	[ "$(field "$2" role)" = replica ] && [ -n "$l" ] && [ "$l" = "$a" ]
}
wait_for() { # wait_for SECONDS DESCRIPTION CMD...
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@"; do
		[ $SECONDS -lt $deadline ] || fail "$what (after $secs s)"
		sleep 0.2
	done
}

kq a "addprinc -pw Ha-pass-1 ha1"
start_kdc "$NS_A" a
KDC_A=$LAST
start_kdc "$NS_B" b
start_node "$NS_A" a
NODE_A=$LAST
start_node "$NS_B" b
wait_for 60 "b did not sync from a" in_sync a b
# a's keepalived first (it takes the address), then b's joins as BACKUP
start_ka "$NS_A" a
KA_A=$LAST
wait_for 30 "a did not take the virtual IP" has_vip "$NS_A"
start_ka "$NS_B" b
wait_for 30 "b's node does not follow a" in_sync a b
sleep 2 # b's keepalived settled in BACKUP (it runs its notify script)
has_vip "$NS_A" || fail "a lost the virtual IP when b's keepalived started"
has_vip "$NS_B" && fail "both hosts hold the virtual IP"
kinit_vip "$NS_B" ha1 Ha-pass-1 || fail "kinit through the virtual IP (a serving)"
echo "a holds $VIP; kinit through it works"

# The master's KDC and node die.
t0=$SECONDS
kill -KILL "$KDC_A" "$NODE_A"
wait "$KDC_A" "$NODE_A" 2>/dev/null || true
wait_for 20 "b did not take the virtual IP" has_vip "$NS_B"
wait_for 20 "b was not promoted" role_is b primary
t1=$SECONDS
has_vip "$NS_A" && fail "a kept the virtual IP"
[ "$(field b role_source)" = promote ] || fail "b's role does not come from promote"
kinit_vip "$NS_A" ha1 Ha-pass-1 || fail "kinit through the virtual IP (b serving)"
echo "a's krb5kdc and kdcsyncd killed: $VIP moved to b and b promoted within $((t1 - t0)) s; kinit works"

# A change on the new primary, then a's processes return: keepalived makes
# it a BACKUP, the notify script makes it follow b.
kq b "addprinc -pw Ha-pass-2 ha2"
wait_for 20 "b did not capture ha2" captured b
start_kdc "$NS_A" a
start_node "$NS_A" a
wait_for 60 "a did not follow b" in_sync b a
[ "$(field a role_source)" = follow ] || fail "a's role does not come from follow"
has a ha2 || fail "ha2 did not reach a's KDB"
grep -q "receiving a full snapshot" "$T/a/node.log" && fail "a got a full copy"
has_vip "$NS_B" || fail "b lost the virtual IP when a returned"
kill -0 "$KA_A" || fail "a's keepalived died"
echo "PASS: fail-over in $((t1 - t0)) s through keepalived; kinit through $VIP before and after; a returned and followed b incrementally (ha2 arrived)"
