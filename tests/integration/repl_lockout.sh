#!/bin/bash
# SPDX-License-Identifier: MIT
# replicate_lockout = yes: lockout on every KDC (PROTOCOL.md §3.10), real
# krb5kdc on both sides, scan_interval of an hour (only the capture path
# and the LOCKOUT message upstream can explain anything arriving):
#   - three failed kinits at the replica's KDC lock the account on the
#     primary's KDC (the replica's node reports upstream, the primary
#     merges and replicates);
#   - an unrelated change from the primary does not roll the lock back;
#   - `modprinc -unlock` on the primary unlocks both KDCs;
#   - three failed kinits at the primary's KDC lock the replica's KDC;
#   - a successful kinit at the replica's KDC sets last_success on the
#     primary (and resets the count there);
#   - sorted dumps of both KDBs are equal, lockout fields included;
#   - status shows the reports sent upstream and merged.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"


pair_up --replicate-lockout --scan-interval 1h
pkq "addpol -maxfailure 3 -lockoutduration 600 lpol" \
	"addprinc -pw Lr-pass-1 -policy lpol +requires_preauth lr"
wait_field replica lr 15 0 "lr created"
replica_has lr || fail "lr not on the replica"

# 1. failures at the replica's KDC reach the primary's
fail3 replica lr
wait_field replica lr 15 3 "three failures at the replica's KDC"
wait_field primary lr 15 3 "the replica's failures upstream"
kinit_at replica lr Lr-pass-1 && fail "the replica's KDC did not lock lr"
kinit_at primary lr Lr-pass-1 && fail "the primary's KDC did not lock lr (failures counted on the replica)"
echo "PASS: three failed kinits at the replica's KDC lock lr on both KDCs"

# 2. a change from the primary keeps the lock
pkq "modprinc -maxlife \"4 hours\" lr"
wait_field replica lr 9 14400 "modprinc from the primary"
[ "$(field_of "$T/replica.dump" lr 15)" = 3 ] ||
	fail "the primary's record rolled back the replica's count: $(field_of "$T/replica.dump" lr 15)"
kinit_at replica lr Lr-pass-1 && fail "lr unlocked on the replica by an unrelated change"
echo "PASS: a change from the primary keeps the lock"

# 3. an administrator's unlock on the primary unlocks everywhere
pkq "modprinc -unlock lr"
wait_field primary lr 15 0 "unlock on the primary"
wait_field replica lr 15 0 "the primary's unlock"
kinit_at replica lr Lr-pass-1 || fail "lr still locked on the replica after the unlock"
kinit_at primary lr Lr-pass-1 || fail "lr still locked on the primary after the unlock"
echo "PASS: an unlock on the primary unlocks both KDCs"

# 4. failures at the primary's KDC lock the replica's
pkq "addprinc -pw Lp-pass-1 -policy lpol +requires_preauth lp"
wait_field replica lp 15 0 "lp created"
fail3 primary lp
wait_field replica lp 15 3 "the primary's failures"
kinit_at replica lp Lp-pass-1 && fail "the replica's KDC did not lock lp (failures counted on the primary)"
echo "PASS: three failed kinits at the primary's KDC lock lp on the replica's KDC"

# 5. a successful login at the replica's KDC reaches the primary
pkq "addprinc -pw Ls-pass-1 -policy lpol +requires_preauth ls"
wait_field replica ls 15 0 "ls created"
kinit_at replica ls "wrong-1" && fail "bad password accepted"
wait_field primary ls 15 1 "one failure at the replica's KDC"
sleep 1.1 # a login in a later second than the failure (1 s timestamps)
kinit_at replica ls Ls-pass-1 || fail "kinit ls at the replica's KDC"
dump_of replica "$T/replica.dump" keep
ls=$(field_of "$T/replica.dump" ls 13)
[ "$ls" != 0 ] || fail "no last_success on the replica"
wait_field primary ls 13 "$ls" "the replica's login"
[ "$(field_of "$T/primary.dump" ls 15)" = 0 ] || fail "the login did not reset the count on the primary"
echo "PASS: a successful kinit at the replica's KDC sets last_success on the primary"

# 6. both KDBs equal, lockout fields included
dumps_equal_within 20 keep
echo "PASS: sorted dumps equal, lockout fields included"

# 7. status: what went upstream and what was merged; no scan explains it
sent=$(status_field replica lockout/sent)
merged=$(status_field primary lockout/merged)
rejected=$(status_field primary lockout/rejected)
scans=$(status_field primary capture/scans)
echo "  replica sent $sent, primary merged $merged, rejected $rejected, scans $scans"
[ "${sent:-0}" -ge 2 ] || fail "replica status: lockout/sent = '$sent'"
[ "${merged:-0}" -ge 2 ] || fail "primary status: lockout/merged = '$merged'"
[ "$rejected" = 0 ] || fail "primary status: lockout/rejected = '$rejected'"
[ "$scans" = 1 ] || fail "a scan ran besides the start-up one: $scans"
echo "PASS: status counts the reports sent upstream and merged"
