#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# package.sh: build kdcsync_<version>_<arch>.deb on Debian 12.
#
#   deploy/package.sh [-o OUTDIR] [--check]
#
# Installs its own build dependencies when missing (as root), builds a
# release tree (cmake + ninja, tests and benchmarks off) in
# OUTDIR/build-package, installs it into a staging root with DESTDIR and
# adds the Debian parts:
#   /usr/sbin/kdcsyncd, /usr/sbin/kdcsync       the programs
#   the capture module                          wherever bridge/ installs it
#                                               (krb5's plugin directory)
#   /lib/systemd/system/kdcsyncd.service        the unit (not enabled, not
#                                               started: no maintainer
#                                               scripts touch services)
#   /usr/share/man/man5, man8                   the manual pages
#   /usr/share/doc/kdcsync/                     README, copyright, changelog,
#     examples/                                 sample configurations,
#                                               make-certs.sh, prometheus/
# Depends comes from the shared libraries the binaries link (dpkg-shlibdeps).
# Then lintian checks the package (any error fails the script).
# --check also installs the package with `apt-get install ./FILE.deb`, runs
# `kdcsyncd -t` on a sample configuration with a throw-away test CA and
# realm (kdb5_util, as deploy/lib/realm.sh makes one), checks
# the unit with systemd-analyze, and removes the package again.
# Prints the path of the .deb on success.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/build
CHECK=0
while [ $# -gt 0 ]; do
	case $1 in
	-o) OUT=$2; shift 2 ;;
	--check) CHECK=1; shift ;;
	*) echo "usage: package.sh [-o OUTDIR] [--check]" >&2; exit 1 ;;
	esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

die() {
	echo "package.sh: $*" >&2
	exit 1
}

BUILD_DEPS=(build-essential cmake ninja-build pkg-config dpkg-dev lintian
	libuv1-dev liblmdb-dev libssl-dev libzstd-dev libkrb5-dev krb5-multidev
	libsystemd-dev libmicrohttpd-dev scdoc)
missing=()
for p in "${BUILD_DEPS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing build packages: ${missing[*]}; run as root"
	echo "package.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

VERSION=$(sed -n 's/^project(kdcsync VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$VERSION" ] || die "no version in CMakeLists.txt"
ARCH=$(dpkg --print-architecture)
B=$OUT/build-package
ROOT=$OUT/package-root
DEB=$OUT/kdcsync_${VERSION}_${ARCH}.deb

echo "package.sh: building kdcsync $VERSION ($ARCH) in $B" >&2
# Debian's hardening flags (fortify, stack protector, relro, bindnow)
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
eval "$(dpkg-buildflags --export=sh)"
cmake -S "$SRC" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS="$CFLAGS $CPPFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" \
	-DCMAKE_SHARED_LINKER_FLAGS="$LDFLAGS" -DCMAKE_MODULE_LINKER_FLAGS="$LDFLAGS" \
	-DCMAKE_INSTALL_PREFIX=/usr -DKS_BUILD_TESTS=OFF -DKS_BUILD_BENCH=OFF \
	>"$OUT/package-configure.log" 2>&1 ||
	{ cat "$OUT/package-configure.log" >&2; die "cmake failed"; }
ninja -C "$B" >"$OUT/package-build.log" 2>&1 ||
	{ tail -n 40 "$OUT/package-build.log" >&2; die "build failed"; }
rm -rf "$ROOT"
DESTDIR=$ROOT cmake --install "$B" >"$OUT/package-install.log" 2>&1 ||
	{ cat "$OUT/package-install.log" >&2; die "install failed"; }

# Debian policy: stripped binaries (debug info would go in a -dbgsym
# package), man pages and changelog gzipped -9n, files 0644, dirs 0755.
find "$ROOT" -type f \( -name '*.so' -o -path '*/sbin/*' \) -exec \
	strip --strip-unneeded --remove-section=.comment --remove-section=.note {} +
find "$ROOT/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
install -D -m 0644 "$SRC/deploy/kdcsyncd.service" \
	"$ROOT/lib/systemd/system/kdcsyncd.service"
DOC=$ROOT/usr/share/doc/kdcsync
install -d "$DOC/examples/prometheus"
install -m 0644 "$SRC/README.md" "$DOC/README.md"
install -m 0644 "$SRC/deploy/kdcsync.conf.sample" "$SRC/deploy/primary.conf.sample" \
	"$SRC/deploy/replica.conf.sample" "$DOC/examples/"
install -m 0755 "$SRC/deploy/make-certs.sh" "$DOC/examples/make-certs.sh"
install -m 0644 "$SRC/deploy/prometheus/kdcsync.rules.yml" "$DOC/examples/prometheus/"
cat >"$DOC/copyright" <<EOT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: kdcsync
Source: https://github.com/kdcsync/kdcsync

Files: *
Copyright: 2026 the kdcsync authors
License: MIT

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.
EOT
DATE=$(git -C "$SRC" log -1 --format=%aD 2>/dev/null || date -R)
COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'kdcsync (%s) unstable; urgency=medium\n\n  * Built from commit %s by deploy/package.sh.\n\n -- kdcsync maintainers <kdcsync@example.org>  %s\n' \
	"$VERSION" "$COMMIT" "$DATE" | gzip -9n >"$DOC/changelog.gz"
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -type f ! -path '*/sbin/*' ! -name '*.sh' -exec chmod 0644 {} +

# Depends: from the ELF files' shared libraries (needs a debian/control).
W=$OUT/package-shlibs
rm -rf "$W"
mkdir -p "$W/debian"
printf 'Source: kdcsync\n\nPackage: kdcsync\nArchitecture: any\n' >"$W/debian/control"
mapfile -t elves < <(find "$ROOT" -type f -exec sh -c 'head -c 4 "$1" | grep -q "ELF" && echo "$1"' _ {} \;)
[ ${#elves[@]} -gt 0 ] || die "no binaries staged"
DEPENDS=$(cd "$W" && dpkg-shlibdeps -O "${elves[@]}" 2>"$OUT/package-shlibdeps.log" |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { cat "$OUT/package-shlibdeps.log" >&2; die "dpkg-shlibdeps found no dependencies"; }
rm -rf "$W"

SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
install -d "$ROOT/DEBIAN"
cat >"$ROOT/DEBIAN/control" <<EOT
Package: kdcsync
Version: $VERSION
Architecture: $ARCH
Maintainer: kdcsync maintainers <kdcsync@example.org>
Installed-Size: $SIZE
Depends: $DEPENDS
Recommends: krb5-kdc
Suggests: krb5-admin-server, prometheus
Section: net
Priority: optional
Homepage: https://github.com/kdcsync/kdcsync
Description: replication of MIT Kerberos KDC databases
 kdcsync replicates the Kerberos database of an MIT krb5 KDC to its backup
 KDCs within milliseconds: a capture module reports every committed write,
 the primary's node streams signed, compressed delta batches over mutual
 TLS, and each replica's node applies them to its KDB. It stays compatible
 with MIT kprop and kpropd in both directions.
 .
 This package holds the node daemon kdcsyncd, the operator tool kdcsync,
 the capture module, a systemd unit (installed, neither enabled nor
 started), manual pages and sample configurations.
EOT
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/md5sums"
rm -f "$DEB"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null

echo "package.sh: lintian" >&2
lintian --fail-on error --info "$DEB" >"$OUT/package-lintian.txt" 2>&1 ||
	{ cat "$OUT/package-lintian.txt" >&2; die "lintian reports errors"; }
cat "$OUT/package-lintian.txt" >&2

if [ $CHECK -eq 1 ]; then
	[ "$(id -u)" -eq 0 ] || die "--check installs the package: run as root"
	echo "package.sh: installing $DEB" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "$DEB" >"$OUT/package-apt.log" 2>&1 ||
		{ cat "$OUT/package-apt.log" >&2; die "apt-get install failed"; }
	T=$(mktemp -d)
	trap 'rm -rf "$T"; apt-get remove -y -q kdcsync >/dev/null 2>&1 || true' EXIT
	EX=/usr/share/doc/kdcsync/examples
	"$EX/make-certs.sh" "$T/tls" kdc1.example.com kdc2.example.com >/dev/null
	# a throw-away realm: -t opens the KDB the kdc_profile names
	# shellcheck source=lib/realm.sh
	. "$SRC/deploy/lib/realm.sh"
	realm_write_conf "$T/realm" CHECK.TEST 8888
	realm_create "$T/realm" CHECK.TEST check-master-password || die "kdb5_util create failed"
	sed -e "s|/etc/kdcsync/tls|$T/tls|g" -e "s|/var/lib/kdcsync|$T/state|" \
		-e "s|kdc_profile = /etc/krb5kdc/kdc.conf|kdc_profile = $T/realm/kdc.conf|" \
		"$EX/primary.conf.sample" >"$T/kdcsync.conf"
	KRB5_CONFIG=$T/realm/krb5.conf /usr/sbin/kdcsyncd -c "$T/kdcsync.conf" -t ||
		die "kdcsyncd -t failed on the sample"
	/usr/sbin/kdcsync --help >/dev/null || die "kdcsync --help failed"
	man -w kdcsync.conf >/dev/null || die "kdcsync.conf(5) not found by man"
	systemctl is-enabled kdcsyncd >/dev/null 2>&1 && die "the unit was enabled on install"
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify /lib/systemd/system/kdcsyncd.service ||
			die "systemd-analyze verify failed on the installed unit"
	fi
	echo "package.sh: installed, kdcsyncd -t passed, removed again" >&2
fi
echo "$DEB"
