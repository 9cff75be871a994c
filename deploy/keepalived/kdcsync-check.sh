#!/bin/sh
# SPDX-License-Identifier: MIT
#
# keepalived vrrp_script for a KDC host running kdcsync: succeeds only while
# both krb5kdc and kdcsyncd run (krb5kdc by its pid file, kdcsyncd by its
# control socket answering `kdcsync status`).  When it fails, keepalived
# puts the instance in FAULT and gives the virtual IP up.
#
# Usage: kdcsync-check.sh NODE_CONF KRB5KDC_PIDFILE [KDCSYNC]
#   NODE_CONF        the node's kdcsync configuration
#   KRB5KDC_PIDFILE  where krb5kdc writes its pid (krb5kdc -P FILE)
#   KDCSYNC          the kdcsync binary (default: kdcsync from PATH)
set -u
conf=${1:?usage: kdcsync-check.sh NODE_CONF KRB5KDC_PIDFILE [KDCSYNC]}
pidfile=${2:?usage: kdcsync-check.sh NODE_CONF KRB5KDC_PIDFILE [KDCSYNC]}
kdcsync=${3:-kdcsync}

pid=$(cat "$pidfile" 2>/dev/null) || exit 1
[ -n "$pid" ] || exit 1
kill -0 "$pid" 2>/dev/null || exit 1
"$kdcsync" -c "$conf" status >/dev/null 2>&1 || exit 1
exit 0
