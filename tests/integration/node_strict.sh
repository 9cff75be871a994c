#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Strict start-up: every file the configuration names must be usable, or
# `kdcsyncd -t` and the daemon fail with one line naming the key and the
# file (and a reload naming such a file is rejected, the node running on;
# a reload to a KDC profile whose KDB cannot be opened is refused with the
# same line, and status says so).
# Cases: missing kdc_profile; signing key world-readable, public-only,
# garbage; TLS key readable by group; garbage trusted key; missing kprop
# keytab and acl file; a KDB that cannot be opened (database_name missing
# or unreadable, key_stash_file missing): a primary fails, a replica starts
# and says it rebuilds.
. "$KS_SOURCE_DIR/tests/integration/lib/node.sh"

P=kdc1.example.com
make_certs "$P" kdc2.example.com
"$KDCSYNC" keygen -o "$T/signing" >/dev/null
port=$(free_port)
from_sample primary.conf.sample "$T/good.conf" "$T/p" "$port"
sed -i "s|#signing_key = /etc/kdcsync/signing.key|signing_key = $T/signing.key|" "$T/good.conf"
grep -q "^	signing_key = $T/signing.key" "$T/good.conf" || fail "sample has no signing_key line"
"$KDCSYNCD" -c "$T/good.conf" -t | grep -q "configuration OK" || fail "-t on the good configuration"

# expect_bad NAME CONF KEY FILE WORDS: -t and the daemon refuse CONF with one
# line naming KEY and FILE and saying WORDS.
expect_bad() {
	local name=$1 conf=$2 key=$3 file=$4 words=$5 rc=0
	"$KDCSYNCD" -c "$conf" -t >"$T/$name.out" 2>"$T/$name.err" && fail "$name: -t passed"
	# one verdict line (library detail may precede it in the log format)
	grep '^kdcsyncd: ' "$T/$name.err" >"$T/$name.line" || true
	[ "$(wc -l <"$T/$name.line")" = 1 ] || fail "$name: -t verdict lines: $(cat "$T/$name.err")"
	grep -qF "$key: " "$T/$name.line" || fail "$name: -t does not name $key: $(cat "$T/$name.err")"
	grep -qF "'$file'" "$T/$name.line" || fail "$name: -t does not name '$file': $(cat "$T/$name.err")"
	grep -q "$words" "$T/$name.line" || fail "$name: -t does not say '$words': $(cat "$T/$name.err")"
	timeout 20 "$KDCSYNCD" -c "$conf" -f >"$T/$name.log" 2>&1 || rc=$?
	if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then fail "$name: the daemon ran (exit $rc)"; fi
	grep -F "$key: " "$T/$name.log" | grep -qF "'$file'" ||
		fail "$name: the daemon's log does not name $key and '$file'"
	! grep -q 'started as' "$T/$name.log" || fail "$name: the daemon started"
	echo "$name: $(cat "$T/$name.line")"
}

# the KDC profile is missing: no fallback to a default KDB
sed "s|kdc_profile = .*|kdc_profile = $T/missing/kdc.conf|" "$T/good.conf" >"$T/c1.conf"
expect_bad missing_profile "$T/c1.conf" "[node] kdc_profile" "$T/missing/kdc.conf" "No such file"

# signing key readable by everyone
cp "$T/signing.key" "$T/open.key"
chmod 644 "$T/open.key"
sed "s|signing_key = .*|signing_key = $T/open.key|" "$T/good.conf" >"$T/c2.conf"
expect_bad open_key "$T/c2.conf" "[node] signing_key" "$T/open.key" "accessible to group or others (mode 0644)"

# the public half given as the signing key
cp "$T/signing.pub" "$T/pub-only.key"
chmod 600 "$T/pub-only.key"
sed "s|signing_key = .*|signing_key = $T/pub-only.key|" "$T/good.conf" >"$T/c3.conf"
expect_bad public_key "$T/c3.conf" "[node] signing_key" "$T/pub-only.key" "only a public key"

# garbage
head -c 300 /dev/urandom >"$T/garbage.key"
chmod 600 "$T/garbage.key"
sed "s|signing_key = .*|signing_key = $T/garbage.key|" "$T/good.conf" >"$T/c4.conf"
expect_bad garbage_key "$T/c4.conf" "[node] signing_key" "$T/garbage.key" "not an Ed25519 key"

# TLS private key readable by the group
cp "$T/certs/$P.key" "$T/group.key"
chmod 640 "$T/group.key"
sed "s|key = $T/certs/$P.key|key = $T/group.key|" "$T/good.conf" >"$T/c5.conf"
expect_bad tls_key "$T/c5.conf" "[tls] key" "$T/group.key" "accessible to group or others"

# a replica's trusted key that is not a key
from_sample replica.conf.sample "$T/r.conf" "$T/r" "$port"
printf 'not a key\n' >"$T/bad.pub"
sed -i "s|#trusted_keys = /etc/kdcsync/signing.pub|trusted_keys = $T/bad.pub|" "$T/r.conf"
expect_bad trusted_key "$T/r.conf" "[node] trusted_keys" "$T/bad.pub" "not an Ed25519 key"

# kprop files: a keytab that is not there, an acl file missing for a listener
{ cat "$T/good.conf"; printf '[kprop]\n\tkeytab = FILE:%s/none.keytab\n' "$T"; } >"$T/c6.conf"
expect_bad kprop_keytab "$T/c6.conf" "[kprop] keytab" "$T/none.keytab" "No such file"
kport=$(free_port)
# (a kprop listener only on a node without native peers: kprop_native.sh)
{ sed '/^\[peers\]/,$d' "$T/good.conf"; printf '[kprop]\n\tlisten = 127.0.0.1:%s\n\tacl_file = %s/none.acl\n' "$kport" "$T"; } >"$T/c7.conf"
expect_bad kprop_acl "$T/c7.conf" "[kprop] acl_file" "$T/none.acl" "No such file"

# the KDB the kdc_profile names cannot be opened: a primary does not start
# (it would replicate nothing, or the wrong database)
kdc_variant() { # NAME SED: a copy of the primary's kdc.conf, edited
	sed "$2" "$T/p.kdb/kdc.conf" >"$T/$1.kdc.conf"
	sed "s|kdc_profile = .*|kdc_profile = $T/$1.kdc.conf|" "$T/good.conf" >"$T/$1.conf"
}
kdc_variant nodb "s|database_name = .*|database_name = $T/gone/principal|"
expect_bad missing_db "$T/nodb.conf" "database_name" "$T/gone/principal" "No such file"
kdc_variant nostash "s|key_stash_file = .*|key_stash_file = $T/gone.stash|"
expect_bad missing_stash "$T/nostash.conf" "key_stash_file" "$T/gone.stash" "cannot be used"
mkdir "$T/dir.principal"
kdc_variant dirdb "s|database_name = .*|database_name = $T/dir.principal|"
expect_bad dir_db "$T/dirdb.conf" "database_name" "$T/dir.principal" "not a regular file"
if [ "$(id -u)" != 0 ]; then
	cp "$T/p.kdb/principal" "$T/locked.principal"
	chmod 000 "$T/locked.principal"
	kdc_variant locked "s|database_name = .*|database_name = $T/locked.principal|"
	expect_bad unreadable_db "$T/locked.conf" "database_name" "$T/locked.principal" "Permission denied"
else
	echo "unreadable_db: skipped (root reads a mode 000 file)"
fi

# a replica whose database file is missing starts and says it rebuilds it
# from its store (or loads it from a full copy: its store is empty here)
sed "s|kdc_profile = .*|kdc_profile = $T/nodb.kdc.conf|" "$T/r.conf" >"$T/rnodb.conf"
sed -i "s|trusted_keys = .*|trusted_keys = $T/signing.pub|" "$T/rnodb.conf"
"$KDCSYNCD" -c "$T/rnodb.conf" -t >"$T/rnodb.out" 2>"$T/rnodb.err" || fail "replica without its KDB file: -t failed: $(cat "$T/rnodb.err")"
grep -q "database_name: the KDB '$T/gone/principal' cannot be opened.*rebuilds it from its store" "$T/rnodb.err" ||
	fail "replica -t does not say it rebuilds: $(cat "$T/rnodb.err")"
start rnodb "$T/rnodb.conf"
wait_for 15 grep -q 'started as replica' "$T/rnodb.log" || fail "the replica without its KDB file did not start"
grep -q "rebuilds it from its store" "$T/rnodb.log" || fail "the replica's log does not say it rebuilds"
stop rnodb

# a running node rejects a reload that names a bad file, and runs on
cp "$T/good.conf" "$T/live.conf"
start primary "$T/live.conf"
wait_for 15 "$KDCSYNC" -c "$T/live.conf" status || fail "the good configuration did not start"
sed -i "s|signing_key = .*|signing_key = $T/open.key|" "$T/live.conf"
kill -HUP "${PIDS[primary]}"
wait_for 10 grep -q "reload rejected.*\[node\] signing_key: private key '$T/open.key'" "$T/primary.log" ||
	fail "the reload with a world-readable key was not rejected"
alive primary || fail "the node died on the rejected reload"

# a reload to a KDC profile whose KDB cannot be opened is refused with the
# line `kdcsyncd -t` gives (checked off the loop, as at start-up), and the
# running configuration stays: status says it was refused and why
reload_kdb_bad() { # NAME: live.conf gets NAME.conf's kdc_profile
	local name=$1 before line
	before=$(grep -c "reload rejected" "$T/primary.log" || true)
	sed "s|signing_key = .*|signing_key = $T/signing.key|" "$T/$name.conf" >"$T/live.conf"
	kill -HUP "${PIDS[primary]}"
	wait_for 10 bash -c "[ \$(grep -c 'reload rejected' $T/primary.log) -gt $before ]" ||
		fail "$name: the reload was not rejected"
	# the same line, naming the file reloaded
	line=$(sed -e "s/^kdcsyncd: //" -e "s|^$T/$name.conf:|$T/live.conf:|" "$T/$2.line")
	grep "reload rejected" "$T/primary.log" | tail -1 | grep -qF "keeping the running configuration: $line" ||
		fail "$name: the reload's reason is not -t's line '$line': $(grep 'reload rejected' "$T/primary.log" | tail -1)"
	"$KDCSYNC" -c "$T/live.conf" status --json >"$T/st.json" 2>/dev/null || fail "$name: no status"
	python3 - "$T/st.json" "$line" <<'PY' || fail "$name: status after the refused reload: $(cat "$T/st.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["role"] == "primary", s["role"]
assert s["reloads"] == 0, s["reloads"]
assert s["last_reload_error"] == sys.argv[2], s["last_reload_error"]
PY
	"$KDCSYNC" -c "$T/live.conf" status 2>/dev/null | grep -qF "REJECTED: $line" ||
		fail "$name: the text status does not show the refusal"
	alive primary || fail "$name: the node died on the refused reload"
	echo "$name reload refused: $line"
}
reload_kdb_bad nodb missing_db
reload_kdb_bad nostash missing_stash
# the node runs on with its own KDB: a good file is still taken
cp "$T/good.conf" "$T/live.conf"
kill -HUP "${PIDS[primary]}"
wait_for 10 bash -c "[ \"\$(\"$KDCSYNC\" -c $T/live.conf status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s[\"reloads\"], s[\"last_reload_error\"])')\" = '1 None' ]" ||
	fail "the good configuration was not reloaded after the refusals"
"$KDCSYNC" -c "$T/live.conf" snapshot >/dev/null || fail "the node cannot scan its KDB after the refused reloads"
stop primary
echo "strict start-up: ok"
