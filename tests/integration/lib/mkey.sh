# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Master-key rollover helpers for repl_mkey*.sh (source after lib/pair.sh):
# kdb5_util and friends with either side's realm configuration, the kvnos
# in a side's stash, a restart of the replica's krb5kdc (by its recorded
# pid), and a sync wait that also compares the sorted dumps.

on() { # on primary|replica CMD...: with that side's realm configuration
	local which=$1
	shift
	if [ "$which" = replica ]; then
		KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE "$@"
	else
		KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE "$@"
	fi
}
stash_kvnos() { # the kvnos in a side's stash, sorted
	klist -k "FILE:$1/stash" | awk '$1 ~ /^[0-9]+$/ { print $1 }' | sort -n | tr '\n' ' '
}
synced() {
	"$PAIR" wait "$P" 30 || fail "$1: replica not in sync"
	local deadline=$((SECONDS + 20))
	until dumps_equal; do
		[ $SECONDS -lt $deadline ] || { diff "$T/p.dump" "$T/r.dump" | head -n 5 | cut -c1-200 >&2; fail "$1: dumps differ"; }
		sleep 0.1
	done
	echo "PASS: $1"
}
replica_kdc_restart() {
	local pid port
	pid=$(awk '$1 == "kdc-replica" { print $2 }' "$P/pids")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	(export KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		KRB5RCACHEDIR=$REPLICA_DIR && exec krb5kdc -n -r "$REALM" >>"$REPLICA_DIR/kdc.out" 2>&1) &
	sed -i "/^kdc-replica /d" "$P/pids"
	echo "kdc-replica $!" >>"$P/pids"
	port=$REPLICA_KDC_PORT
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
	done
	fail "the replica's krb5kdc did not restart: $(tail -n 3 "$REPLICA_DIR/kdc.out")"
}
