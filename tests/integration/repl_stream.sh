#!/bin/bash
# SPDX-License-Identifier: MIT
# Scenario 2: a scripted stream of changes converges to equal dumps.
#  a) replicate_lockout = true: add, modify, rename, delete, cpw, randkey,
#     setstr, policy add/modify/delete, lockout from failed kinits; dumps
#     equal INCLUDING the lockout fields.  Every change reaches the replica
#     through the KDB module, without a scan (the start-up scan is the only
#     one; scan_interval is 10 minutes).
#  b) replicate_lockout = false: the replica keeps its own lockout state
#     (a failed kinit on the primary does not lock the replica).
. "$KS_SOURCE_DIR/tests/integration/lib/pair.sh"

pair_up --replicate-lockout
t0=$(date +%s)
pkq "addprinc -pw Stream-pass-1 +requires_preauth s1"
# module path: visible on the replica within 5 s (no scan runs)
for i in $(seq 1 100); do replica_has s1 && break; sleep 0.05; done
replica_has s1 || fail "addprinc not replicated through the KDB module"
echo "addprinc visible on the replica after $(($(date +%s) - t0)) s or less"
pkq "addpol -maxfailure 3 -lockoutduration 600 lockpol" \
	"addprinc -pw Stream-pass-2 -policy lockpol +requires_preauth s2" \
	"modprinc -maxlife \"3 hours\" s1" \
	"cpw -pw Stream-pass-3 s1" \
	"addprinc -randkey svc/host.example" \
	"cpw -randkey svc/host.example" \
	"renprinc -force svc/host.example svc/renamed.example" \
	"addprinc -randkey gone" \
	"delprinc -force gone" \
	"setstr s1 note \"hello world\"" \
	"modpol -maxlife \"2 days\" lockpol" \
	"addpol tmppol" \
	"delpol -force tmppol"
# module-captured changes arrive without a scan
for i in $(seq 1 100); do
	replica_has svc/renamed.example && ! replica_has gone && ! replica_has svc/host.example && break
	sleep 0.05
done
replica_has svc/renamed.example || fail "rename not replicated"
replica_has gone && fail "delete not replicated"
scans=$(status_field primary capture/scans)
[ "$scans" = 1 ] || fail "a scan ran ($scans); the module path was not what replicated"
# lockout: failed then good kinits against the PRIMARY's KDC
kinit_at primary s2 wrong-1 && fail "bad password accepted"
kinit_at primary s2 wrong-2 && fail "bad password accepted"
kinit_at primary s1 Stream-pass-3 || fail "kinit s1 on the primary"
# setstr, policies and the KDC's lockout writes: reported by the module too
deadline=$((SECONDS + 30))
until dumps_equal keep; do
	[ $SECONDS -lt $deadline ] || { diff "$T/p.dump" "$T/r.dump" | head -n 10 | cut -c1-200 >&2; fail "dumps differ"; }
	sleep 0.1
done
scans=$(status_field primary capture/scans)
[ "$scans" = 1 ] || fail "a scan ran ($scans) for setstr, policies or lockout"
[ "$(field_of "$T/r.dump" s2 15)" = 2 ] || fail "fail_auth_count of s2 not replicated"
ls1=$(field_of "$T/r.dump" s1 13)
[ -n "$ls1" ] && [ "$ls1" != 0 ] || fail "last_success of s1 not replicated"
grep -q '^policy	lockpol' "$T/r.dump" || fail "policy missing"
grep -q '^policy	tmppol' "$T/r.dump" && fail "deleted policy still there"
kinit_at replica s1 Stream-pass-3 || fail "kinit s1 (new password) against the replica"
echo "PASS a: stream with replicate_lockout = true converged (lockout included)"

"$PAIR" down "$P" >/dev/null
rm -rf "$P"
pair_up
pkq "addprinc -pw Stream-pass-4 +requires_preauth s3"
kinit_at primary s3 wrong-3 && fail "bad password accepted"
converge 60
# the primary counts the failure, the replica does not
dump_of primary "$T/pk.dump" keep
dump_of replica "$T/rk.dump" keep
[ "$(field_of "$T/pk.dump" s3 15)" = 1 ] || fail "primary did not count"
[ "$(field_of "$T/rk.dump" s3 15)" = 0 ] || fail "lockout replicated although off"
kinit_at replica s3 Stream-pass-4 || fail "kinit s3 against the replica"
echo "PASS b: with replicate_lockout = false each KDC keeps its own lockout state"
