#!/bin/bash
# SPDX-License-Identifier: MIT
# Lockout along a cascade (PROTOCOL.md §3.10, §3.13): pair.sh up --chain
# --replicate-lockout makes primary -> replica (relay) -> third, real
# krb5kdc on each, scan_interval of an hour (only the capture path, LOCKOUT
# messages and relayed batches can explain anything arriving):
#   1. three failed kinits at the third's KDC lock the account on the
#      primary's KDC and on the middle's (third -> relay: LOCKOUT; the
#      relay merges and forwards upstream; the primary merges, logs, and
#      the batch comes back down through the relay);
#   2. three failed kinits at the primary's KDC lock the third's KDC;
#   3. failures at the middle's KDC reach both ends;
#   4. `modprinc -unlock` on the primary unlocks all three KDCs;
#   5. sorted dumps of the three KDBs are equal, lockout fields included;
#   6. no loop, no amplification: the third takes no LOCKOUT (it has no
#      downstream), the relay sent upstream at most one LOCKOUT per report
#      it had (its KDC's and its downstream's), the primary got only what
#      the relay sent.
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

tf() { status_field "$@" || fail "no $* in the status"; }

pair_up --chain --replicate-lockout --scan-interval 1h
[ "$(tf replica relay)" = true ] || fail "the middle does not relay"
pkq "addpol -maxfailure 3 -lockoutduration 600 lpol" \
	"addprinc -pw Lt-pass-1 -policy lpol +requires_preauth lt" \
	"addprinc -pw Lp-pass-1 -policy lpol +requires_preauth lp" \
	"addprinc -pw Lm-pass-1 -policy lpol +requires_preauth lm"
"$PAIR" wait "$P" 60 || fail "chain not in sync"
for h in replica third; do
	wait_field "$h" lm 15 0 "principals created"
done

# 1. the third's failures reach the middle and the primary
fail3 third lt
wait_field third lt 15 3 "three failures at the third's KDC"
wait_field replica lt 15 3 "the third's failures at the relay"
wait_field primary lt 15 3 "the third's failures upstream"
kinit_at primary lt Lt-pass-1 && fail "the primary's KDC did not lock lt (failures counted on the third)"
kinit_at replica lt Lt-pass-1 && fail "the middle's KDC did not lock lt (failures counted on the third)"
kinit_at third lt Lt-pass-1 && fail "the third's KDC did not lock lt"
[ "$(tf replica lockout/received)" -ge 1 ] || fail "relay status: no LOCKOUT received"
[ "$(tf replica lockout/forwarded)" -ge 1 ] || fail "relay status: nothing forwarded"
[ "$(tf third lockout/sent)" -ge 1 ] || fail "third status: nothing sent"
echo "PASS: three failed kinits at the third's KDC lock lt on all three KDCs"

# 2. the primary's failures reach the third through the relay
fail3 primary lp
wait_field primary lp 15 3 "three failures at the primary's KDC"
wait_field third lp 15 3 "the primary's failures at the third"
kinit_at third lp Lp-pass-1 && fail "the third's KDC did not lock lp (failures counted on the primary)"
echo "PASS: three failed kinits at the primary's KDC lock lp on the third's KDC"

# 3. the middle's failures reach both ends
fail3 replica lm
wait_field primary lm 15 3 "the middle's failures upstream"
wait_field third lm 15 3 "the middle's failures at the third"
kinit_at third lm Lm-pass-1 && fail "the third's KDC did not lock lm"
kinit_at primary lm Lm-pass-1 && fail "the primary's KDC did not lock lm"
echo "PASS: three failed kinits at the middle's KDC lock lm at both ends"

# 4. an unlock on the primary unlocks all three
pkq "modprinc -unlock lt"
for h in primary replica third; do
	wait_field "$h" lt 15 0 "the unlock"
done
kinit_at third lt Lt-pass-1 || fail "lt still locked at the third after the unlock"
kinit_at replica lt Lt-pass-1 || fail "lt still locked at the middle after the unlock"
echo "PASS: an unlock on the primary unlocks all three KDCs"

# 5. equal everywhere, lockout fields included
"$PAIR" wait "$P" 60 || fail "chain not in sync"
wait_equal 20 keep primary replica third
echo "PASS: sorted dumps of the three KDBs equal, lockout fields included"

# 6. no loop, no amplification
for h in primary replica third; do
	for f in reports received merged forwarded sent; do
		eval "${h}_$f=\$(tf $h lockout/$f)"
	done
done
echo "  third: reports $third_reports sent $third_sent received $third_received;" \
	"relay: reports $replica_reports received $replica_received merged $replica_merged" \
	"forwarded $replica_forwarded sent $replica_sent; primary: received $primary_received merged $primary_merged"
[ "$third_received" = 0 ] || fail "the third took LOCKOUT messages: $third_received"
[ "$primary_sent" = 0 ] || fail "the primary sent LOCKOUT messages: $primary_sent"
[ "$replica_sent" -le $((replica_reports + replica_received)) ] ||
	fail "the relay amplified: sent $replica_sent for $replica_reports reports and $replica_received received"
[ "$replica_forwarded" -le "$replica_merged" ] || fail "the relay forwarded more than it merged"
[ "$primary_received" -le "$replica_sent" ] || fail "the primary got more than the relay sent"
[ "$third_sent" -le "$third_reports" ] || fail "the third sent more than its KDC reported"
[ "$(tf primary capture/scans)" = 1 ] || fail "a scan ran besides the start-up one"
"$PAIR" down "$P"
! grep -q 'ERROR: AddressSanitizer\|runtime error' "$P"/*/node.log || fail "sanitizer report"
echo "PASS: no LOCKOUT went down the chain or amplified"
