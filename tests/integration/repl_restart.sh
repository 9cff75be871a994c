#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 3: restart the replica, then the primary, then both, with
# changes in between (some made while a node was down): each time the
# replica resumes incrementally (status: the primary answered with an
# incremental session, no full snapshot since the replica's start) and
# converges.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up -n 500
[ "$(full_transfers replica)" = 1 ] || fail "initial snapshot"

# resumed: the primary answered the replica with an incremental session
# (since the primary's start), and the replica received no full snapshot
# (since its own start)
resumed() {
	[ "$(status_field primary peers/replica/repl/incremental_sessions)" -ge 1 ] &&
		[ "$(full_transfers replica)" = 0 ]
}

# 1. replica restart; changes while it is down
"$PAIR" node-stop "$P" replica
pkq "addprinc -pw Restart-pass-1 r1" "modprinc -maxlife \"1 hour\" user00001" "delprinc -force user00002"
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "replica did not catch up after its restart"
resumed || fail "no incremental resume after the replica restart"
converge 60

# 2. primary restart; changes while its node is down (the hook cannot
#    reach it: the start-up scan takes them)
"$PAIR" node-stop "$P" primary
pkq "addprinc -pw Restart-pass-2 r2" "cpw -pw Restart-pass-3 r1"
"$PAIR" node-start "$P" primary
"$PAIR" wait "$P" 60 || fail "replica did not catch up after the primary restart"
resumed || fail "no incremental resume after the primary restart"
converge 60
kinit_at replica r1 Restart-pass-3 || fail "kinit r1 (changed while the primary node was down)"

# 3. both
"$PAIR" node-stop "$P" replica
"$PAIR" node-stop "$P" primary
pkq "addprinc -pw Restart-pass-4 r3" "renprinc -force r2 r2b"
"$PAIR" node-start "$P" primary
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 60 || fail "replica did not catch up after both restarted"
resumed || fail "no incremental resume after both restarted"
converge 60
kinit_at replica r3 Restart-pass-4 || fail "kinit r3 against the replica"
replica_has r2 && fail "rename not replicated"
n=$(full_transfers replica)
[ "$n" = 0 ] || fail "$n full snapshots since the last restart: a restart fell back to a full transfer"
grep -h 'resuming incrementally\|: incremental (' "$P/primary/node.log" | tail -n 3
echo "PASS: three restarts, each resumed incrementally, converged"
