#!/bin/bash
# SPDX-License-Identifier: MIT
#
# pair.sh: a primary and a replica KDC with kdcsync, on loopback, in one
# directory.  For tests, the demo and benchmarks; NOT a production setup.
#
#   deploy/pair.sh up DIR [-n COUNT] [--replicate-lockout] [--scan-interval D]
#                         [--log-retain ENTRIES] [--load DUMP]
#                         [--idle-timeout D] [--sync] [--chain]
#       Makes, in DIR (created; must not hold a running pair):
#         DIR/primary/  realm REALM (krb5.conf, kdc.conf whose [dbmodules]
#                       puts the kdcsync KDB module in front of db2, DB,
#                       stash), krb5kdc, kdcsyncd (role primary)
#         DIR/replica/  the same realm name and master key, krb5kdc serving,
#                       kdcsyncd (role replica) dialling the primary
#         Either node can be the primary ('kdcsync promote' / 'follow'):
#         each listens (PRIMARY_NODE_PORT, REPLICA_NODE_PORT), signs with
#         its own key, trusts both keys, lists the other with its address,
#         and its KDC has the capture module.
#         DIR/pki/      a fresh test CA, node certificates, signing key
#                       pairs signing.* (primary) and replica-signing.*
#         DIR/env       shell assignments (source it): REALM,
#                       PRIMARY_KRB5_CONFIG PRIMARY_KDC_PROFILE
#                       PRIMARY_KDC_PORT PRIMARY_NODE_CONF, the same four
#                       REPLICA_*, PRIMARY_DIR REPLICA_DIR, NODE_PORT (the
#                       primary's), PRIMARY_NODE_PORT REPLICA_NODE_PORT,
#                       KDCSYNC KDCSYNCD, PRIMARY_METRICS_URL
#                       REPLICA_METRICS_URL (each node's [metrics]
#                       endpoint, http://127.0.0.1:PORT/metrics),
#                       and PATH with DIR/bin (kdcsync, kdcsyncd) first
#         DIR/pids      what was started: "name pid" per line
#       -n COUNT preloads COUNT extra principals (user00001 ...) on the
#       primary before its node starts (fast: one kdb5_util load).
#       --load DUMP loads a dump of principals (`kdb5_util load -update`,
#       e.g. from bench/gen_realm.py, made for REALM and MASTER_PW) into the
#       primary before its node starts.
#       --idle-timeout D: [tls] idle_timeout of both nodes (default 10s).
#       --sync: synchronous mode on both nodes (synchronous = 1,
#       sync_timeout = 2s; the replica's matters after a promote): a
#       write on the primary returns once the replica applied it.
#       --chain: a cascade (PROTOCOL.md §3.13): DIR/third/, a third KDC
#       of the realm and its kdcsyncd (name 'third', role replica)
#       following the replica, which relays the primary's signed batches
#       to it unchanged; the third trusts both signing keys (the
#       replica's signs a full copy it serves) and also lists the primary
#       with its address (so it can 'kdcsync follow primary').  The env
#       file adds THIRD_DIR THIRD_KRB5_CONFIG THIRD_KDC_PROFILE
#       THIRD_KDC_PORT THIRD_NODE_CONF THIRD_NODE_PORT THIRD_METRICS_URL.
#       Returns when the replica follows the primary (initial sync done)
#       and, with --chain, the third follows the replica.
#   deploy/pair.sh down DIR
#       Stops exactly what DIR/pids lists, by pid (TERM, then KILL after
#       10 s), and removes DIR/pids.  DIR itself is kept.
#   deploy/pair.sh node-stop DIR primary|replica|third [SIGNAL]
#   deploy/pair.sh node-start DIR primary|replica|third
#       Stop (default TERM; KILL for crash tests) / start one kdcsyncd
#       (returns when its control socket answers).
#   deploy/pair.sh wait DIR [SECONDS]
#       Wait until the node running as replica (whichever it is after a
#       promote or follow) streams and has applied the last seq of the
#       node running as primary (default 60 s); with --chain also until
#       the third streams from the node it follows and has applied the
#       same seq.
#
# Binaries: $KS_BUILD_DIR (a build tree) if set, else build/pair/ under the
# checkout holding this script; if that has no node/kdcsyncd it is
# configured and built there (cmake + ninja, -j2).  The KDB module is
# BUILD/bridge/kdbmod/kdcsync.so (found through [dbmodules] db_module_dir).
# Env: PAIR_REALM (default PAIR.TEST), PAIR_MASTER_PW, PAIR_LOG_LEVEL
# ([node] log_level of every node, e.g. debug; default: the node's info).
# Needs: krb5-kdc krb5-admin-server krb5-user openssl python3 (deploy/deps.sh).
# Loopback only; no system file (/etc/krb5.conf, /var/lib/krb5kdc) is read
# or written: KRB5_CONFIG/KRB5_KDC_PROFILE point into DIR.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
# realm_write_conf, realm_create, realm_kdc_spawn; status_follows (shared
# with the tests)
# shellcheck source=SCRIPTDIR/lib/realm.sh
. "$SRC/deploy/lib/realm.sh"
# shellcheck source=SCRIPTDIR/lib/status.sh
. "$SRC/deploy/lib/status.sh"
MASTER_PW=${PAIR_MASTER_PW:-pair-master-password-1}

die() {
	echo "pair.sh: $*" >&2
	exit 1
}

find_build() {
	BUILD=${KS_BUILD_DIR:-$SRC/build/pair}
	if [ ! -x "$BUILD/node/kdcsyncd" ] ||
		[ ! -f "$BUILD/bridge/kdbmod/kdcsync.so" ]; then
		[ -n "${KS_BUILD_DIR:-}" ] && die "no kdcsyncd/kdcsync.so in KS_BUILD_DIR=$BUILD"
		echo "pair.sh: building kdcsync in $BUILD" >&2
		cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
			-DKS_BUILD_TESTS=OFF -DKS_BUILD_BENCH=OFF >"$BUILD.log" 2>&1 ||
			{ cat "$BUILD.log" >&2; die "cmake failed"; }
		ninja -C "$BUILD" -j2 >>"$BUILD.log" 2>&1 ||
			{ tail -n 30 "$BUILD.log" >&2; die "build failed"; }
	fi
	KDCSYNCD=$BUILD/node/kdcsyncd
	KDCSYNC=$BUILD/node/kdcsync
	MODDIR=$BUILD/bridge/kdbmod
}

# free_port: a port free now, below the ephemeral range, so that no
# outgoing connection takes it before the node binds it (seconds later),
# reserved so that a parallel test does not pick it (deploy/free-port.py).
free_port() {
	python3 "$SRC/deploy/free-port.py"
}

# realm DIR PORT [MODDIR]: krb5.conf + kdc.conf (with the KDB module from
# MODDIR in front of db2, reporting to DIR/node/capture.sock) + DB.
make_realm() {
	local d=$1 port=$2 moddir=${3:-}
	realm_write_conf "$d" "$REALM" "$port" "$moddir" +preauth
	realm_create "$d" "$REALM" "$MASTER_PW" || die "kdb5_util create failed in $d"
}

# preload DIR COUNT: COUNT principals sharing one random key, one load.
preload() {
	local d=$1 n=$2
	[ "$n" -gt 0 ] || return 0
	(
		export KRB5_CONFIG=$d/krb5.conf KRB5_KDC_PROFILE=$d/kdc.conf
		kadmin.local -r "$REALM" -q "addprinc -randkey pair-template" >/dev/null 2>&1
		kdb5_util -r "$REALM" dump "$d/tmpl.dump"
		awk -F'\t' -v OFS='\t' -v n="$n" -v realm="$REALM" '
			NR == 1 { print; next }
			$1 == "princ" && $7 == "pair-template@" realm {
				for (i = 1; i <= n; i++) {
					$7 = sprintf("user%05d@%s", i, realm)
					$3 = length($7)
					print
				}
			}' "$d/tmpl.dump" >"$d/bulk.dump"
		kdb5_util -r "$REALM" load -update "$d/bulk.dump"
		kadmin.local -r "$REALM" -q "delprinc -force pair-template" >/dev/null 2>&1
		rm -f "$d/tmpl.dump" "$d/tmpl.dump.dump_ok" "$d/bulk.dump"
	) || die "preloading $n principals failed"
}

start_kdc() {
	local d=$1 name=$2 port=$3 rc=0
	realm_kdc_spawn "$d" "$REALM" "$port" || rc=$?
	echo "$name $REALM_SPAWNED_PID" >>"$DIR/pids"
	[ $rc -eq 0 ] || die "krb5kdc ($name) did not start; see $d/kdc.out"
}

start_node() {
	local role=$1 d=$DIR/$1
	(export KRB5_CONFIG=$d/krb5.conf KRB5_KDC_PROFILE=$d/kdc.conf &&
		exec "$KDCSYNCD" -c "$d/node.conf" -f >>"$d/node.log" 2>&1) &
	local pid=$!
	sed -i "/^node-$role /d" "$DIR/pids"
	echo "node-$role $pid" >>"$DIR/pids"
}

# node_conf NAME FOLLOWS PEER...: the node NAME (primary, replica, third)
# starts as primary (FOLLOWS "") or as replica of FOLLOWS and lists each
# PEER with its address.  Primary and replica can each be the primary
# (kdcsync promote / follow): each listens, signs with its own key and
# trusts both keys.  The third (--chain) listens too and trusts the same
# two keys: the primary's signs the batches relayed to it, the replica's
# a full copy the replica serves it.
node_conf() {
	local name=$1 follows=$2 d=$DIR/$1 peer
	shift 2
	mkdir -p "$d/node"
	chmod 700 "$d/node"
	{
		echo "[node]"
		echo "	name = $name"
		[ -z "${PAIR_LOG_LEVEL:-}" ] || echo "	log_level = $PAIR_LOG_LEVEL"
		if [ -n "$follows" ]; then
			echo "	role = replica"
		else
			echo "	role = primary"
		fi
		echo "	state_dir = $d/node"
		echo "	kdc_profile = $d/kdc.conf"
		echo "	replicate_lockout = $LOCKOUT"
		echo "	reconnect_min = 100ms"
		echo "	reconnect_max = 2s"
		echo "	listen = 127.0.0.1:$(node_port "$name")"
		[ "$name" = third ] ||
			echo "	signing_key = $DIR/pki/$(signing_name "$name").key"
		echo "	trusted_keys = $DIR/pki/signing.pub"
		echo "	trusted_keys = $DIR/pki/replica-signing.pub"
		echo "	scan_interval = $SCAN"
		echo "	log_retain = $RETAIN"
		if [ "$SYNC" = 1 ] && [ "$name" != third ]; then
			echo "	synchronous = 1"
			echo "	sync_timeout = 2s"
		fi
		[ -z "$follows" ] || echo "	primary = $follows"
		echo "[tls]"
		echo "	ca = $DIR/pki/ca.crt"
		echo "	cert = $DIR/pki/$name.crt"
		echo "	key = $DIR/pki/$name.key"
		echo "	keepalive_interval = 2s"
		echo "	idle_timeout = $IDLE"
		echo "[peers]"
		for peer in "$@"; do
			echo "	$peer = {"
			echo "		address = 127.0.0.1:$(node_port "$peer")"
			echo "		mode = native"
			echo "	}"
		done
		echo "[metrics]"
		echo "	listen = 127.0.0.1:$(metrics_port "$name")"
	} >"$d/node.conf"
}

node_port() {
	case $1 in
	primary) echo "$NODE_PORT" ;;
	replica) echo "$REPLICA_NODE_PORT" ;;
	*) echo "$THIRD_NODE_PORT" ;;
	esac
}

metrics_port() {
	case $1 in
	primary) echo "$PRIMARY_METRICS_PORT" ;;
	replica) echo "$REPLICA_METRICS_PORT" ;;
	*) echo "$THIRD_METRICS_PORT" ;;
	esac
}

# The primary's key keeps its historical name (pki/signing.*).
signing_name() {
	[ "$1" = primary ] && echo signing || echo "$1-signing"
}

# in_sync: one node runs as primary (by its status: the config role or a
# promote/follow), the other streams from it and has applied its last seq;
# with a third node (--chain), that one streams from the node it follows
# and has applied the primary's last seq too.
in_sync() {
	local a b c
	a=$("$KDCSYNC" -c "$DIR/primary/node.conf" status --json 2>/dev/null) || return 1
	b=$("$KDCSYNC" -c "$DIR/replica/node.conf" status --json 2>/dev/null) || return 1
	if [ -f "$DIR/third/node.conf" ]; then
		c=$("$KDCSYNC" -c "$DIR/third/node.conf" status --json 2>/dev/null) || return 1
		status_chained "$a" "$b" "$c" || status_chained "$b" "$a" "$c" || return 1
	fi
	status_follows "$a" "$b" || status_follows "$b" "$a"
}

wait_sync() {
	local secs=${1:-60} deadline
	deadline=$((SECONDS + secs))
	until in_sync; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

load_env() {
	[ -f "$DIR/env" ] || die "$DIR/env not found: no pair there"
	# shellcheck disable=SC1091
	. "$DIR/env"
}

cmd_up() {
	local count=0 load= chain=0
	LOCKOUT=false
	SCAN=10min
	RETAIN=1000000
	IDLE=10s
	SYNC=0
	while [ $# -gt 0 ]; do
		case $1 in
		-n) count=$2; shift 2 ;;
		--load) load=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
		--replicate-lockout) LOCKOUT=true; shift ;;
		--scan-interval) SCAN=$2; shift 2 ;;
		--log-retain) RETAIN=$2; shift 2 ;;
		--idle-timeout) IDLE=$2; shift 2 ;;
		--sync) SYNC=1; shift ;;
		--chain) chain=1; shift ;;
		*) die "unknown option '$1'" ;;
		esac
	done
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	[ ! -s "$DIR/pids" ] || die "$DIR/pids exists: run 'pair.sh down $DIR' first"
	find_build
	REALM=${PAIR_REALM:-PAIR.TEST}
	: >"$DIR/pids"
	local pport rport
	pport=$(free_port)
	rport=$(free_port)
	while [ "$rport" = "$pport" ]; do rport=$(free_port); done
	NODE_PORT=$(free_port)
	REPLICA_NODE_PORT=$(free_port)
	while [ "$REPLICA_NODE_PORT" = "$NODE_PORT" ]; do REPLICA_NODE_PORT=$(free_port); done
	PRIMARY_METRICS_PORT=$(free_port)
	REPLICA_METRICS_PORT=$(free_port)
	local tport= names=(primary replica)
	if [ $chain = 1 ]; then
		tport=$(free_port)
		THIRD_NODE_PORT=$(free_port)
		THIRD_METRICS_PORT=$(free_port)
		names+=(third)
	fi
	rm -rf "$DIR/pki" "$DIR/primary" "$DIR/replica" "$DIR/third"
	"$SRC/deploy/make-certs.sh" "$DIR/pki" "${names[@]}" >/dev/null
	"$KDCSYNC" keygen -o "$DIR/pki/signing" >/dev/null
	"$KDCSYNC" keygen -o "$DIR/pki/replica-signing" >/dev/null
	mkdir -p "$DIR/bin"
	ln -sf "$KDCSYNC" "$DIR/bin/kdcsync"
	ln -sf "$KDCSYNCD" "$DIR/bin/kdcsyncd"
	make_realm "$DIR/primary" "$pport" "$MODDIR"
	make_realm "$DIR/replica" "$rport" "$MODDIR"
	[ $chain = 0 ] || make_realm "$DIR/third" "$tport" "$MODDIR"
	preload "$DIR/primary" "$count"
	if [ -n "$load" ]; then
		KRB5_CONFIG=$DIR/primary/krb5.conf KRB5_KDC_PROFILE=$DIR/primary/kdc.conf \
			kdb5_util -r "$REALM" load -update "$load" >"$DIR/load.log" 2>&1 ||
			{ cat "$DIR/load.log" >&2; die "loading $load failed"; }
	fi
	if [ $chain = 1 ]; then
		node_conf primary "" replica third
		node_conf replica primary primary third
		node_conf third replica replica primary
	else
		node_conf primary "" replica
		node_conf replica primary primary
	fi
	cat >"$DIR/env" <<EOF
REALM=$REALM
PRIMARY_DIR=$DIR/primary
PRIMARY_KRB5_CONFIG=$DIR/primary/krb5.conf
PRIMARY_KDC_PROFILE=$DIR/primary/kdc.conf
PRIMARY_KDC_PORT=$pport
PRIMARY_NODE_CONF=$DIR/primary/node.conf
REPLICA_DIR=$DIR/replica
REPLICA_KRB5_CONFIG=$DIR/replica/krb5.conf
REPLICA_KDC_PROFILE=$DIR/replica/kdc.conf
REPLICA_KDC_PORT=$rport
REPLICA_NODE_CONF=$DIR/replica/node.conf
NODE_PORT=$NODE_PORT
PRIMARY_NODE_PORT=$NODE_PORT
REPLICA_NODE_PORT=$REPLICA_NODE_PORT
KDCSYNC=$KDCSYNC
KDCSYNCD=$KDCSYNCD
PRIMARY_METRICS_URL=http://127.0.0.1:$PRIMARY_METRICS_PORT/metrics
REPLICA_METRICS_URL=http://127.0.0.1:$REPLICA_METRICS_PORT/metrics
PATH=$DIR/bin:\$PATH
EOF
	[ $chain = 0 ] || cat >>"$DIR/env" <<EOF
THIRD_DIR=$DIR/third
THIRD_KRB5_CONFIG=$DIR/third/krb5.conf
THIRD_KDC_PROFILE=$DIR/third/kdc.conf
THIRD_KDC_PORT=$tport
THIRD_NODE_CONF=$DIR/third/node.conf
THIRD_NODE_PORT=$THIRD_NODE_PORT
THIRD_METRICS_URL=http://127.0.0.1:$THIRD_METRICS_PORT/metrics
EOF
	start_kdc "$DIR/primary" kdc-primary "$pport"
	start_kdc "$DIR/replica" kdc-replica "$rport"
	[ $chain = 0 ] || start_kdc "$DIR/third" kdc-third "$tport"
	start_node primary
	wait_ctl primary
	start_node replica
	wait_ctl replica
	if [ $chain = 1 ]; then
		start_node third
		wait_ctl third
	fi
	if ! wait_sync "${PAIR_TIMEOUT:-120}"; then
		tail -n 20 "$DIR"/*/node.log >&2
		die "the replica did not catch up (pair left running; 'pair.sh down $DIR')"
	fi
	echo "pair up in $DIR (realm $REALM; primary KDC 127.0.0.1:$pport, replica KDC 127.0.0.1:$rport${tport:+, third KDC 127.0.0.1:$tport}); source $DIR/env"
}

stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null || return 0
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
	[ -f "$DIR/pids" ] || return 0
	local name pid
	# nodes first, then the KDCs
	while read -r name pid; do
		case $name in node-*) stop_pid "$pid" ;; esac
	done <"$DIR/pids"
	while read -r name pid; do
		case $name in node-*) ;; *) stop_pid "$pid" ;; esac
	done <"$DIR/pids"
	rm -f "$DIR/pids"
}

# wait_ctl ROLE: the node's control socket answers (or it died: fail)
wait_ctl() {
	local role=$1 pid i
	pid=$(sed -n "s/^node-$role //p" "$DIR/pids")
	for i in $(seq 1 300); do
		"$KDCSYNC" -c "$DIR/$role/node.conf" status >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || die "kdcsyncd ($role) exited; see $DIR/$role/node.log"
		sleep 0.05
	done
	die "kdcsyncd ($role) does not answer on its control socket"
}

cmd_node_stop() {
	local role=$1 sig=${2:-TERM} pid
	pid=$(sed -n "s/^node-$role //p" "$DIR/pids")
	[ -n "$pid" ] || die "no node-$role in $DIR/pids"
	stop_pid "$pid" "$sig"
	sed -i "/^node-$role /d" "$DIR/pids"
}

[ $# -ge 2 ] || die "usage: pair.sh up|down|wait|node-stop|node-start DIR [options]"
CMD=$1
DIR=$2
shift 2
[ "$CMD" = up ] || [ ! -d "$DIR" ] || DIR=$(cd "$DIR" && pwd)
case $CMD in
up) cmd_up "$@" ;;
down) cmd_down ;;
wait)
	load_env
	find_build
	wait_sync "${1:-60}" || die "replica not in sync after ${1:-60} s"
	;;
node-stop) cmd_node_stop "$@" ;;
node-start)
	load_env
	find_build
	start_node "$1"
	wait_ctl "$1"
	;;
*) die "unknown command '$CMD'" ;;
esac
