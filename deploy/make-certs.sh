#!/bin/sh
# SPDX-License-Identifier: MIT
#
# make-certs.sh: a small throw-away CA and node certificates for kdcsync
# TESTS AND DEMOS.
#
#   NOT FOR PRODUCTION.  The CA key sits unencrypted next to the
#   certificates, nothing is revocable, and there is no policy.  In
#   production issue node certificates from your organisation's CA (each
#   certificate's subjectAltName must carry the node's [node] name).
#
# Usage: make-certs.sh DIR NAME [NAME...]
#   DIR/ca.crt, DIR/ca.key        the CA (created once, reused if present)
#   DIR/NAME.crt, DIR/NAME.key    one certificate per node, for NAME as
#                                 subjectAltName DNS and CN, usable as TLS
#                                 client and server
# Keys are EC P-256 and created mode 0600.  Environment: DAYS (default 365).
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 DIR NAME [NAME...]  (test/demo certificates only)" >&2
	exit 1
fi
dir=$1
shift
days=${DAYS:-365}
umask 077
mkdir -p "$dir"

if [ ! -f "$dir/ca.key" ]; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$dir/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" \
		-subj "/CN=kdcsync test CA (not for production)" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$dir/ca.crt"
	chmod 0644 "$dir/ca.crt"
fi

for name in "$@"; do
	case $name in
	*[!A-Za-z0-9._-]* | "" | -*)
		echo "$0: '$name' is not a valid node name" >&2
		exit 1
		;;
	esac
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$dir/$name.key" 2>/dev/null
	chmod 0600 "$dir/$name.key"
	ext=$(mktemp)
	printf '%s\n' \
		"basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth,clientAuth" \
		"subjectAltName=DNS:$name" >"$ext"
	openssl req -new -key "$dir/$name.key" -subj "/CN=$name" |
		openssl x509 -req -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
			-CAcreateserial -sha256 -days "$days" -extfile "$ext" \
			-out "$dir/$name.crt" 2>/dev/null
	rm -f "$ext"
	chmod 0644 "$dir/$name.crt"
	echo "$dir/$name.crt $dir/$name.key"
done
