# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The harness every integration test starts from (source with "."; the
# concept libraries next to it source it themselves): strict mode, the
# binaries under test, a private temp dir, processes started and stopped by
# their recorded pid, and one EXIT trap that stops them all.
#
#   T                       the test's temp dir (removed on exit; kept when
#                           the test fails and TEST_KEEP=1)
#   KDCSYNC KDCSYNCD TOOL   kdcsync, kdcsyncd, tests/unit/bridge/bridge_tool
#   fail MESSAGE            print FAIL: MESSAGE, exit 1
#   proc_start NAME CMD...  CMD in the background, output appended to
#                           $T/NAME.log, pid in PIDS[NAME]
#   proc_stop NAME          SIGTERM by that pid, reaped; its status ignored
#   proc_wait NAME          wait for it to exit; its exit status
#   wait_for SECONDS CMD... retry CMD (output dropped) until it succeeds
#   free_port               a free TCP port on 127.0.0.1
#   wait_port PORT          until a socket listens on TCP PORT (fail after 10 s)
#   TEST_EXIT_HOOKS+=(FUNC) run at exit (in order), before the processes
#                           are stopped
#   TEST_LOGS+=(GLOB)       files whose tail is shown when the test fails
#   cleanup                 the EXIT trap (tests with a trap of their own
#                           call it last)
# Needs KS_BUILD_DIR and KS_SOURCE_DIR (set by ctest).
set -euo pipefail

: "${KS_BUILD_DIR:?set by ctest}"
: "${KS_SOURCE_DIR:?set by ctest}"
export KS_BUILD_DIR
# shellcheck disable=SC2034 # (for the tests)
KDCSYNC=$KS_BUILD_DIR/node/kdcsync
# shellcheck disable=SC2034
KDCSYNCD=$KS_BUILD_DIR/node/kdcsyncd
# shellcheck disable=SC2034
TOOL=$KS_BUILD_DIR/tests/unit/bridge/bridge_tool
# The MIT libraries are not built with ASan; their own allocations are not
# ours to leak-check, but ours are.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# shellcheck source=SCRIPTDIR/realm.sh
. "$KS_SOURCE_DIR/tests/integration/lib/realm.sh"
# shellcheck source=SCRIPTDIR/status.sh
. "$KS_SOURCE_DIR/tests/integration/lib/status.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/ks-$(basename "$0" .sh).XXXXXX")
TEST_KEEP=${TEST_KEEP:-0}
TEST_EXIT_HOOKS=()
TEST_LOGS=("$T/*.log")
declare -A PIDS=()

cleanup() {
	local rc=$? hook name f
	trap - EXIT
	for hook in "${TEST_EXIT_HOOKS[@]}"; do
		"$hook" >/dev/null 2>&1 || true
	done
	for name in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$name]}" 2>/dev/null || true
		wait "${PIDS[$name]}" 2>/dev/null || true
	done
	realm_cleanup
	if [ $rc -ne 0 ]; then
		# shellcheck disable=SC2068 # the globs expand here
		for f in ${TEST_LOGS[@]}; do
			[ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
		done
	fi
	if [ $rc -ne 0 ] && [ "$TEST_KEEP" = 1 ]; then
		echo "left $T for inspection" >&2
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

proc_start() {
	local name=$1
	shift
	"$@" >>"$T/$name.log" 2>&1 &
	PIDS[$name]=$!
}

proc_stop() {
	local pid=${PIDS[$1]}
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$1]"
}

proc_wait() {
	local pid=${PIDS[$1]} rc=0
	wait "$pid" || rc=$?
	unset "PIDS[$1]"
	return $rc
}

wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

free_port() {
	realm_free_port
}

# Asks the kernel (ss) instead of connecting: a probe connection would take
# a node's kprop listener's one transfer slot, and a stock kprop connecting
# right after it would be refused.
wait_port() {
	local _
	for _ in $(seq 1 200); do
		[ -n "$(ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.05
	done
	fail "nothing listens on port $1"
}
