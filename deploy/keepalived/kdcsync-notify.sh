#!/bin/sh
# SPDX-License-Identifier: MIT
#
# keepalived notify script for a KDC host running kdcsync: the VRRP state
# decides the replication role.
#   master  `kdcsync promote`: this node becomes the primary at once (new
#           history continuing the old one: replicas resume incrementally)
#   backup  `kdcsync follow PEER`: this node follows the other one; changes
#           it made that the other never had are rewound into
#           STATE_DIR/diverged-*.dump
#   fault   nothing (the check script failed: krb5kdc or kdcsyncd is down)
# A node already in the wanted role is left alone.
#
# Usage: kdcsync-notify.sh master|backup|fault NODE_CONF PEER [KDCSYNC]
#   PEER     the other node's [peers] name in NODE_CONF
#   KDCSYNC  the kdcsync binary (default: kdcsync from PATH)
set -u
usage="usage: kdcsync-notify.sh master|backup|fault NODE_CONF PEER [KDCSYNC]"
state=${1:?$usage}
conf=${2:?$usage}
peer=${3:?$usage}
kdcsync=${4:-kdcsync}

say() {
	if command -v logger >/dev/null 2>&1; then
		logger -t kdcsync-notify -- "$*"
	fi
	echo "kdcsync-notify: $*" >&2
}

case $state in
master)
	if out=$("$kdcsync" -c "$conf" promote 2>&1); then
		say "MASTER: promoted: $(echo "$out" | head -n 1)"
	else
		case $out in
		*"already the primary"*) say "MASTER: already the primary" ;;
		*) say "MASTER: promote failed: $out"; exit 1 ;;
		esac
	fi
	;;
backup)
	if out=$("$kdcsync" -c "$conf" follow "$peer" 2>&1); then
		say "BACKUP: $(echo "$out" | head -n 1)"
	else
		case $out in
		*"already following"*) say "BACKUP: already following '$peer'" ;;
		*) say "BACKUP: follow '$peer' failed: $out"; exit 1 ;;
		esac
	fi
	;;
fault | stop)
	say "${state}: krb5kdc or kdcsyncd is not running here"
	;;
*)
	say "unknown state '$state'"
	exit 1
	;;
esac
exit 0
