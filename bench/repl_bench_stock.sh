#!/bin/bash
# SPDX-License-Identifier: MIT
# Helper of bench/repl_bench.sh: the stock cycle (kdb5_util dump + kprop -f
# to a stock kpropd, which loads the dump) at N principals, measured the
# same way (bench/repl_probe at the replica's KDC).  Prints
# "ONE_CHANGE_MS AFTER_BURST_MS DUMP_BYTES".  Env: N, BURST_N, PROBE,
# KS_BUILD_DIR.
set -euo pipefail
KS_SOURCE_DIR=${KS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export KS_SOURCE_DIR
# shellcheck source=../tests/integration/lib/kprop.sh
. "$KS_SOURCE_DIR/tests/integration/lib/kprop.sh"
now_us() { echo $(($(date +%s%N) / 1000)); }

primary_init >&2
(realm_env "$T/P" && kadmin.local -r "$REALM" -q "addprinc -randkey tmpl" >/dev/null 2>&1 &&
	kdb5_util -r "$REALM" dump "$T/t.dump")
awk -F'\t' -v OFS='\t' -v n="$N" -v realm="$REALM" '
	NR == 1 { print; next }
	$1 == "princ" && $7 == "tmpl@" realm {
		for (i = 1; i <= n; i++) { $7 = sprintf("user%07d@%s", i, realm); $3 = length($7); print }
	}' "$T/t.dump" >"$T/bulk.dump"
(realm_env "$T/P" && kdb5_util -r "$REALM" load -update "$T/bulk.dump")
replica_init R1
realm_kdc_start "$T/R1"
KP=$(realm_free_port)
stock_kpropd R1 "$KP"

cycle() { # dump + kprop, then the probe for $1 at R1's KDC; prints µs
	local t0=$1 name=$2 out
	(realm_env "$T/P" && kdb5_util -r "$REALM" dump "$T/p.dump")
	(realm_env "$T/P" && kprop -r "$REALM" -f "$T/p.dump" -P "$KP" -s "$T/host.keytab" "$HOST" >/dev/null)
	out=$(echo "$name@$REALM" | KRB5_CONFIG=$T/R1/krb5.conf "$PROBE" 60)
	read -r _ us _ <<<"$out"
	[ "$us" -ge 0 ] || fail "$name never reached the stock replica"
	echo $(($(now_us) - t0))
}

realm_kadmin "$T/P" "addprinc -randkey stockone"
t0=$(now_us)
one=$(cycle "$t0" stockone)
bytes=$(stat -c %s "$T/p.dump") # what one cycle ships (before the burst)
for i in $(seq 1 "$BURST_N"); do printf 'addprinc -randkey sburst%05d\n' "$i"; done >"$T/burst.txt"
(realm_env "$T/P" && kadmin.local -r "$REALM" <"$T/burst.txt" >/dev/null 2>&1)
t0=$(now_us)
burst=$(cycle "$t0" "$(printf 'sburst%05d' "$BURST_N")")
awk -v a="$one" -v b="$burst" -v c="$bytes" 'BEGIN { printf "%.1f %.1f %d\n", a / 1000, b / 1000, c }'
