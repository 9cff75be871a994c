# SPDX-License-Identifier: MIT
# Helpers for the node integration tests: a temp dir, certificates from
# deploy/make-certs.sh, configurations made from the deploy/ samples, and
# kdcsyncd processes started and stopped by their recorded pid.
set -euo pipefail

: "${KS_BUILD_DIR:?set by ctest}"
: "${KS_SOURCE_DIR:?set by ctest}"
KDCSYNCD=$KS_BUILD_DIR/node/kdcsyncd
KDCSYNC=$KS_BUILD_DIR/node/kdcsync
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

T=$(mktemp -d "${TMPDIR:-/tmp}/ks-node.XXXXXX")
declare -A PIDS=()

cleanup() {
	local rc=$?
	for name in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$name]}" 2>/dev/null || true
		wait "${PIDS[$name]}" 2>/dev/null || true
	done
	if [ $rc -ne 0 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }
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

free_port() {
	python3 "${KS_SOURCE_DIR:?}/deploy/free-port.py"
}

# make_certs NAME...: test CA and node certificates in $T/certs.
make_certs() {
	"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/certs" "$@" >/dev/null
	[ "$(stat -c %a "$T/certs/$1.key")" = 600 ] || fail "key not 0600"
}

# from_sample SAMPLE OUT STATE PORT: a sample with test paths and ports.
from_sample() {
	# a KDC profile of the test's own (never the system's)
	[ -f "$T/kdc.conf" ] || : >"$T/kdc.conf"
	sed -e "s|/var/lib/kdcsync|$3|" \
		-e "s|^\([[:space:]]*\)#\?kdc_profile = /etc/krb5kdc/kdc.conf|\1kdc_profile = $T/kdc.conf|" \
		-e "s|/etc/kdcsync/tls|$T/certs|g" \
		-e "s|0\.0\.0\.0:7541|127.0.0.1:$4|" \
		-e "s|kdc1\.example\.com:7541|127.0.0.1:$4|" \
		"$KS_SOURCE_DIR/deploy/$1" >"$2"
	# test speed: short keepalives and back-off (merged into [node]/[tls])
	printf '[node]\n\treconnect_min = 100ms\n\treconnect_max = 1s\n[tls]\n\tkeepalive_interval = 500ms\n\tidle_timeout = 3s\n' >>"$2"
}

# start NAME CONF: run kdcsyncd -f in the background, pid in PIDS[NAME].
start() {
	"$KDCSYNCD" -c "$2" -f >>"$T/$1.log" 2>&1 &
	PIDS[$1]=$!
}

# stop NAME: SIGTERM by pid, expect exit status 0.
stop() {
	local pid=${PIDS[$1]} rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	unset "PIDS[$1]"
	[ $rc -eq 0 ] || fail "$1 (pid $pid) exited with $rc"
	! grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/$1.log" ||
		fail "$1: sanitizer report in its log"
}

# wait_for SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# shellcheck source=lib/status.sh
. "$KS_SOURCE_DIR/tests/integration/lib/status.sh"

# established CONF PEER: status shows the native link to PEER up.
established() {
	[ "$(status_get "$1" "peers/$2/mode")" = native ] &&
		[ "$(status_get "$1" "peers/$2/state")" = established ]
}

alive() {
	kill -0 "${PIDS[$1]}" 2>/dev/null
}
