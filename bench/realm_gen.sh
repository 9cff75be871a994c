# SPDX-License-Identifier: MIT
# Shared by the scale benchmarks (source with "."; needs realm.sh sourced,
# SRC, REALM and MASTER_PW set): a realistic generated realm dump.

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
