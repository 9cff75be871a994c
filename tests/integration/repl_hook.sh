#!/bin/bash
# SPDX-License-Identifier: MIT
# The kadm5_hook plugin with real kadmin.local: each committed create,
# modify, cpw, rename (both names) and delete sends the principal name to
# the SOCK_SEQPACKET socket configured in kdc.conf; with no listener
# kadmin.local still succeeds at once.
set -euo pipefail
: "${KS_BUILD_DIR:?set by ctest}" "${KS_SOURCE_DIR:?set by ctest}"
. "$KS_SOURCE_DIR/tests/integration/lib/realm.sh"
HOOK=$KS_BUILD_DIR/bridge/hook/kdcsync_hook.so
T=$(mktemp -d "${TMPDIR:-/tmp}/ks-hook.XXXXXX")
LPID=
cleanup() {
	[ -n "$LPID" ] && { kill "$LPID" 2>/dev/null || true; wait "$LPID" 2>/dev/null || true; }
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -f "$HOOK" ] || fail "no $HOOK"
realm_init "$T/r" HOOK.TEST
cat >>"$T/r/kdc.conf" <<EOC
[plugins]
	kadm5_hook = {
		module = kdcsync:$HOOK
	}
[kdcsync]
	hook_socket = $T/hook.sock
EOC

# 1. no listener: every operation still succeeds, quickly
start=$(date +%s%N)
realm_kadmin "$T/r" "addprinc -pw Pass-word-1 nolistener" "delprinc -force nolistener"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "two operations without a listener: ${ms} ms"

# 2. a listener: collect the datagrams
python3 - "$T/hook.sock" "$T/got" <<'PY' &
import socket, sys, select
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(16)
open(sys.argv[2] + ".ready", "w").close()
conns = []
with open(sys.argv[2], "a") as f:
    while True:
        r, _, _ = select.select([s] + conns, [], [])
        for c in r:
            if c is s:
                conns.append(s.accept()[0])
                continue
            d = c.recv(8192)
            if not d:
                conns.remove(c)
                c.close()
                continue
            f.write(d.decode() + "\n")
            f.flush()
PY
LPID=$!
for i in $(seq 50); do [ -f "$T/got.ready" ] && break; sleep 0.1; done
[ -f "$T/got.ready" ] || fail "listener did not start"
realm_kadmin "$T/r" \
	"addprinc -pw Alice-pass-1 alice" \
	"modprinc -maxlife \"2 hours\" alice" \
	"cpw -pw Alice-pass-2 alice" \
	"cpw -randkey alice" \
	"renprinc -force alice alice2" \
	"setstr alice2 note x" \
	"delprinc -force alice2"
sleep 0.3
want=$(printf '%s\n' alice@HOOK.TEST alice@HOOK.TEST alice@HOOK.TEST alice@HOOK.TEST \
	alice@HOOK.TEST alice2@HOOK.TEST alice2@HOOK.TEST)
got=$(cat "$T/got")
[ "$got" = "$want" ] || { echo "got:"; echo "$got"; echo "want:"; echo "$want"; fail "hook notifications differ"; }
echo "PASS: hook notified create, modify, cpw, randkey, rename (both), delete; setstr has no hook"
