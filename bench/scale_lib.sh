# SPDX-License-Identifier: MIT
# Shared by the scale benchmarks (source with "."; needs realm.sh sourced,
# SRC, REALM, MASTER_PW and W set): a realistic generated realm dump, and
# the anonymous memory of a deploy/pair.sh pair in $W/pair.

# gen_realm_dump DIR N OUT: a template realm in DIR (one user and one
# service principal, the shapes bench/gen_realm.py copies), then N
# generated principals written to OUT as a loadable dump.
gen_realm_dump() {
	local dir=$1 n=$2 out=$3
	realm_init "$dir" "$REALM" "$MASTER_PW"
	(realm_env "$dir" &&
		kadmin.local -r "$REALM" -q "addprinc -randkey -e aes256-cts-hmac-sha1-96:normal,aes128-cts-hmac-sha1-96:normal +requires_preauth gen-tmpl-user" &&
		kadmin.local -r "$REALM" -q "addprinc -randkey -e aes256-cts-hmac-sha384-192:normal,aes128-cts-hmac-sha256-128:normal,aes256-cts-hmac-sha1-96:normal gen-tmpl-svc" &&
		kdb5_util -r "$REALM" dump "$dir.dump") >/dev/null 2>&1
	python3 "$SRC/bench/gen_realm.py" "$dir.dump" "$out" "$n"
}

# realistic_pair_up DIR N [pair.sh up options...]: deploy/pair.sh up DIR
# with N generated principals (own random keys, varied names) loaded into
# the primary before its node starts.  `pair.sh -n` repeats one principal's
# keys, which compresses about 35x better than a real realm: benchmarks use
# this instead.
realistic_pair_up() {
	local dir=$1 n=$2
	shift 2
	rm -rf "$W/tmpl" "$W/tmpl.dump" "$W/gen.dump"
	gen_realm_dump "$W/tmpl" "$n" "$W/gen.dump"
	"$SRC/deploy/pair.sh" up "$dir" --load "$W/gen.dump" "$@"
}

# node_pid primary|replica (from the pair's pid file; empty before it exists)
node_pid() { sed -n "s/^node-$1 //p" "$W/pair/pids" 2>/dev/null || true; }

# rss_sampler OUT: peak RssAnon (kB) per role, every 0.1 s, until OUT.stop
rss_sampler() {
	local out=$1 role pid kb
	declare -A peak=([primary]=0 [replica]=0)
	while [ ! -e "$out.stop" ]; do
		for role in primary replica; do
			pid=$(node_pid "$role")
			[ -n "$pid" ] || continue
			kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
			[ -n "$kb" ] && [ "$kb" -gt "${peak[$role]}" ] && peak[$role]=$kb
		done
		sleep 0.1
	done
	echo "${peak[primary]} ${peak[replica]}" >"$out"
}
