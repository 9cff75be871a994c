# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Reading `kdcsync status --json` in shell tests (source with "."): fields
# by name through python3's json module, never by grepping or sed-parsing
# the text, so a test breaks only when a contract name changes
# (DESIGN.md §4).
#
#   json_get JSON PATH     print the value at PATH ("/"-separated, since
#                          node names hold dots: "last_seq",
#                          "capture/scans", "peers/NAME/repl/lag_changes";
#                          a list of objects with "name" members is indexed
#                          by name); strings bare, true/false, null, objects
#                          as JSON; exit 1 when PATH is absent
#   status_get CONF PATH   the same from the node whose configuration is CONF

json_get() {
	python3 - "$1" "$2" <<'PY'
import json, sys
v = json.loads(sys.argv[1])
for part in sys.argv[2].split("/"):
    if isinstance(v, list):
        hit = [x for x in v if isinstance(x, dict) and x.get("name") == part]
        if not hit:
            sys.exit(1)
        v = hit[0]
    elif isinstance(v, dict) and part in v:
        v = v[part]
    else:
        sys.exit(1)
if isinstance(v, bool):
    print("true" if v else "false")
elif v is None:
    print("null")
elif isinstance(v, (dict, list)):
    print(json.dumps(v))
else:
    print(v)
PY
}

status_get() {
	local j
	j=$("$KDCSYNC" -c "$1" status --json 2>/dev/null) || return 1
	json_get "$j" "$2"
}
