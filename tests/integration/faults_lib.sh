# SPDX-License-Identifier: MIT
# The fault suite's set-up (source with "."): a primary and a replica KDB
# (tests/integration/lib/realm.sh, same realm and master key) whose
# kdcsyncd run in two network namespaces joined by a veth pair
# (lib/netns.sh), the replica reaching the primary through a delay relay
# (delay_proxy.py, no delay unless asked), a writer making changes on the
# primary with kadmin.local, and a checker timing convergence.  Everything
# started is stopped by pid, everything created is removed by the trap.
# Exits 77 (ctest SKIP_RETURN_CODE) when namespaces cannot be made here.
set -euo pipefail

# A private mount namespace (when allowed) for the replica's KDB on a small
# tmpfs: the "KDB filesystem full" fault.  Mounts vanish with it.
if [ -z "${KS_IN_MNTNS:-}" ] && unshare -m --propagation private true 2>/dev/null; then
	KS_IN_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

: "${KS_BUILD_DIR:?set by ctest}"
: "${KS_SOURCE_DIR:?set by ctest}"
KDCSYNCD=$KS_BUILD_DIR/node/kdcsyncd
KDCSYNC=$KS_BUILD_DIR/node/kdcsync
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
LIB=$KS_SOURCE_DIR/tests/integration/lib
# shellcheck source=lib/realm.sh
. "$LIB/realm.sh"
# shellcheck source=lib/netns.sh
. "$LIB/netns.sh"
# shellcheck source=lib/status.sh
. "$LIB/status.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/ks-faults.XXXXXX")
REALM=FAULTS.TEST
NODE_PORT=7541
PROXY_PORT=7542
declare -A PIDS=()
WRITER_PID=
RESULTS=()

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

faults_cleanup() {
	local rc=$?
	writer_stop
	for name in "${!PIDS[@]}"; do
		kill -CONT "${PIDS[$name]}" 2>/dev/null || true
		kill -TERM "${PIDS[$name]}" 2>/dev/null || true
		wait "${PIDS[$name]}" 2>/dev/null || true
	done
	netns_down
	[ "$KDBFS" = 0 ] || umount "$T/r" 2>/dev/null || true
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$T"/primary.log "$T"/replica.log; do
			[ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap faults_cleanup EXIT

if ! netns_up; then
	echo "SKIP: cannot create network namespaces here ($NETNS_WHY)"
	exit 77
fi

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# --- realms, keys, configurations ----------------------------------------
# the replica's KDB on a 64 MiB tmpfs where mounts are allowed
KDBFS=0
mkdir -p "$T/r"
if [ -n "${KS_IN_MNTNS:-}" ] && mount -t tmpfs -o size=64m,mode=0700 tmpfs "$T/r"; then
	KDBFS=1
fi
realm_init "$T/p" "$REALM" faults-master-pw-1
realm_init "$T/r" "$REALM" faults-master-pw-1
"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/pki" primary replica >/dev/null
"$KDCSYNC" keygen -o "$T/pki/signing" >/dev/null
echo "0 0" >"$T/delay"

# node_conf ROLE: the node's configuration, on namespace addresses.
node_conf() {
	local role=$1 d=$T/$1
	mkdir -p "$d/node"
	chmod 700 "$d/node"
	{
		echo "[node]"
		echo "	name = $role"
		echo "	role = $role"
		echo "	state_dir = $d/node"
		echo "	kdc_profile = $T/${role:0:1}/kdc.conf"
		echo "	reconnect_min = 100ms"
		echo "	reconnect_max = 1s"
		echo "	scan_interval = 1s"
		if [ "$role" = primary ]; then
			echo "	listen = $NETNS_ADDR_P:$NODE_PORT"
			echo "	signing_key = $T/pki/signing.key"
		else
			echo "	primary = primary"
			echo "	trusted_keys = $T/pki/signing.pub"
		fi
		echo "[tls]"
		echo "	ca = $T/pki/ca.crt"
		echo "	cert = $T/pki/$role.crt"
		echo "	key = $T/pki/$role.key"
		echo "	keepalive_interval = 500ms"
		echo "	idle_timeout = 3s"
		echo "	handshake_timeout = 3s"
		echo "[peers]"
		if [ "$role" = primary ]; then
			printf '\treplica = {\n\t\taddress = %s:%s\n\t\tmode = native\n\t}\n' "$NETNS_ADDR_R" "$NODE_PORT"
		else
			printf '\tprimary = {\n\t\taddress = %s:%s\n\t\tmode = native\n\t}\n' "$NETNS_ADDR_P" "$PROXY_PORT"
		fi
	} >"$d.conf"
}
node_conf primary
node_conf replica
# (kdcsync/kdcsyncd read KRB5_CONFIG for the realm's defaults)

# node_start primary|replica: kdcsyncd inside its namespace.
# (ip netns exec execs the command: $! is kdcsyncd itself, for signals)
node_start() {
	local role=$1 ns=$NETNS_P dir=$T/p
	[ "$role" = replica ] && ns=$NETNS_R dir=$T/r
	KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf \
		ip netns exec "$ns" "$KDCSYNCD" -c "$T/$role.conf" -f >>"$T/$role.log" 2>&1 &
	PIDS[$role]=$!
}

# node_stop ROLE [SIGNAL]: by pid; TERM must end with status 0.
node_stop() {
	local role=$1 sig=${2:-TERM} pid=${PIDS[$1]} rc=0
	kill -CONT "$pid" 2>/dev/null || true
	kill -"$sig" "$pid"
	wait "$pid" || rc=$?
	unset "PIDS[$role]"
	if [ "$sig" = TERM ] && [ $rc -ne 0 ]; then
		fail "$role (pid $pid) exited with $rc"
	fi
}

status_of() { "$KDCSYNC" -c "$T/$1.conf" status --json 2>/dev/null; }

# in_sync: the replica streams and has applied the primary's last seq.
in_sync() {
	local p r
	p=$(status_of primary) || return 1
	r=$(status_of replica) || return 1
	status_follows "$p" "$r"
}

sorted_dump() { # DIR OUT
	realm_dump "$1" "$2.raw" || return 1
	LC_ALL=C sort "$2.raw" >"$2"
	rm -f "$2.raw"
}

dumps_equal() {
	sorted_dump "$T/p" "$T/p.dump" && sorted_dump "$T/r" "$T/r.dump" &&
		cmp -s "$T/p.dump" "$T/r.dump"
}

# converged_within SECONDS: poll until in sync with equal dumps; sets
# RECOVERY to the seconds it took.
converged_within() {
	local t0 t1 deadline
	t0=$(now)
	deadline=$((SECONDS + $1))
	until in_sync && dumps_equal; do
		if [ $SECONDS -ge $deadline ]; then
			diff "$T/p.dump" "$T/r.dump" 2>/dev/null | head -n 6 | cut -c1-160 >&2 || true
			return 1
		fi
		sleep 0.2
	done
	t1=$(now)
	RECOVERY=$(elapsed "$t0" "$t1")
}

# --- the writer ------------------------------------------------------------
WRITES=0
writer_start() {
	local tag=$1
	rm -f "$T/writer.stop"
	(
		i=0
		live=()
		while [ ! -e "$T/writer.stop" ]; do
			case $((i % 4)) in
			0 | 1)
				q="addprinc -randkey $tag/w$i"
				live+=("$tag/w$i")
				;;
			2) q="cpw -randkey ${live[$((RANDOM % ${#live[@]}))]}" ;;
			3)
				if [ $((i % 8)) -eq 7 ]; then
					q="delprinc -force ${live[0]}"
					live=("${live[@]:1}")
				else
					q="modprinc -maxlife \"$((i % 9 + 1)) hours\" ${live[$((RANDOM % ${#live[@]}))]}"
				fi
				;;
			esac
			realm_kadmin "$T/p" "$q" >/dev/null 2>&1 || echo "kadmin failed: $q" >>"$T/writer.err"
			i=$((i + 1))
			echo "$i" >"$T/writer.count"
			sleep 0.1
		done
	) &
	WRITER_PID=$!
}

writer_stop() {
	if [ -n "$WRITER_PID" ]; then
		: >"$T/writer.stop"
		wait "$WRITER_PID" 2>/dev/null || true
		WRITER_PID=
		WRITES=$((WRITES + $(cat "$T/writer.count" 2>/dev/null || echo 0)))
	fi
}

# --- start everything --------------------------------------------------------
ip netns exec "$NETNS_P" python3 "$KS_SOURCE_DIR/tests/integration/delay_proxy.py" \
	"$NETNS_ADDR_P" "$PROXY_PORT" "$NETNS_ADDR_P" "$NODE_PORT" "$T/delay" >>"$T/proxy.log" 2>&1 &
PIDS[proxy]=$!
node_start primary
node_start replica
converged_within 60 || fail "the pair did not come up in the namespaces"
echo "pair up in namespaces $NETNS_P ($NETNS_ADDR_P) and $NETNS_R ($NETNS_ADDR_R) in $RECOVERY s"

# connects: how many times the replica's link to the primary came up.
connects() {
	status_get "$T/replica.conf" peers/primary/connects || echo 0 # (for the table)
}
CONNECTS_BEFORE=0
mark() { CONNECTS_BEFORE=$(connects); }

# The replica's KDB file system full (600 KiB left: below any batch's
# need) and freed again; a no-op without the tmpfs.
kdbfull_on() {
	[ "$KDBFS" = 1 ] || return 0
	local avail
	avail=$(($(stat -f -c '%a * %S' "$T/r")))
	fallocate -l $((avail - 600 * 1024)) "$T/r/filler"
}
kdbfull_off() { rm -f "$T/r/filler"; }

# record NAME SECONDS: one row of the results table (with the reconnects
# since mark).
record() {
	local re=$(($(connects) - CONNECTS_BEFORE))
	RESULTS+=("$1|$2|$re")
	echo "fault '$1': converged $2 s after it was removed ($re reconnects)"
}

# print_results [NAME]: the table on stdout, and as NAME.txt and NAME.json
# (default: the script's name) in $FAULTS_OUT (default: BUILD/faults), the
# closing note's "fault -> recovery time" table.  Re-run with one command:
#   KS_BUILD_ROOT=DIR tests/run.sh faults_each   (DIR/test/faults/...)
print_results() {
	local name=${1:-$(basename "$0" .sh)} out=${FAULTS_OUT:-$KS_BUILD_DIR/faults}
	local r a b c
	mkdir -p "$out"
	{
		echo "fault                                   | recovery after removal (s) | reconnects"
		echo "----------------------------------------|----------------------------|-----------"
		for r in "${RESULTS[@]}"; do
			IFS='|' read -r a b c <<<"$r"
			printf '%-40s| %-27s| %s\n' "$a" "$b" "$c"
		done
		echo "changes written by kadmin.local: $WRITES"
	} | tee "$out/$name.txt"
	printf '%s\n' "${RESULTS[@]}" | python3 -c '
import json, sys
rows = []
for line in sys.stdin.read().splitlines():
    if not line:
        continue
    f, s, re = line.split("|")
    rows.append({"fault": f, "recovery_s": float(s), "reconnects": int(re)})
json.dump({"test": sys.argv[1], "writes": int(sys.argv[2]), "faults": rows},
          open(sys.argv[3], "w"), indent=1)
' "$name" "$WRITES" "$out/$name.json"
	echo "(table and JSON: $out/$name.txt, $out/$name.json)"
}
