# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Reading `kdcsync status --json` in shell (source with "."): fields by
# name through python3's json module, never by grepping or sed-parsing the
# text, so a script breaks only when a contract name changes (DESIGN.md
# §4).  deploy/pair.sh waits on it; the integration tests check with it
# (tests/integration/lib/status.sh).
#
#   json_get JSON PATH...  print the value at each PATH, one per line
#                          ("/"-separated, since node names hold dots:
#                          "last_seq", "capture/scans",
#                          "peers/NAME/repl/lag_changes"; a list of objects
#                          with "name" members is indexed by name); strings
#                          bare, true/false, null, objects as JSON; exit 1
#                          at the first PATH that is absent
#   status_get CONF PATH...  the same from the node whose configuration is
#                          CONF ($KDCSYNC: the kdcsync binary)
#   status_follows SRC DST  (two status JSON texts) SRC runs as primary,
#                          DST as a replica whose link to SRC (the peer
#                          named SRC's node) streams and has applied SRC's
#                          last seq, SRC's start-up scan done
#   status_chained SRC MID END  (three status JSON texts) SRC runs as
#                          primary, END's link to the node it follows
#                          (MID relaying, or SRC itself) streams and END
#                          has applied SRC's last seq

json_get() {
	python3 - "$@" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
for path in sys.argv[2:]:
    v = doc
    for part in path.split("/"):
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
	local j conf=$1
	shift
	j=$("$KDCSYNC" -c "$conf" status --json 2>/dev/null) || return 1
	json_get "$j" "$@"
}

status_follows() {
	python3 - "$1" "$2" <<'PY'
import json, sys
try:
    src, dst = json.loads(sys.argv[1]), json.loads(sys.argv[2])
except ValueError:
    sys.exit(1)
link = [p.get("repl", {}) for p in dst.get("peers", [])
        if p.get("name") == src.get("node")]
ok = (src.get("role") == "primary" and dst.get("role") == "replica"
      and src.get("capture", {}).get("startup", "ready") == "ready"
      and link and link[0].get("state") == "stream"
      and "last_seq" in src and src["last_seq"] == dst.get("applied_seq"))
sys.exit(0 if ok else 1)
PY
}

status_chained() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
try:
    src, mid, end = (json.loads(a) for a in sys.argv[1:4])
except ValueError:
    sys.exit(1)
up = end.get("upstream")
link = [p.get("repl", {}) for p in end.get("peers", []) if p.get("name") == up]
ok = (src.get("role") == "primary" and end.get("role") == "replica"
      and up in (src.get("node"), mid.get("node"))
      and link and link[0].get("state") == "stream"
      and "last_seq" in src and src["last_seq"] == end.get("applied_seq"))
sys.exit(0 if ok else 1)
PY
}
