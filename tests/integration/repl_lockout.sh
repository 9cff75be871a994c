#!/bin/bash
# SPDX-License-Identifier: MIT
# replicate_lockout = yes, a replica's own lockout state against records
# from the primary (PROTOCOL.md §3.10 merge rule, bridge/apply.c):
#   - three failed kinits at the replica's KDC lock the account there;
#   - a change the primary then makes to that principal (modprinc) arrives
#     but does not roll the replica's newer failures back: still locked;
#   - a successful login at the primary's KDC, newer than those failures,
#     arrives and unlocks the replica (a newer success wins).
# Not covered here (not built yet): the replica's failures reaching the
# primary (LOCKOUT upstream) and hence an unlock on the primary of failures
# only a replica counted.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

# wait_field WHICH PRINC N VALUE WHAT: wait (20 s) for dump field N
wait_field() {
	local deadline=$((SECONDS + 20)) v
	while :; do
		dump_of "$1" "$T/$1.dump" keep
		v=$(field_of "$T/$1.dump" "$2" "$3")
		[ "$v" = "$4" ] && return 0
		[ $SECONDS -ge $deadline ] && fail "$5: field $3 of $2 on the $1 is '$v', expected $4"
		sleep 0.05
	done
}

pair_up --replicate-lockout --scan-interval 1h
pkq "addpol -maxfailure 3 -lockoutduration 600 lpol" \
	"addprinc -pw Lr-pass-1 -policy lpol +requires_preauth lr"
wait_field replica lr 15 0 "lr created"
replica_has lr || fail "lr not on the replica"

for i in 1 2 3; do
	kinit_at replica lr "wrong-$i" && fail "bad password accepted"
done
wait_field replica lr 15 3 "three failures at the replica's KDC"
kinit_at replica lr Lr-pass-1 && fail "the replica's KDC did not lock lr"
echo "PASS: three failed kinits lock lr at the replica's KDC"

pkq "modprinc -maxlife \"4 hours\" lr"
wait_field replica lr 9 14400 "modprinc from the primary"
[ "$(field_of "$T/replica.dump" lr 15)" = 3 ] ||
	fail "the primary's record rolled back the replica's count: $(field_of "$T/replica.dump" lr 15)"
[ "$(field_of "$T/replica.dump" lr 14)" != 0 ] || fail "last_failed rolled back on the replica"
kinit_at replica lr Lr-pass-1 && fail "lr unlocked on the replica by an unrelated change"
echo "PASS: a change from the primary keeps the replica's newer lockout state"

sleep 1.1 # a login in a later second than the failures (1 s timestamps)
kinit_at primary lr Lr-pass-1 || fail "kinit lr at the primary's KDC"
dump_of primary "$T/primary.dump" keep
ls=$(field_of "$T/primary.dump" lr 13)
[ "$ls" != 0 ] || fail "no last_success on the primary"
wait_field replica lr 13 "$ls" "the primary's login"
[ "$(field_of "$T/replica.dump" lr 15)" = 0 ] || fail "a newer login did not reset the count"
kinit_at replica lr Lr-pass-1 || fail "lr still locked on the replica after a newer login"
echo "PASS: a newer successful login at the primary unlocks the replica"
