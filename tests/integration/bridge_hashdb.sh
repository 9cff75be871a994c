#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A DB2 hash database iterates in hash order, not in the store's key order:
# scans must still log exactly the deletions and keep the store equal to
# `kdb5_util dump`.
. "$KS_SOURCE_DIR/tests/integration/lib/bridge.sh"
src=$WORK/src
R=BRIDGE.TEST
REALM_CREATE_ARGS="-x hash=true" realm_init "$src" $R
for i in $(seq 1 200); do echo "addprinc -randkey p$i"; done >"$WORK/add.cmds"
echo "addpol hpol" >>"$WORK/add.cmds"
(realm_env "$src" && kadmin.local -r $R <"$WORK/add.cmds" >/dev/null 2>&1)
tool "$src" records | awk -F'\t' '$1 == "princ" { print $7 }' >"$WORK/order"
sort -c "$WORK/order" 2>/dev/null && fail "hash DB iterated in sorted order; test proves nothing"
tool "$src" scan "$WORK/store" >/dev/null 2>&1
realm_kadmin "$src" "delprinc -force p7" "delprinc -force p150" "delpol -force hpol" "addprinc -randkey p201"
tool "$src" scan "$WORK/store" 2>/dev/null | sort >"$WORK/logged"
printf 'DEL O hpol\nDEL P p150@%s\nDEL P p7@%s\nPUT P p201@%s\n' $R $R $R >"$WORK/expected"
diff "$WORK/expected" "$WORK/logged" || fail "hash DB change set wrong"
realm_dump "$src" "$WORK/dump"
tool "$src" storedump "$WORK/store" | sort >"$WORK/stored"
zero_nra "$WORK/dump" | sort | cmp - "$WORK/stored" || fail "store != dump"
echo "hash db ok"
