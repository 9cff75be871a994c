#!/bin/bash
# SPDX-License-Identifier: MIT
# Helper of bench/repl_bench.sh: stock MIT iprop (kadmind serving the ulog,
# kpropd polling it every second, iprop_replica_poll = 1s) at N principals,
# measured like kdcsync (bench/repl_probe at the replica's KDC).
# Prints "P50_MS P99_MS AFTER_BURST_MS".  Env: N, LAT_N, BURST_N, PROBE.
# Layout as MIT's own tests: both sides on this host ($(hostname) must
# resolve to a loopback address), one keytab with host/ and kiprop/.
# Stock kpropd binds the wildcard address (it has no listen option).
set -euo pipefail
REALM=IPROP.TEST
HOST=$(hostname)
PW=iprop-master-pw-1
T=$(mktemp -d "${TMPDIR:-/tmp}/ks-iprop.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do # the daemon and its forked children, by pid
		kill $(pgrep -P "$p" 2>/dev/null) "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" TERM INT
fail() {
	echo "iprop bench: $*" >&2
	tail -n 20 "$T"/*.log >&2 2>/dev/null || true
	exit 1
}
port() { python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
now_us() { echo $(($(date +%s%N) / 1000)); }
PKDC=$(port) RKDC=$(port) APORT=$(port) PWPORT=$(port) IPORT=$(port) KPORT=$(port)

# conf SIDE KDCPORT EXTRA: krb5.conf + kdc.conf for one side
conf() {
	local d=$T/$1
	mkdir -p "$d"
	cat >"$d/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1
[realms]
	$REALM = {
		kdc = 127.0.0.1:$PKDC
		admin_server = $HOST:$APORT
	}
EOF
	cat >"$d/kdc.conf" <<EOF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$2
	kdc_tcp_listen = 127.0.0.1:$2
[realms]
	$REALM = {
		database_name = $d/principal
		key_stash_file = $d/stash
		acl_file = $d/kadm5.acl
		kdc_listen = 127.0.0.1:$2
		kdc_tcp_listen = 127.0.0.1:$2
		kadmind_listen = 127.0.0.1:$APORT
		kpasswd_listen = 127.0.0.1:$PWPORT
		iprop_port = $IPORT
		iprop_listen = 127.0.0.1:$IPORT
		iprop_replica_poll = 1s
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
$3
	}
[logging]
	kdc = FILE:$d/kdc.log
	admin_server = FILE:$d/kadmind.log
	default = FILE:$d/lib.log
EOF
	# the probe asks this side's KDC only
	sed "s|kdc = 127.0.0.1:$PKDC|kdc = 127.0.0.1:$2|" "$d/krb5.conf" >"$d/probe.conf"
}
on() { local s=$1; shift; env KRB5_CONFIG="$T/$s/krb5.conf" KRB5_KDC_PROFILE="$T/$s/kdc.conf" "$@"; }
# bg LOG SIDE CMD...: a daemon with SIDE's configuration, pid recorded
bg() {
	local log=$1 side=$2
	shift 2
	(export KRB5_CONFIG="$T/$side/krb5.conf" KRB5_KDC_PROFILE="$T/$side/kdc.conf" KRB5_KTNAME="$T/keytab" \
		KRB5RCACHEDIR="$T/$side" && exec "$@") >>"$T/$log.log" 2>&1 &
	PIDS+=($!)
}

conf P "$PKDC" ""
on P kdb5_util -r "$REALM" create -s -P "$PW" >"$T/create.log" 2>&1 || fail "create P"
# population with iprop off (a ulog-logged bulk load is ~20x slower)
on P kadmin.local -r "$REALM" -q "addprinc -randkey tmpl" >/dev/null 2>&1
on P kdb5_util -r "$REALM" dump "$T/t.dump"
awk -F'\t' -v OFS='\t' -v n="$N" -v realm="$REALM" '
	NR == 1 { print; next }
	$1 == "princ" && $7 == "tmpl@" realm {
		for (i = 1; i <= n; i++) { $7 = sprintf("user%07d@%s", i, realm); $3 = length($7); print }
	}' "$T/t.dump" >"$T/bulk.dump"
on P kdb5_util -r "$REALM" load -update "$T/bulk.dump" || fail "bulk load"
for q in "addprinc -randkey host/$HOST" "addprinc -randkey kiprop/$HOST" "ktadd -k $T/keytab host/$HOST kiprop/$HOST"; do
	on P kadmin.local -r "$REALM" -q "$q" >>"$T/kadmin.log" 2>&1
done
echo "kiprop/$HOST@$REALM p" >"$T/P/kadm5.acl"
# now switch iprop on, with a fresh ulog
sed -i 's|^		default_principal_flags = +preauth$|&\n		iprop_enable = true|' "$T/P/kdc.conf"
on P kproplog -R >/dev/null 2>&1 || true
bg kdc-P P krb5kdc -n -r "$REALM"
bg kadmind P kadmind -nofork -r "$REALM" -p /usr/sbin/kdb5_util -K /usr/sbin/kprop \
	-k "$KPORT" -F "$T/P/iprop_full.dump"

conf R "$RKDC" "		iprop_enable = true"
cp "$T/P/stash" "$T/R/stash"
on R kdb5_util -r "$REALM" create -s -P "$PW" >"$T/createR.log" 2>&1 || fail "create R"
: >"$T/R/kadm5.acl"
echo "host/$HOST@$REALM" >"$T/R/kpropd.acl"
bg kdc-R R krb5kdc -n -r "$REALM"
sleep 0.5
bg kpropd R kpropd -d -r "$REALM" -P "$KPORT" -f "$T/R/from_primary.dump" \
	-p /usr/sbin/kdb5_util -a "$T/R/kpropd.acl" -s "$T/keytab" -A "$HOST"

coproc PR { KRB5_CONFIG=$T/R/probe.conf exec "$PROBE" 120; }
PIDS+=("$PR_PID")
ask() { # ask NAME: microseconds until the replica's KDC knows NAME
	local us
	echo "$1@$REALM" >&"${PR[1]}"
	read -r _ us _ <&"${PR[0]}"
	[ "$us" -ge 0 ] || fail "$1 never reached the iprop replica"
	echo "$us"
}
# initial full resync through kadmind's kprop
ask "user$(printf %07d "$N")" >/dev/null
: >"$T/lat"
for i in $(seq 1 "$LAT_N"); do
	# a random pause first: otherwise each change follows right after the
	# poll that delivered the previous one and always waits a whole period
	sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
	on P kadmin.local -r "$REALM" -q "addprinc -randkey ilat$i" >/dev/null 2>&1
	ask "ilat$i" >>"$T/lat"
done
pct() { sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; printf "%.1f", a[i] / 1000 }'; }
for i in $(seq 1 "$BURST_N"); do printf 'addprinc -randkey iburst%05d\n' "$i"; done >"$T/burst.txt"
on P kadmin.local -r "$REALM" <"$T/burst.txt" >/dev/null 2>&1
burst=$(ask "$(printf 'iburst%05d' "$BURST_N")")
echo "$(pct "$T/lat" 50) $(pct "$T/lat" 99) $(awk -v u="$burst" 'BEGIN { printf "%.1f", u / 1000 }')"
