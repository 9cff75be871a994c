#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 4: a replica whose position is under another history (the
# primary's store was lost and rebuilt: a new history id) gets a full
# snapshot and converges; the replica's KDC keeps serving meanwhile.
. "$KS_SOURCE_DIR/tests/integration/repl_lib.sh"

pair_up -n 2000
pkq "addprinc -pw History-pass-1 h1"
converge 60
old=$(status_json primary | sed -n 's/.*"history":"\([0-9a-f]*\)".*/\1/p')
"$PAIR" node-stop "$P" primary
rm -rf "$PRIMARY_DIR/node/store"
pkq "addprinc -pw History-pass-2 h2" "delprinc -force user00007"
"$PAIR" node-start "$P" primary
"$PAIR" wait "$P" 60 || fail "replica did not follow the new history"
new=$(status_json primary | sed -n 's/.*"history":"\([0-9a-f]*\)".*/\1/p')
[ -n "$new" ] && [ "$new" != "$old" ] || fail "primary kept its history"
grep -q "full snapshot (unknown history)" "$P/primary/node.log" || fail "no full snapshot for the unknown history"
[ "$(count_in_log replica 'receiving a full snapshot')" = 2 ] || fail "expected a second full snapshot"
converge 60
kinit_at replica h1 History-pass-1 || fail "kinit h1"
kinit_at replica h2 History-pass-2 || fail "kinit h2"
replica_has user00007 && fail "deletion lost in the snapshot"
echo "PASS: new history -> full snapshot -> converged"
