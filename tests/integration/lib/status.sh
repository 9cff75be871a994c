# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Reading `kdcsync status --json` in the tests (source with "."): json_get,
# status_get and status_follows are deploy/lib/status.sh's, the same reader
# deploy/pair.sh waits with; fields by name, never by grepping or
# sed-parsing the text (see there for the PATH syntax).

# shellcheck source=SCRIPTDIR/../../../deploy/lib/status.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../../deploy/lib/status.sh"
