# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The set-up every pair benchmark shares (source it after `set -euo
# pipefail` and the KS_BUILD_DIR check: . "$SRC/bench/bench_env.sh" NAME):
#   SRC, KS_SOURCE_DIR (exported; lib/realm.sh and deploy/ find the tree
#   through it), REALM and MASTER_PW (exported as PAIR_REALM and
#   PAIR_MASTER_PW for deploy/pair.sh), W (a fresh ks-NAME.XXXXXX work
#   directory), tests/integration/lib/realm.sh and bench/scale_lib.sh
#   sourced, and an EXIT trap running bench_cleanup: the pair in $W/pair
#   down, the realm KDCs started here stopped (by pid), W removed.  A
#   script with processes of its own traps its own cleanup, which ends by
#   calling bench_cleanup.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export KS_SOURCE_DIR=$SRC
REALM=${PAIR_REALM:-PAIR.TEST}
MASTER_PW=${PAIR_MASTER_PW:-pair-master-password-1}
export PAIR_REALM=$REALM PAIR_MASTER_PW=$MASTER_PW
W=$(mktemp -d "${TMPDIR:-/tmp}/ks-$1.XXXXXX")
# shellcheck source=../tests/integration/lib/realm.sh
. "$SRC/tests/integration/lib/realm.sh"
# shellcheck source=scale_lib.sh
. "$SRC/bench/scale_lib.sh"

bench_cleanup() {
	"$SRC/deploy/pair.sh" down "$W/pair" >/dev/null 2>&1 || true
	realm_cleanup
	rm -rf "$W"
}
trap bench_cleanup EXIT
