#!/bin/bash
# synguard lab: three network namespaces on two links.
#
#   client  eth0 192.0.2.2/24    2001:db8::2/64   ---  cli0 192.0.2.1/24    2001:db8::1/64   server
#   attacker eth0 198.51.100.2/24 2001:db8:1::2/64 ---  att0 198.51.100.1/24 2001:db8:1::1/64  server
#
# The server routes the spoofed flood sources (198.18.0.0/15,
# 2001:db8:ffff::/48) to the attacker, so SYN-ACKs to them leave over att0
# and die there (the attacker does not forward). The attacker reaches
# 192.0.2.0/24 and 2001:db8::/64 through the server. Each veth is created
# straight inside its namespaces: nothing is added to the calling namespace.
# The client's and the attacker's devices send full checksums, as a real NIC
# delivers them (ethtool -K eth0 tx off): with checksum offload on, a veth
# hands the server CHECKSUM_PARTIAL packets whose TCP checksum field holds
# only the pseudo-header sum, which a TC or XDP program on the server reads
# as a wrong checksum. ethtool is required (tests/deps.sh installs it).
#
# XDP on the server (datapath "xdp"): a veth delivers the frames an XDP
# program sends back (XDP_TX) only to a peer in NAPI mode, which an XDP
# program of its own turns on (turning GRO on did not suffice on this
# kernel); without it they are dropped, counted nowhere visible.
# SGLAB_XDP_PEERS=1 (or `lab.sh up --xdp-peers`, or lab_xdp_peers after
# lab_up) attaches an XDP_PASS program (sgxdppass, built with the BPF parts;
# SGLAB_XDPPASS names it, default build/tests/lab/sgxdppass) to the client's
# and the attacker's eth0. NAPI mode costs the peers some latency under load
# (see the README's performance section).
#
# Use as a command:
#   lab.sh up [--xdp-peers] | down | exec NODE CMD... | status   (NODE: client, attacker, server)
# or source it (bash) and call lab_up, lab_down, lab_exec, lab_bg, lab_cleanup, ...
#
# SGLAB_PREFIX (default "sglab") prefixes the namespace names, so several labs
# (a developer's, a test's) can exist at once.

SGLAB_PREFIX=${SGLAB_PREFIX:-sglab}

LAB_SERVER4=192.0.2.1
LAB_CLIENT4=192.0.2.2
LAB_SERVER6=2001:db8::1
LAB_CLIENT6=2001:db8::2
LAB_SERVER_ATT4=198.51.100.1
LAB_ATTACKER4=198.51.100.2
LAB_SERVER_ATT6=2001:db8:1::1
LAB_ATTACKER6=2001:db8:1::2
LAB_SPOOF4=198.18.0.0/15
LAB_SPOOF6=2001:db8:ffff::/48
# Fixed, locally administered MACs: a flood generator needs no ARP lookup.
LAB_MAC_SERVER_CLI=02:5a:00:00:00:01
LAB_MAC_CLIENT=02:5a:00:00:00:02
LAB_MAC_SERVER_ATT=02:5a:00:00:01:01
LAB_MAC_ATTACKER=02:5a:00:00:01:02

LAB_NODES="client attacker server"
LAB_PIDS=()

lab_ns() {
	echo "${SGLAB_PREFIX}-$1"
}

lab_exec() {
	local node=$1
	shift
	ip netns exec "$(lab_ns "$node")" "$@"
}

lab_sysctl() {
	lab_exec "$1" sysctl -q -w "$2" >/dev/null
}

# Everything goes, whatever state a crash left: processes still inside our
# namespaces, then the namespaces (their veths and firewall rules go with them).
# Safe under `set -e`: nothing here fails.
lab_down() {
	local node ns pids
	for node in $LAB_NODES; do
		ns=$(lab_ns "$node")
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null || true
			sleep 0.2
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			# shellcheck disable=SC2086
			if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
	return 0
}

# Runs one set-up step; on failure says which and returns 1.
_lab_step() {
	"$@" || {
		echo "lab: failed: $*" >&2
		return 1
	}
}

_lab_node_base() {
	local node=$1
	_lab_step ip netns add "$(lab_ns "$node")" &&
		_lab_step lab_exec "$node" ip link set lo up &&
		# addresses must be usable at once: no duplicate address detection
		_lab_step lab_sysctl "$node" net.ipv6.conf.all.accept_dad=0 &&
		_lab_step lab_sysctl "$node" net.ipv6.conf.default.accept_dad=0 &&
		_lab_step lab_sysctl "$node" net.ipv6.conf.default.accept_ra=0 &&
		# nobody forwards: SYN-ACKs to spoofed sources end at the attacker
		_lab_step lab_sysctl "$node" net.ipv4.ip_forward=0 &&
		_lab_step lab_sysctl "$node" net.ipv6.conf.all.forwarding=0
}

_lab_links() {
	local c a s
	c=$(lab_ns client)
	a=$(lab_ns attacker)
	s=$(lab_ns server)
	_lab_step ip -n "$s" link add cli0 address $LAB_MAC_SERVER_CLI type veth \
		peer name eth0 address $LAB_MAC_CLIENT netns "$c" &&
		_lab_step ip -n "$s" link add att0 address $LAB_MAC_SERVER_ATT type veth \
			peer name eth0 address $LAB_MAC_ATTACKER netns "$a" &&
		_lab_step ip -n "$s" addr add $LAB_SERVER4/24 dev cli0 &&
		_lab_step ip -n "$s" addr add $LAB_SERVER6/64 dev cli0 nodad &&
		_lab_step ip -n "$s" addr add $LAB_SERVER_ATT4/24 dev att0 &&
		_lab_step ip -n "$s" addr add $LAB_SERVER_ATT6/64 dev att0 nodad &&
		_lab_step ip -n "$c" addr add $LAB_CLIENT4/24 dev eth0 &&
		_lab_step ip -n "$c" addr add $LAB_CLIENT6/64 dev eth0 nodad &&
		_lab_step ip -n "$a" addr add $LAB_ATTACKER4/24 dev eth0 &&
		_lab_step ip -n "$a" addr add $LAB_ATTACKER6/64 dev eth0 nodad &&
		_lab_step ip -n "$s" link set cli0 up &&
		_lab_step ip -n "$s" link set att0 up &&
		_lab_step ip -n "$c" link set eth0 up &&
		_lab_step ip -n "$a" link set eth0 up &&
		_lab_step lab_full_csum client eth0 &&
		_lab_step lab_full_csum attacker eth0 &&
		_lab_step ip -n "$s" route add $LAB_SPOOF4 via $LAB_ATTACKER4 &&
		_lab_step ip -n "$s" -6 route add $LAB_SPOOF6 via $LAB_ATTACKER6 &&
		_lab_step ip -n "$a" route add 192.0.2.0/24 via $LAB_SERVER_ATT4 &&
		_lab_step ip -n "$a" -6 route add 2001:db8::/64 via $LAB_SERVER_ATT6 &&
		_lab_step ip -n "$c" route add 198.51.100.0/24 via $LAB_SERVER4 &&
		_lab_step ip -n "$c" -6 route add 2001:db8:1::/64 via $LAB_SERVER6
}

# lab_full_csum NODE DEV: DEV computes every checksum itself (no TX checksum
# offload, hence no TSO either: segmentation falls back to GSO in software).
lab_full_csum() {
	lab_exec "$1" ethtool -K "$2" tx off >/dev/null &&
		lab_exec "$1" ethtool -k "$2" | grep -q '^tx-checksumming: off'
}

# lab_xdp_peers: the client's and the attacker's veths in NAPI mode (an XDP_PASS
# program), so that SYN-ACKs an XDP program on the server sends back with XDP_TX arrive.
lab_xdp_peers() {
	local node tool=${SGLAB_XDPPASS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/tests/lab/sgxdppass}
	[ -x "$tool" ] || {
		echo "lab: $tool is missing (built with the BPF parts; SGLAB_XDPPASS names it)" >&2
		return 1
	}
	for node in client attacker; do
		_lab_step lab_exec "$node" "$tool" eth0 || return 1
		lab_exec "$node" ip link show eth0 | grep -q 'prog/xdp' || {
			echo "lab: $node eth0: no XDP program attached" >&2
			return 1
		}
	done
}

# Ready when every link is up and no IPv6 address is still tentative.
_lab_ready() {
	local i node ready
	for i in $(seq 50); do
		ready=1
		for node in $LAB_NODES; do
			if lab_exec "$node" ip -br link show | awk '$1 != "lo" && $2 != "UP"' | grep -q . ||
				lab_exec "$node" ip -6 addr show tentative | grep -q .; then
				ready=0
			fi
		done
		[ $ready = 1 ] && return 0
		sleep 0.1
	done
	echo "lab: links did not come up" >&2
	lab_status >&2
	return 1
}

lab_up() {
	local node
	lab_down
	command -v ethtool >/dev/null || {
		echo "lab: ethtool is missing (tests/deps.sh installs it)" >&2
		return 1
	}
	for node in $LAB_NODES; do
		_lab_node_base "$node" || { lab_down; return 1; }
	done
	_lab_links || { lab_down; return 1; }
	if [ "${SGLAB_XDP_PEERS:-0}" = 1 ]; then
		lab_xdp_peers || { lab_down; return 1; }
	fi
	_lab_ready || { lab_down; return 1; }
	return 0
}

# lab_lock: holds, for the calling shell's lifetime, a lock on this prefix's
# namespaces. Two runs with one prefix would tear down each other's lab (and
# measure each other's floods): the second one stops here and says why.
lab_lock() {
	local f=/run/lock/sglab-$SGLAB_PREFIX.lock
	mkdir -p /run/lock 2>/dev/null
	exec {LAB_LOCK_FD}>"$f" || return 1
	flock -n "$LAB_LOCK_FD" || {
		echo "lab: another run is using the namespaces $SGLAB_PREFIX-* ($f);" \
			"wait for it, or set SGLAB_PREFIX to run beside it" >&2
		return 1
	}
}

lab_status() {
	local node
	for node in $LAB_NODES; do
		echo "== $(lab_ns "$node")"
		lab_exec "$node" ip -br addr 2>/dev/null || echo "  (absent)"
	done
}

# lab_bg NODE LOG CMD...: starts CMD in NODE's namespace in the background,
# output to LOG; its pid is remembered for lab_cleanup and printed in LAB_LAST_PID.
lab_bg() {
	local node=$1 log=$2
	shift 2
	ip netns exec "$(lab_ns "$node")" "$@" >"$log" 2>&1 &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# Stops what lab_bg started (TERM, then KILL after a grace period). Never fails.
lab_stop_bg() {
	local pid i alive
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for i in $(seq 50); do
		alive=0
		for pid in "${LAB_PIDS[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${LAB_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	LAB_PIDS=()
	return 0
}

lab_cleanup() {
	lab_stop_bg
	lab_down
	return 0
}

# lab_wait_tcp NODE ADDR PORT [SECONDS]: until something listens there.
lab_wait_tcp() {
	local node=$1 addr=$2 port=$3 secs=${4:-10} i
	for i in $(seq $((secs * 10))); do
		if lab_exec "$node" ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	echo "lab: nothing listens on $addr:$port in $node after ${secs}s" >&2
	return 1
}

# lab_wait_path PATH [SECONDS]: until a file or socket exists.
lab_wait_path() {
	local path=$1 secs=${2:-10} i
	for i in $(seq $((secs * 10))); do
		[ -e "$path" ] && return 0
		sleep 0.1
	done
	echo "lab: $path did not appear after ${secs}s" >&2
	return 1
}

# lab_json_get KEY.PATH < JSON: prints one value of a JSON document
# (e.g. total.ack_invalid, listeners.web4.handoffs).
lab_json_get() {
	/usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	cmd=${1:-}
	case "$cmd" in
	up)
		[ "${2:-}" = --xdp-peers ] && SGLAB_XDP_PEERS=1
		lab_up && lab_status ;;
	down)
		lab_down ;;
	status)
		lab_status ;;
	exec)
		[ $# -ge 3 ] || { echo "usage: lab.sh exec NODE CMD..." >&2; exit 2; }
		shift
		node=$1
		shift
		case " $LAB_NODES " in *" $node "*) ;; *)
			echo "lab: unknown node $node (one of: $LAB_NODES)" >&2; exit 2 ;;
		esac
		lab_exec "$node" "$@" ;;
	*)
		echo "usage: lab.sh up [--xdp-peers]|down|status|exec NODE CMD...   (SGLAB_PREFIX=$SGLAB_PREFIX)" >&2
		exit 2 ;;
	esac
fi
