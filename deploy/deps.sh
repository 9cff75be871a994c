#!/usr/bin/env bash
# Installs, when missing, exactly the Debian 12 packages kdcsync needs to build,
# test and run its loopback demo. Idempotent; run as root. Used by tests/run.sh and
# the demo; nothing else calls apt-get.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake ninja-build pkg-config clang clang-format
	# clang's sanitizer and libFuzzer runtimes (fuzz build)
	libclang-rt-dev
	# manual pages (deploy/man/*.scd) and their check
	scdoc man-db groff-base
	# libraries
	libuv1-dev liblmdb-dev libssl-dev libzstd-dev libcmocka-dev
	libkrb5-dev krb5-multidev
	# sd_notify (systemd readiness, watchdog)
	libsystemd-dev
	# the [metrics] HTTP endpoint
	libmicrohttpd-dev
	# MIT Kerberos tools used by tests, the demo and kprop compatibility
	krb5-kdc krb5-admin-server krb5-kpropd krb5-user
	# lmdb utilities, openssl CLI for the test CA, python3 and git for test scripts
	lmdb-utils openssl python3 git
	# the fail-over test: keepalived (VRRP) in network namespaces (ip)
	keepalived iproute2
	# the fault suite: veth links and packet loss rules in namespaces
	nftables
	# promtool (check metrics / rules in tests/integration/repl_metrics.sh);
	# ~19 MB download, ~100 MB installed with its web assets
	prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The krb5 server packages ask debconf questions and try to start system services;
# policy-rc.d keeps them from starting anything on this host during the install.
cleanup_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	cleanup_policy=1
fi
rc=0
apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
if [ $cleanup_policy -eq 1 ]; then
	rm -f /usr/sbin/policy-rc.d
fi
exit $rc
