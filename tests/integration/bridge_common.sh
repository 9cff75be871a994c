# SPDX-License-Identifier: MIT
# Shared set-up for the bridge integration tests (source with ".").
set -euo pipefail
: "${KS_BUILD_DIR:?}" "${KS_SOURCE_DIR:?}"
. "$KS_SOURCE_DIR/tests/integration/lib/realm.sh"
TOOL=$KS_BUILD_DIR/tests/unit/bridge/bridge_tool
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ks-bridge.XXXXXX")
bridge_cleanup() {
	local rc=$?
	realm_cleanup
	if [ $rc -eq 0 ]; then rm -rf "$WORK"; else echo "left $WORK for inspection" >&2; fi
	exit $rc
}
trap bridge_cleanup EXIT
# The MIT libraries are not built with ASan; their own allocations are not
# ours to leak-check, but ours are (the tool frees everything it owns).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# tool DIR ARGS...: run bridge_tool against the realm in DIR.
tool() {
	local dir=$1
	shift
	(realm_env "$dir" && "$TOOL" "$@")
}

# Zero last_success, last_failed, fail_auth_count (fields 13-15) of princ lines.
zero_nra() {
	awk -F'\t' 'BEGIN { OFS = "\t" } $1 == "princ" { $13 = 0; $14 = 0; $15 = 0 } { print }' "$@"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
