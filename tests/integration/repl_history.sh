#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 4: a replica left behind past the log retention, and a replica
# whose position is under another history (the primary's store was lost
# and rebuilt: a new history id), each get a full snapshot and converge.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up -n 2000 --log-retain 50
pkq "addprinc -pw History-pass-1 h1"
converge 60

# a) left behind: 200 changes while the replica is away, 50 kept
"$PAIR" node-stop "$P" replica
for i in $(seq 1 200); do printf 'modprinc -maxlife "%d minutes" user%05d\n' $((i + 60)) "$i"; done >"$T/many.txt"
KRB5_CONFIG=$PRIMARY_KRB5_CONFIG KRB5_KDC_PROFILE=$PRIMARY_KDC_PROFILE \
	kadmin.local -r "$REALM" <"$T/many.txt" >/dev/null 2>&1
"$KDCSYNC" -c "$PRIMARY_NODE_CONF" snapshot >/dev/null # (also trims)
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "replica did not catch up after falling behind"
grep -q "full snapshot (position outside the retained log)" "$P/primary/node.log" ||
	fail "no full snapshot for a position outside the retained log"
# (counted since the replica's restart above)
[ "$(full_transfers replica)" = 1 ] || fail "expected a second full snapshot"
converge 60
echo "a: left behind past retention -> full snapshot -> converged"

# b) a new history
old=$(status_field primary history)
"$PAIR" node-stop "$P" primary
rm -rf "$PRIMARY_DIR/node/store"
pkq "addprinc -pw History-pass-2 h2" "delprinc -force user00007"
"$PAIR" node-start "$P" primary
"$PAIR" wait "$P" 60 || fail "replica did not follow the new history"
new=$(status_field primary history)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "primary kept its history"
grep -q "full snapshot (unknown history)" "$P/primary/node.log" || fail "no full snapshot for the unknown history"
[ "$(full_transfers replica)" = 2 ] || fail "expected a third full snapshot"
converge 60
kinit_at replica h1 History-pass-1 || fail "kinit h1"
kinit_at replica h2 History-pass-2 || fail "kinit h2"
replica_has user00007 && fail "deletion lost in the snapshot"
echo "PASS: left behind past retention, and new history: full snapshot each time, converged"
