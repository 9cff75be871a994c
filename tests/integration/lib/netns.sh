# SPDX-License-Identifier: MIT
# shellcheck disable=SC2034 # NETNS_WHY is read by the sourcing script
# Two network namespaces joined by a veth pair, and kernel-level faults on
# the link between them (source with ".").  Addresses are TEST-NET-1
# (192.0.2.0/24) and exist only inside these namespaces.
#
#   netns_up               create $NETNS_P (192.0.2.1) and $NETNS_R
#                          (192.0.2.2), lo up in both; returns 1 (with
#                          $NETNS_WHY) when this machine cannot
#   netns_down             remove both (their links and nft tables go with
#                          them); safe to call twice
#   netns_exec P|R CMD...  run CMD inside one namespace
#   fault_loss PCT         nftables: drop PCT % of packets both ways (numgen
#                          random) on the replica's side of the link
#   fault_asym PCT         the same, only replica -> primary
#   fault_partition        drop everything both ways, silently (no RST)
#   fault_clear            remove the nftables rules
#   fault_flap_start       the link goes down and up every second (in the
#                          background; pid in $FLAP_PID)
#   fault_flap_stop        stop flapping and leave the link up
#
# Needs: iproute2, nftables (deploy/deps.sh); root.

NETNS_P=ksp$$
NETNS_R=ksr$$
VETH_P=kvp$$
VETH_R=kvr$$
NETNS_ADDR_P=192.0.2.1
NETNS_ADDR_R=192.0.2.2
NETNS_MADE=0
FLAP_PID=
NETNS_WHY=

netns_up() {
	if [ "$(id -u)" -ne 0 ]; then
		NETNS_WHY="not root"
		return 1
	fi
	command -v ip >/dev/null || { NETNS_WHY="no ip (iproute2)"; return 1; }
	command -v nft >/dev/null || { NETNS_WHY="no nft (nftables)"; return 1; }
	if ! ip netns add "$NETNS_P" 2>"$T/netns.err"; then
		NETNS_WHY="ip netns add: $(cat "$T/netns.err")"
		return 1
	fi
	NETNS_MADE=1
	if ! {
		ip netns add "$NETNS_R" &&
			ip link add "$VETH_P" netns "$NETNS_P" type veth peer name "$VETH_R" netns "$NETNS_R" &&
			ip -n "$NETNS_P" addr add "$NETNS_ADDR_P/24" dev "$VETH_P" &&
			ip -n "$NETNS_R" addr add "$NETNS_ADDR_R/24" dev "$VETH_R" &&
			ip -n "$NETNS_P" link set lo up && ip -n "$NETNS_R" link set lo up &&
			ip -n "$NETNS_P" link set "$VETH_P" up && ip -n "$NETNS_R" link set "$VETH_R" up
	} 2>"$T/netns.err"; then
		NETNS_WHY="veth link: $(cat "$T/netns.err")"
		return 1
	fi
	# nftables must work inside a namespace (nf_tables in this kernel)
	if ! ip netns exec "$NETNS_R" nft add table inet kscheck 2>"$T/netns.err"; then
		NETNS_WHY="nftables: $(cat "$T/netns.err")"
		return 1
	fi
	ip netns exec "$NETNS_R" nft delete table inet kscheck
}

netns_down() {
	fault_flap_stop
	[ "$NETNS_MADE" = 1 ] || return 0
	ip netns exec "$NETNS_R" nft delete table inet ksfault 2>/dev/null || true
	ip netns del "$NETNS_R" 2>/dev/null || true
	ip netns del "$NETNS_P" 2>/dev/null || true
	NETNS_MADE=0
}

netns_exec() {
	local which=$1
	shift
	if [ "$which" = P ]; then
		ip netns exec "$NETNS_P" "$@"
	else
		ip netns exec "$NETNS_R" "$@"
	fi
}

# fault_rules IN OUT: nftables expressions (empty: no rule) for packets
# arriving at / leaving the replica's end of the link.
fault_rules() {
	fault_clear
	{
		echo "table inet ksfault {"
		echo "	chain in { type filter hook input priority 0; policy accept;"
		[ -z "$1" ] || echo "		iifname \"$VETH_R\" $1"
		echo "	}"
		echo "	chain out { type filter hook output priority 0; policy accept;"
		[ -z "$2" ] || echo "		oifname \"$VETH_R\" $2"
		echo "	}"
		echo "}"
	} | ip netns exec "$NETNS_R" nft -f -
}

fault_loss() {
	fault_rules "numgen random mod 100 < $1 drop" "numgen random mod 100 < $1 drop"
}

fault_asym() {
	fault_rules "" "numgen random mod 100 < $1 drop"
}

fault_partition() {
	fault_rules "drop" "drop"
}

fault_clear() {
	ip netns exec "$NETNS_R" nft delete table inet ksfault 2>/dev/null || true
}

fault_flap_start() {
	rm -f "$T/flap.stop"
	(
		while [ ! -e "$T/flap.stop" ]; do
			ip -n "$NETNS_R" link set "$VETH_R" down
			sleep 1
			ip -n "$NETNS_R" link set "$VETH_R" up
			sleep 1
		done
	) >/dev/null 2>&1 &
	FLAP_PID=$!
}

fault_flap_stop() {
	if [ -n "$FLAP_PID" ]; then
		: >"$T/flap.stop"
		wait "$FLAP_PID" 2>/dev/null || true
		FLAP_PID=
		ip -n "$NETNS_R" link set "$VETH_R" up 2>/dev/null || true
	fi
}
