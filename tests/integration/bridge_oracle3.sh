#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Oracle 3: after a scripted set of changes on the source (add, modify,
# rename, delete, cpw, setstr, policy create/modify/delete) a second scan
# logs exactly those records and nothing else; applying that change set
# incrementally to a loaded copy makes the dumps equal again; re-applying it
# changes nothing (idempotent); targeted capture logs one principal, and
# typed captures of principals and policies come out in dependency order.
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src dst=$WORK/dst
R=BRIDGE.TEST
realm_init "$src" $R
realm_fixture "$src"
realm_kadmin "$src" "addpol tmppol" "addprinc -randkey -policy tmppol tmpuser"
realm_init "$dst" $R
cp "$src/stash" "$dst/stash"

tool "$src" scan "$WORK/store" >/dev/null 2>&1
tool "$dst" load "$WORK/store"
realm_dump "$src" "$WORK/a"
realm_dump "$dst" "$WORK/b"
cmp <(zero_nra "$WORK/a") "$WORK/b" || fail "initial copy differs"

realm_kadmin "$src" \
	"addprinc -pw New-user-pw1 newuser" \
	"modprinc -maxlife \"7 hours\" bob" \
	"renprinc -force a/b/c/d renamed/x" \
	"delprinc -force nokey" \
	"cpw -randkey host/server.example.test" \
	"setstr dated colour blue" \
	"delprinc -force tmpuser" \
	"addpol -minlength 10 newpol" \
	"modpol -minlength 12 fullpol" \
	"delpol -force tmppol"
cat >"$WORK/expected" <<EXP
DEL O tmppol
DEL P a/b/c/d@$R
DEL P nokey@$R
DEL P tmpuser@$R
PUT O fullpol
PUT O newpol
PUT P bob@$R
PUT P dated@$R
PUT P host/server.example.test@$R
PUT P newuser@$R
PUT P renamed/x@$R
EXP
tool "$src" scan "$WORK/store" 2>"$WORK/scan.err" | sort >"$WORK/logged"
diff "$WORK/expected" "$WORK/logged" || fail "second scan logged other records than the changes"

# Apply the logged change set (the last $n log entries) to the copy.
n=$(wc -l <"$WORK/logged")
total=$(tool "$src" scan "$WORK/store" 2>/dev/null | wc -l)
[ "$total" -eq 0 ] || fail "a third scan without changes logged $total records"
last=$(tool "$src" storeinfo "$WORK/store" | awk '{print $2}')
from=$((last - n + 1))
tool "$dst" -b 3 apply "$WORK/store" "$from" 2>"$WORK/apply.err"  # relock every 3
grep -q "applied $n changes" "$WORK/apply.err" || { cat "$WORK/apply.err" >&2; fail "apply did not take $n changes"; }
realm_dump "$src" "$WORK/a"
realm_dump "$dst" "$WORK/b"
cmp <(zero_nra "$WORK/a") "$WORK/b" || { diff <(zero_nra "$WORK/a") "$WORK/b" | cut -c1-200 >&2; fail "dumps differ after incremental apply"; }

# Idempotent: the same batch again, and the whole log from the start.
tool "$dst" apply "$WORK/store" "$from" 2>/dev/null
tool "$dst" -b 2 apply "$WORK/store" 1 2>/dev/null
realm_dump "$dst" "$WORK/c"
cmp "$WORK/b" "$WORK/c" || fail "re-applying changed the KDB"

# The copy's own lockout counters survive an incremental apply.
realm_kdc_start "$dst"
realm_kinit "$dst" newuser@$R New-user-pw1 || fail "newuser cannot kinit against the copy"
if realm_kinit "$dst" bob@$R wrong-pw; then fail "wrong password accepted"; fi
realm_kdc_stop "$dst"
realm_dump "$dst" "$WORK/d"
bobfails() { awk -F'\t' -v n="bob@$R" '$1 == "princ" && $7 == n { print $15 }' "$1"; }
[ "$(bobfails "$WORK/d")" -ge 1 ] || fail "no failure counted on the copy"
realm_kadmin "$src" "modprinc -maxlife \"6 hours\" bob"
tool "$src" scan "$WORK/store" >"$WORK/l2" 2>/dev/null
grep -qx "PUT P bob@$R" "$WORK/l2" || fail "bob change not logged"
last=$(tool "$src" storeinfo "$WORK/store" | awk '{print $2}')
tool "$dst" apply "$WORK/store" "$last" 2>/dev/null
realm_dump "$dst" "$WORK/e"
[ "$(bobfails "$WORK/e")" = "$(bobfails "$WORK/d")" ] || fail "apply overwrote the copy's lockout counter"
[ "$(awk -F'\t' -v n="bob@$R" '$1 == "princ" && $7 == n { print $9 }' "$WORK/e")" = 21600 ] || fail "bob's new max_life not applied"

# Targeted capture: one changed principal, then a deleted one.
realm_kadmin "$src" "modprinc -maxlife \"2 hours\" alice"
tool "$src" capture "$WORK/store" alice@$R >"$WORK/cap" 2>/dev/null
[ "$(cat "$WORK/cap")" = "PUT P alice@$R" ] || fail "capture of alice: $(cat "$WORK/cap")"
realm_kadmin "$src" "delprinc -force dated"
tool "$src" capture "$WORK/store" dated@$R >"$WORK/cap" 2>/dev/null
[ "$(cat "$WORK/cap")" = "DEL P dated@$R" ] || fail "capture of deleted dated: $(cat "$WORK/cap")"
tool "$src" capture "$WORK/store" dated@$R >"$WORK/cap" 2>/dev/null
[ ! -s "$WORK/cap" ] || fail "repeated capture logged again"
# Typed capture in one commit, in dependency order whatever the order
# given: existing policies, then principals, then deleted policies.
realm_kadmin "$src" "addpol ordpol" "addprinc -randkey -policy ordpol orduser" \
	"addpol gonepol" "addprinc -randkey -policy gonepol leaver"
tool "$src" capture "$WORK/store" "P:orduser@$R" "P:leaver@$R" O:gonepol O:ordpol >"$WORK/cap" 2>/dev/null
printf 'PUT O gonepol\nPUT O ordpol\nPUT P orduser@%s\nPUT P leaver@%s\n' $R $R >"$WORK/want"
diff "$WORK/want" "$WORK/cap" || fail "typed capture order (create)"
realm_kadmin "$src" "modprinc -clearpolicy leaver" "delpol -force gonepol" "modpol -maxlife \"3 hours\" ordpol"
tool "$src" capture "$WORK/store" O:gonepol "P:leaver@$R" O:ordpol O:nosuchpol >"$WORK/cap" 2>/dev/null
printf 'PUT O ordpol\nPUT P leaver@%s\nDEL O gonepol\n' $R >"$WORK/want"
diff "$WORK/want" "$WORK/cap" || fail "typed capture order (delete)"
[ "$(tool "$src" scan "$WORK/store" 2>/dev/null | wc -l)" -eq 0 ] || fail "scan after captures found more"
# The KDB files' stamp: unchanged by scans and reads, changed by a
# principal write, a policy write and a load.
tool "$src" stamp >"$WORK/st1" 2>/dev/null
tool "$src" scan "$WORK/store" >/dev/null 2>&1
tool "$src" records >/dev/null 2>&1
tool "$src" stamp >"$WORK/st2" 2>/dev/null
cmp -s "$WORK/st1" "$WORK/st2" || fail "a scan changed the KDB stamp"
[ "$(wc -l <"$WORK/st1")" = 5 ] && ! grep -q "^0 0$" "$WORK/st1" || fail "stamp incomplete: $(cat "$WORK/st1")"
realm_kadmin "$src" "modprinc -maxlife \"4 hours\" alice"
tool "$src" stamp >"$WORK/st3" 2>/dev/null
cmp -s "$WORK/st2" "$WORK/st3" && fail "a principal write left the stamp"
realm_kadmin "$src" "modpol -maxlife \"5 hours\" ordpol"
tool "$src" stamp >"$WORK/st4" 2>/dev/null
cmp -s "$WORK/st3" "$WORK/st4" && fail "a policy write left the stamp"
(realm_env "$src" && kdb5_util dump "$WORK/f.full" && kdb5_util load "$WORK/f.full")
tool "$src" stamp >"$WORK/st5" 2>/dev/null
cmp -s "$WORK/st4" "$WORK/st5" && fail "a load left the stamp"
echo "oracle 3 ok: change set exact, incremental apply converges, idempotent, captures in dependency order, stamp"
