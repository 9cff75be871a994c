# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# A pair from deploy/pair.sh for the replication tests (source with "."):
# brought up in $T/pair (stopped by pid at exit), kadmin on the primary,
# dumps of both KDBs compared, kinit against either KDC, status fields of
# either node.  lib/test.sh is the harness under it.
# shellcheck source=SCRIPTDIR/test.sh
. "$KS_SOURCE_DIR/tests/integration/lib/test.sh"

PAIR=$KS_SOURCE_DIR/deploy/pair.sh
P=$T/pair
pair_down() { "$PAIR" down "$P"; }
TEST_EXIT_HOOKS+=(pair_down)
TEST_LOGS+=("$P/primary/node.log" "$P/replica/node.log" "$P/third/node.log")

# host_conf primary|replica|third: KRB5_CONFIG and KRB5_KDC_PROFILE of that
# host's KDC (the third with pair.sh up --chain) in HOST_C and HOST_K.
host_conf() {
	case $1 in
	replica) HOST_C=$REPLICA_KRB5_CONFIG HOST_K=$REPLICA_KDC_PROFILE ;;
	third) HOST_C=$THIRD_KRB5_CONFIG HOST_K=$THIRD_KDC_PROFILE ;;
	*) HOST_C=$PRIMARY_KRB5_CONFIG HOST_K=$PRIMARY_KDC_PROFILE ;;
	esac
}

# pair_up [pair.sh options]: bring the pair up and load its env.
pair_up() {
	"$PAIR" up "$P" "$@" >"$T/up.log" 2>&1 || { cat "$T/up.log" >&2; fail "pair up"; }
	# shellcheck disable=SC1091
	. "$P/env"
}

# pair_up_generated N [pair.sh options]: pair_up with N principals of a
# generated realistic realm (bench/scale_lib.sh: own random keys, varied
# names) loaded into the primary; the dump stays in $W/gen.dump (W is
# $T/gen unless set).
pair_up_generated() {
	local n=$1
	shift
	SRC=$KS_SOURCE_DIR
	W=${W:-$T/gen}
	REALM=${PAIR_REALM:-PAIR.TEST}
	# shellcheck disable=SC2034 # read by gen_realm_dump (scale_lib.sh)
	MASTER_PW=${PAIR_MASTER_PW:-pair-master-password-1}
	mkdir -p "$W"
	# shellcheck source=../../../bench/scale_lib.sh
	. "$SRC/bench/scale_lib.sh"
	gen_realm_dump "$W/tmpl" "$n" "$W/gen.dump" >/dev/null
	pair_up --load "$W/gen.dump" "$@"
}

# kadmin on the primary (each argument one query, one kadmin.local run).
pk() {
	KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
		kadmin.local -r "$REALM" "$@" >>"$T/kadmin.out" 2>&1
}
pkq() {
	local q
	for q in "$@"; do
		pk -q "$q" || fail "kadmin.local: $q"
		if tail -n 2 "$T/kadmin.out" | grep -qiE 'error|while|usage|unable|invalid'; then
			tail -n 2 "$T/kadmin.out" >&2
			fail "kadmin.local reported an error: $q"
		fi
	done
}

# getprinc on the replica's KDB (read only): succeeds when it exists.
replica_has() {
	KRB5_CONFIG=$REPLICA_KRB5_CONFIG KRB5_KDC_PROFILE=$REPLICA_KDC_PROFILE \
		kadmin.local -r "$REALM" -q "getprinc $1" 2>&1 | grep -q "^Principal: $1@"
}

# wait_replica_has NAME [SECONDS]: until the replica's KDB has it (20 s).
wait_replica_has() {
	local deadline=$((SECONDS + ${2:-20}))
	until replica_has "$1"; do
		[ $SECONDS -ge $deadline ] && fail "$1 not on the replica"
		sleep 0.05
	done
}

# dumps_equal_within SECONDS [keep-lockout]: until both dumps are equal
# (no scan asked for, unlike converge).
dumps_equal_within() {
	local deadline=$((SECONDS + $1))
	until dumps_equal "${2:-}"; do
		if [ $SECONDS -ge $deadline ]; then
			diff "$T/p.dump" "$T/r.dump" | head -n 10 | cut -c1-200 >&2
			fail "dumps differ after $1 s"
		fi
		sleep 0.2
	done
}

# kinit NAME PASSWORD against a KDC (primary|replica|third).
kinit_at() {
	local which=$1 name=$2 pw=$3
	host_conf "$which"
	printf '%s\n' "$pw" | KRB5_CONFIG=$HOST_C KRB5CCNAME=FILE:$T/cc.$which \
		kinit "$name@$REALM" >>"$T/kinit.out" 2>&1
}

# dump_of primary|replica|third OUT [keep-lockout]: sorted records; lockout
# fields (last_success, last_failed, fail_auth_count) zeroed unless
# keep-lockout.
dump_of() {
	local which=$1 out=$2 keep=${3:-}
	host_conf "$which"
	KRB5_CONFIG=$HOST_C KRB5_KDC_PROFILE=$HOST_K kdb5_util -r "$REALM" dump "$out.raw" ||
		fail "kdb5_util dump ($which)"
	tail -n +2 "$out.raw" | awk -F'\t' -v OFS='\t' -v keep="$keep" \
		'$1 == "princ" && keep == "" { $13 = 0; $14 = 0; $15 = 0 } { print }' |
		LC_ALL=C sort >"$out"
	rm -f "$out.raw" "$out.raw.dump_ok"
}

# dumps_equal [keep-lockout] [HOST...]: the KDBs of the hosts (default
# primary and replica) hold the same records; the sorted dumps stay in
# $T/p.dump, $T/r.dump, $T/t.dump (primary, replica, third).
dumps_equal() {
	local keep=${1:-} h
	shift || true
	[ $# -gt 0 ] || set -- primary replica
	for h in "$@"; do
		dump_of "$h" "$T/${h:0:1}.dump" "$keep"
	done
	for h in "${@:2}"; do
		cmp -s "$T/${1:0:1}.dump" "$T/${h:0:1}.dump" || return 1
	done
}

# wait_equal SECONDS KEEP HOST...: dumps_equal within SECONDS, or fail
# showing the first differences.
wait_equal() {
	local secs=$1 keep=$2 deadline h
	shift 2
	deadline=$((SECONDS + secs))
	until dumps_equal "$keep" "$@"; do
		if [ $SECONDS -ge $deadline ]; then
			for h in "${@:2}"; do
				diff "$T/${1:0:1}.dump" "$T/${h:0:1}.dump" | head -n 10 | cut -c1-200 >&2
			done
			fail "dumps differ"
		fi
		sleep 0.2
	done
}

# converge [SECONDS] [keep-lockout]: scan now, wait for sync, equal dumps.
converge() {
	local secs=${1:-60} keep=${2:-}
	"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null || fail "kdcsync snapshot"
	"$PAIR" wait "$P" "$secs" || fail "replica not in sync"
	wait_equal "$secs" "$keep" primary replica
}

# status_json primary|replica|third
status_json() {
	local c
	case $1 in
	replica) c=$REPLICA_NODE_CONF ;;
	third) c=$THIRD_NODE_CONF ;;
	*) c=$PRIMARY_NODE_CONF ;;
	esac
	"$KDCSYNC" -c "$c" status --json
}

# status_field primary|replica PATH...: status --json fields (lib/status.sh)
status_field() {
	local j
	j=$(status_json "$1" 2>/dev/null) || return 1
	json_get "$j" "${@:2}"
}

# full_transfers primary|replica: full snapshots sent or received on the
# link to the other node since this node started ("" without a link)
full_transfers() {
	local other=primary
	[ "$1" = replica ] || other=replica
	status_field "$1" "peers/$other/repl/full_transfers" || true
}

# field_of DUMP PRINCIPAL N: field N of the principal's dump line ("" if
# the principal is absent).
field_of() {
	awk -F'\t' -v name="$2@$REALM" -v n="$3" '$1 == "princ" && $7 == name { print $n }' "$1"
}

# wait_field WHICH PRINCIPAL N VALUE WHAT: wait (20 s) until field N of the
# principal's dump line on WHICH is VALUE (fails naming WHAT otherwise);
# prints how long it took.
wait_field() {
	local t0=$SECONDS deadline=$((SECONDS + 20)) v
	while :; do
		dump_of "$1" "$T/$1.dump" keep
		v=$(field_of "$T/$1.dump" "$2" "$3")
		if [ "$v" = "$4" ]; then
			echo "  ($5: on the $1 after ~$((SECONDS - t0)) s)"
			return 0
		fi
		[ $SECONDS -ge $deadline ] && fail "$5: field $3 of $2 on the $1 is '$v', expected $4"
		sleep 0.05
	done
}

# fail3 WHICH PRINCIPAL: three failed kinits of PRINCIPAL at WHICH's KDC
fail3() {
	local i
	for i in 1 2 3; do
		kinit_at "$1" "$2" "wrong-$i" && fail "bad password accepted at $1"
	done
	return 0
}

# listed_keys FILE: the keys a `kdcsync verify`/`repair` answer lists (its
# indented lines, the history/seq lines left out), one per line, sorted.
listed_keys() {
	grep '^  ' "$1" | grep -v ': *history [0-9a-f]* seq ' | sed 's/  */ /g; s/^ //' | sort
}

# damage_store STORE_DIR: with the node stopped, one record damaged
# (alice), one deleted (carol) and one the primary never had (stray),
# without log entries (store_poke --fix), as a broken disk or a hand edit
# would leave the store.
damage_store() {
	local poke=$KS_BUILD_DIR/tests/integration/store_poke
	[ -x "$poke" ] || fail "no $poke"
	"$poke" "$1" --fix \
		put "Palice@$REALM" "a damaged record" \
		del "Pcarol@$REALM" \
		put "Pstray@$REALM" "a record the primary never had" >/dev/null || fail "store_poke"
}
