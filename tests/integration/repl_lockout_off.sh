#!/bin/bash
# SPDX-License-Identifier: MIT
# replicate_lockout = no (the default, as MIT iprop): each KDC keeps its own
# lockout counters.  Failed kinits at the replica's KDC lock it there only;
# nothing flows upstream (no LOCKOUT message, the primary's entry is
# untouched and its KDC still lets the user in); a change from the primary
# keeps the replica's own lockout fields; the dumps are equal apart from
# the lockout fields.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up --scan-interval 1h
pkq "addpol -maxfailure 3 -lockoutduration 600 lpol" \
	"addprinc -pw Lo-pass-1 -policy lpol +requires_preauth lo"
wait_replica_has lo

for i in 1 2 3; do
	kinit_at replica lo "wrong-$i" && fail "bad password accepted"
done
dump_of replica "$T/replica.dump" keep
[ "$(field_of "$T/replica.dump" lo 15)" = 3 ] ||
	fail "the replica's KDC did not count: $(field_of "$T/replica.dump" lo 15)"
kinit_at replica lo Lo-pass-1 && fail "the replica's KDC did not lock lo"
sleep 2 # far longer than a coalescing window and a round trip
dump_of primary "$T/primary.dump" keep
[ "$(field_of "$T/primary.dump" lo 15)" = 0 ] ||
	fail "failures flowed upstream: $(field_of "$T/primary.dump" lo 15)"
[ "$(field_of "$T/primary.dump" lo 14)" = 0 ] || fail "last_failed flowed upstream"
kinit_at primary lo Lo-pass-1 || fail "the primary's KDC locked lo"
echo "PASS: failures at the replica's KDC stay there"

pkq "modprinc -maxlife \"4 hours\" lo"
deadline=$((SECONDS + 20))
while :; do
	dump_of replica "$T/replica.dump" keep
	[ "$(field_of "$T/replica.dump" lo 9)" = 14400 ] && break
	[ $SECONDS -ge $deadline ] && fail "modprinc did not arrive"
	sleep 0.05
done
[ "$(field_of "$T/replica.dump" lo 15)" = 3 ] ||
	fail "the primary's record replaced the replica's count"
kinit_at replica lo Lo-pass-1 && fail "the replica's lock was lost on apply"
echo "PASS: a change from the primary keeps the replica's own counters"

dumps_equal || { diff "$T/p.dump" "$T/r.dump" | head -n 10 | cut -c1-200 >&2; fail "dumps differ (lockout fields aside)"; }
sent=$(status_field replica lockout/sent)
received=$(status_field primary lockout/received)
[ "$sent" = 0 ] || fail "replica status: lockout/sent = '$sent'"
[ "$received" = 0 ] || fail "primary status: lockout/received = '$received'"
echo "PASS: nothing flowed upstream; dumps equal apart from lockout fields"

# A replica with replicate_lockout = yes under a primary without it: the
# primary does not announce PROTO_CAP_LOCKOUT, so nothing is sent (the link
# is not reset by a LOCKOUT it would refuse) and the KDCs keep counting on
# their own.
"$PAIR" node-stop "$P" replica
sed -i 's/^\treplicate_lockout = .*/\treplicate_lockout = true/' "$REPLICA_NODE_CONF"
"$PAIR" node-start "$P" replica
"$PAIR" wait "$P" 30 || fail "replica not in sync after its restart"
pkq "addprinc -pw Lm-pass-1 -policy lpol +requires_preauth lm"
wait_replica_has lm
for i in 1 2 3; do
	kinit_at replica lm "wrong-$i" && fail "bad password accepted"
done
deadline=$((SECONDS + 20))
until [ "$(status_field replica lockout/unsent)" -ge 1 ] 2>/dev/null; do
	[ $SECONDS -ge $deadline ] && fail "replica status: lockout/unsent = '$(status_field replica lockout/unsent)'"
	sleep 0.1
done
[ "$(status_field replica lockout/sent)" = 0 ] || fail "sent to a primary without the capability"
[ "$(status_field replica lockout/reports)" -ge 3 ] || fail "the replica's KDC reports were not taken"
dump_of primary "$T/primary.dump" keep
[ "$(field_of "$T/primary.dump" lm 15)" = 0 ] || fail "failures reached a primary without replicate_lockout"
kinit_at primary lm Lm-pass-1 || fail "the primary's KDC locked lm"
err=$(status_field replica peers/primary/repl/last_error)
[ -z "$err" ] || [ "$err" = null ] || fail "link error: $err"
echo "PASS: a replica with replicate_lockout sends nothing to a primary without it"
