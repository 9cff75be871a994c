# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The bridge tests' set-up (source with "."): bridge_tool run against a
# throw-away realm; WORK is the temp dir (lib/test.sh's T, kept for
# inspection when the test fails).
# shellcheck source=SCRIPTDIR/test.sh
. "$KS_SOURCE_DIR/tests/integration/lib/test.sh"

# shellcheck disable=SC2034 # (for the tests)
WORK=$T
TEST_KEEP=1

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
