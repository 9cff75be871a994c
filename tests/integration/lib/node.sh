# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# kdcsyncd processes for the node tests (source with "."): certificates
# from deploy/make-certs.sh, configurations made from the deploy/ samples,
# nodes started and stopped by their recorded pid (lib/test.sh's PIDS).
# shellcheck source=SCRIPTDIR/test.sh
. "$KS_SOURCE_DIR/tests/integration/lib/test.sh"
# shellcheck source=SCRIPTDIR/realm.sh
. "$KS_SOURCE_DIR/tests/integration/lib/realm.sh"

# make_certs NAME...: test CA and node certificates in $T/certs.
make_certs() {
	"$KS_SOURCE_DIR/deploy/make-certs.sh" "$T/certs" "$@" >/dev/null
	[ "$(stat -c %a "$T/certs/$1.key")" = 600 ] || fail "key not 0600"
}

# from_sample SAMPLE OUT STATE PORT: a sample with test paths and ports,
# and a KDB of its own (realm EXAMPLE.COM in STATE.kdb: a node does not
# start without a KDB it can open; KRB5_CONFIG is exported for its realm).
from_sample() {
	# a realm of the test's own (never the system's)
	[ -f "$3.kdb/kdc.conf" ] || realm_init "$3.kdb" EXAMPLE.COM
	export KRB5_CONFIG=$3.kdb/krb5.conf
	sed -e "s|/var/lib/kdcsync|$3|" \
		-e "s|^\([[:space:]]*\)#\?kdc_profile = /etc/krb5kdc/kdc.conf|\1kdc_profile = $3.kdb/kdc.conf|" \
		-e "s|/etc/kdcsync/tls|$T/certs|g" \
		-e "s|0\.0\.0\.0:7541|127.0.0.1:$4|" \
		-e "s|kdc1\.example\.com:7541|127.0.0.1:$4|" \
		"$KS_SOURCE_DIR/deploy/$1" >"$2"
	# test speed: short keepalives and back-off (merged into [node]/[tls])
	printf '[node]\n\treconnect_min = 100ms\n\treconnect_max = 1s\n[tls]\n\tkeepalive_interval = 500ms\n\tidle_timeout = 3s\n' >>"$2"
}

# start NAME CONF: run kdcsyncd -f in the background, pid in PIDS[NAME].
start() {
	proc_start "$1" "$KDCSYNCD" -c "$2" -f
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

# established CONF PEER: status shows the native link to PEER up.
established() {
	[ "$(status_get "$1" "peers/$2/mode")" = native ] &&
		[ "$(status_get "$1" "peers/$2/state")" = established ]
}

alive() {
	kill -0 "${PIDS[$1]}" 2>/dev/null
}
