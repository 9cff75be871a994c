#!/bin/bash
# SPDX-License-Identifier: MIT
# kprop-compatibility benchmark (issue 7): at N principals (default
# 100000), on loopback with throw-away realms and the stock Debian tools:
#   A  kdcsync kprop (store -> stock kpropd, incl. the replica's load)
#   B  stock kdb5_util dump + kprop -f (same replica, same load)
#   C  stock kprop -f into the kdcsync listener (kdcsync kpropd)
#   D  stock kprop -f into stock kpropd (the kprop part of B)
# Targets: A <= 0.7 x B, C <= 1.0 x D.  Prints a table and JSON; never
# asserts on time (only on correctness: the replicas' dumps must equal the
# primary's).  Use a Release build:
#   KS_BUILD_DIR=/path/to/release-build bench/kprop_bench.sh [N]
set -euo pipefail
N=${1:-100000}
: "${KS_BUILD_DIR:?path to a (Release) build}"
KS_SOURCE_DIR=${KS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export KS_BUILD_DIR KS_SOURCE_DIR
# shellcheck source=../tests/integration/lib/kprop.sh
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

primary_init
(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/base.dump")
# N password principals like alice (policy, 2 keys), under new names.
python3 - "$T/base.dump" "$T/scaled.dump" "$N" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(src).read().splitlines(True)
alice = [l for l in lines if l.startswith("princ\t") and "\talice@" in l][0]
f = alice.split("\t")
with open(dst, "w") as out:
    out.writelines(lines)
    for i in range(n):
        f[6] = "user%07d@KPROP.TEST" % i
        f[2] = str(len(f[6]))
        out.write("\t".join(f))
PY
t0=$(now)
(realm_env "$T/P" && kdb5_util -r "$REALM" load "$T/scaled.dump")
t1=$(now)
mkdir -p "$T/pstate"
scan_store P "$T/pstate"
t2=$(now)
SETUP_LOAD=$(secs "$t0" "$t1")
SETUP_SCAN=$(secs "$t1" "$t2")

CONF=$(kconf p "$T/pstate" "$T/P/kdc.conf")
sed -i 's/timeout = 20s/timeout = 600s/' "$CONF"
export KRB5_CONFIG=$T/P/krb5.conf

replica_init R1
K1=$(realm_free_port)
stock_kpropd R1 "$K1"

# A: kdcsync kprop -> stock kpropd
t0=$(now)
"$KDCSYNC" -c "$CONF" kprop "$HOST:$K1" >/dev/null
t1=$(now)
A=$(secs "$t0" "$t1")
realm_dump "$T/P" "$T/P.cmp"
realm_dump "$T/R1" "$T/R1.cmp"
cmp -s "$T/P.cmp" "$T/R1.cmp" || fail "A: replica differs"

# B: stock dump + kprop -> the same stock kpropd
t0=$(now)
(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/p.dump")
t1=$(now)
kprop -r "$REALM" -f "$T/p.dump" -P "$K1" -s "$T/host.keytab" "$HOST" >/dev/null
t2=$(now)
B_DUMP=$(secs "$t0" "$t1")
D=$(secs "$t1" "$t2")
B=$(secs "$t0" "$t2")
realm_dump "$T/R1" "$T/R1.cmp"
cmp -s "$T/P.cmp" "$T/R1.cmp" || fail "B: replica differs"
proc_stop kpropd-R1

# C: stock kprop -> kdcsync listener
replica_init R2
L=$(realm_free_port)
RCONF=$(kconf r "$T/rstate" "$T/R2/kdc.conf" "	listen = 127.0.0.1:$L
	acl_file = $T/R2/kpropd.acl")
sed -i 's/timeout = 20s/timeout = 600s/' "$RCONF"
mkdir -p "$T/rstate"
proc_start listen env KRB5_CONFIG="$T/R2/krb5.conf" KRB5_KDC_PROFILE="$T/R2/kdc.conf" \
	KRB5RCACHEDIR="$T/R2" "$KDCSYNC" -c "$RCONF" kpropd
wait_port "$L"
t0=$(now)
kprop -r "$REALM" -f "$T/p.dump" -P "$L" -s "$T/host.keytab" "$HOST" >/dev/null
t1=$(now)
C=$(secs "$t0" "$t1")
proc_stop listen
realm_dump "$T/R2" "$T/R2.cmp"
cmp -s "$T/P.cmp" "$T/R2.cmp" || fail "C: replica differs"

SIZE=$(stat -c %s "$T/p.dump")
RA=$(python3 -c "print(f'{$A / $B:.2f}')")
RC=$(python3 -c "print(f'{$C / $D:.2f}')")
printf '\nkprop benchmark: %s principals, dump %s bytes\n' "$N" "$SIZE"
printf '%-52s %10s\n' "measure" "seconds"
printf '%-52s %10s\n' "setup: kdb5_util load of the primary" "$SETUP_LOAD"
printf '%-52s %10s\n' "setup: first scan into the store" "$SETUP_SCAN"
printf '%-52s %10s\n' "A kdcsync kprop -> stock kpropd (incl. its load)" "$A"
printf '%-52s %10s\n' "B stock kdb5_util dump + kprop -> stock kpropd" "$B"
printf '%-52s %10s\n' "  of which kdb5_util dump" "$B_DUMP"
printf '%-52s %10s\n' "C stock kprop -> kdcsync listener" "$C"
printf '%-52s %10s\n' "D stock kprop -> stock kpropd" "$D"
printf '%-52s %10s  (target <= 0.70)\n' "A / B" "$RA"
printf '%-52s %10s  (target <= 1.00)\n' "C / D" "$RC"
printf '{"bench":"kprop","principals":%s,"dump_bytes":%s,"setup_load_s":%s,"setup_scan_s":%s,"push_kdcsync_s":%s,"dump_plus_kprop_s":%s,"dump_s":%s,"kprop_into_listener_s":%s,"kprop_into_kpropd_s":%s,"ratio_push":%s,"ratio_listener":%s}\n' \
	"$N" "$SIZE" "$SETUP_LOAD" "$SETUP_SCAN" "$A" "$B" "$B_DUMP" "$C" "$D" "$RA" "$RC"
