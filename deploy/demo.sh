#!/bin/bash
# SPDX-License-Identifier: MIT
#
# demo.sh: kdcsync in one command, on one machine, on loopback.
#
#   deploy/demo.sh
#
# On a fresh Debian 12 machine: installs what is missing (deploy/deps.sh,
# needs root or sudo for that step only), builds kdcsync (build/pair/ under the
# checkout, or $KS_BUILD_DIR), brings up a primary and a replica KDC with
# their kdcsync nodes in a temporary directory (deploy/pair.sh), then:
#   1. creates principals with passwords on the primary (kadmin.local) and
#      shows each kinit succeed against the REPLICA's KDC, with the time
#      from kadmin.local returning to the replica's KDC issuing the ticket;
#   2. changes a password and deletes a principal on the primary and shows
#      the replica's KDC follow (new password accepted, old refused;
#      deleted principal unknown);
#   3. prints `kdcsync status` of both nodes;
# and brings everything down (by pid) and removes the directory.
# Nothing outside the temporary directory is configured or started.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
export KS_BUILD_DIR=${KS_BUILD_DIR:-$SRC/build/pair}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "dependencies (deploy/deps.sh)"
if [ "$(id -u)" -eq 0 ]; then
	"$SRC/deploy/deps.sh"
elif ! "$SRC/deploy/deps.sh" 2>/dev/null; then
	command -v sudo >/dev/null || { echo "run as root (packages are missing)" >&2; exit 1; }
	sudo "$SRC/deploy/deps.sh"
fi
echo "all present"

say "build ($KS_BUILD_DIR)"
if [ ! -x "$KS_BUILD_DIR/node/kdcsyncd" ] || [ ! -f "$KS_BUILD_DIR/bridge/kdbmod/kdcsync.so" ]; then
	cmake -S "$SRC" -B "$KS_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DKS_BUILD_TESTS=OFF -DKS_BUILD_BENCH=OFF >/dev/null
fi
ninja -C "$KS_BUILD_DIR" -j2 >/dev/null
echo "kdcsyncd, kdcsync and the kdcsync KDB module are built"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/kdcsync-demo.XXXXXX")
cleanup() {
	"$SRC/deploy/pair.sh" down "$DIR/pair" >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT

say "pair up in $DIR/pair (realm, CA, certificates, signing key, 2 KDCs, 2 nodes)"
"$SRC/deploy/pair.sh" up "$DIR/pair" -n 1000
# shellcheck disable=SC1091
. "$DIR/pair/env"
export KRB5CCNAME=FILE:$DIR/ccache

on_primary() {
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "$1" >/dev/null 2>&1
}
# kinit against the REPLICA's KDC only
kinit_replica() {
	printf '%s\n' "$2" | KRB5_CONFIG=$REPLICA_KRB5_CONFIG kinit "$1@$REALM" >"$DIR/kinit.out" 2>&1
}
now_us() { echo $(($(date +%s%N) / 1000)); }
seq_of() { # seq_of CONF KEY: a number from `kdcsync status --json`
	"$KDCSYNC" -c "$1" status --json | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}
# applied_after T0: wait until the replica has applied the primary's last
# change; print the time since T0 (kadmin.local returning).
applied_after() {
	local t0=$1 want t i
	want=$(seq_of "$PRIMARY_NODE_CONF" last_seq)
	for i in $(seq 1 5000); do
		[ "$(seq_of "$REPLICA_NODE_CONF" applied_seq)" -ge "$want" ] && break
		[ "$i" -lt 5000 ] || { echo "replica did not follow" >&2; exit 1; }
	done
	t=$(now_us)
	printf '%d.%d ms' $(((t - t0) / 1000)) $(((t - t0) % 1000 / 100))
}
# kinit_until NAME PASSWORD ok|fail: retry a few times (should not be needed).
kinit_until() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if kinit_replica "$1" "$2"; then [ "$3" = ok ] && return 0
		else [ "$3" = fail ] && return 0; fi
		sleep 0.1
	done
	echo "the replica's KDC did not follow for $1" >&2
	exit 1
}

say "1. principals created on the primary, kinit against the replica's KDC (127.0.0.1:$REPLICA_KDC_PORT)"
for who in alice bob carol; do
	pw="Demo-${who}-pass-1"
	on_primary "addprinc -pw $pw $who"
	t0=$(now_us)
	printf '  %-6s addprinc on the primary; applied on the replica %s after kadmin.local returned; ' "$who" "$(applied_after "$t0")"
	kinit_until "$who" "$pw" ok
	echo "kinit $who@$REALM against the replica's KDC: OK"
done
echo "  (measured by polling the replica's 'kdcsync status', so the figure"
echo "   includes up to one status round trip)"

say "2. password change and deletion on the primary"
on_primary "cpw -pw Demo-alice-pass-2 alice"
t0=$(now_us)
printf '  alice  cpw on the primary; applied on the replica %s after; ' "$(applied_after "$t0")"
kinit_until alice Demo-alice-pass-2 ok
echo "kinit with the NEW password: OK"
if kinit_replica alice Demo-alice-pass-1; then
	echo "  the replica still accepts alice's OLD password: replication failed" >&2
	exit 1
fi
echo "         kinit with the old password: $(grep -o 'Password incorrect.*\|Preauthentication failed.*' "$DIR/kinit.out" | head -n 1)"
on_primary "delprinc -force carol"
t0=$(now_us)
printf '  carol  delprinc on the primary; applied on the replica %s after; ' "$(applied_after "$t0")"
kinit_until carol Demo-carol-pass-1 fail
echo
echo "         kinit carol: $(grep -o 'Client.*not found.*' "$DIR/kinit.out" | head -n 1)"

say "3. kdcsync status (primary)"
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" status
say "   kdcsync status (replica)"
"$KDCSYNC" -c "$REPLICA_NODE_CONF" status

say "pair down (every process stopped by its pid)"
"$SRC/deploy/pair.sh" down "$DIR/pair"
echo "done"
