#!/bin/bash
# Which way SYN-ACKs leave (daemon.synack_layer2): by default on the device
# the SYN came in on, to the MAC it came from, past the host's OUTPUT rules;
# with synack_layer2 = false, routed like any packet the host sends, so
# through OUTPUT. An OUTPUT rule on the server counts SYN-ACKs; clients must
# connect either way, over IPv4 and IPv6.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgclient

N=4
lab_up || t_fail "lab up"
t_backend source --listen 127.0.0.1:8080 source 1000
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"

# SYN-ACKs from port 80 that the OUTPUT counting rules saw, both families
output_synacks() {
	local ipt n=0
	for ipt in iptables ip6tables; do
		n=$((n + $(lab_exec server $ipt -nvxL OUTPUT | awk '/spt:80/ {s += $1} END {print s + 0}')))
	done
	echo $n
}

# run LAYER2 MIN MAX: N fetches per family; OUTPUT must see MIN..MAX SYN-ACKs
run() {
	local ipt target i seen
	T_DAEMON_EXTRA="synack_layer2 = $1;" t_config "$(t_listener p4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener p6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
	t_start_daemon
	for ipt in iptables ip6tables; do
		lab_exec server $ipt -F OUTPUT
		lab_exec server $ipt -A OUTPUT -p tcp --sport 80 --tcp-flags SYN,ACK SYN,ACK
	done
	for target in "$LAB_SERVER4" "$LAB_SERVER6"; do
		for i in $(seq $N); do
			t_client --timeout 5 "$target" 80 source 1000 >"$T_DIR/client.out" 2>&1 ||
				t_fail "synack_layer2 = $1: fetch $i of $target: $(cat "$T_DIR/client.out")"
		done
	done
	t_expect "synack_layer2 = $1: SYN-ACKs sent" "$(t_stat total.synack_sent)" -ge $((2 * N))
	t_expect "synack_layer2 = $1: handoffs" "$(t_stat total.handoffs)" = $((2 * N))
	seen=$(output_synacks)
	t_expect "synack_layer2 = $1: SYN-ACKs through OUTPUT" "$seen" -ge "$2"
	t_expect "synack_layer2 = $1: SYN-ACKs through OUTPUT" "$seen" -le "$3"
	t_stop_daemon
}

run true 0 0
run false $((2 * N)) 1000
t_ok "done"
