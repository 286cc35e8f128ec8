#!/bin/bash
# The packet path in detail: the exact firewall rules (single queue and
# fail-closed, then balanced queues and fail-open), real downloads through
# cookie handshakes and TCP_REPAIR sockets for every client combination of
# timestamps, SACK and window scaling over IPv4, IPv6 and a wildcard IPv6
# listener, the repaired socket's negotiated MSS and window scales, no PAWS
# drop at the client (our timestamps continue from the SYN-ACK's), several
# queue threads sharing the load, and nothing left behind at exit.
. "$(dirname "$0")/lib.sh" "$@"
t_need curl ss nstat cmp
SGLAB_PREFIX=h4t-pp

lab_up || t_fail "lab up"

mkdir -p "$T_DIR/www"
head -c 400000 /dev/urandom >"$T_DIR/www/blob"
lab_bg server "$T_DIR/backend.log" $PY -m http.server --bind 127.0.0.1 --directory "$T_DIR/www" 8080
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"

# conf QUEUES FAIL_OPEN
conf() {
	cat >"$T_CONF" <<EOF
daemon: {
	queue = "$1";
	firewall = "iptables";
	fail_open = $2;
	control_socket = "$T_SOCK";
	user = "root";
};
listeners = (
	$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
	$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080),
	$(t_listener any6 :: 81 proxy 127.0.0.1:8080)
);
EOF
}

rules() { # FAMILY-TOOL TABLE CHAIN
	lab_exec server "$1" -w -t "$2" -S "$3"
}

# ---- 1. one queue, fail-closed: the exact rules ----
conf 0 false
t_start_daemon

t_expect "filter INPUT jumps to SYNGUARD first" \
	"$(rules iptables filter INPUT | sed -n 2p)" = "-A INPUT -j SYNGUARD"
t_expect "raw PREROUTING jumps to SYNGUARD first" \
	"$(rules iptables raw PREROUTING | sed -n 2p)" = "-A PREROUTING -j SYNGUARD"
t_expect "raw OUTPUT jumps to SYNGUARD_OUT first" \
	"$(rules iptables raw OUTPUT | sed -n 2p)" = "-A OUTPUT -j SYNGUARD_OUT"
t_expect "ip6tables filter INPUT jumps to SYNGUARD first" \
	"$(rules ip6tables filter INPUT | sed -n 2p)" = "-A INPUT -j SYNGUARD"

want4="-N SYNGUARD
-A SYNGUARD -d 192.0.2.1/32 ! -i lo -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -j NFQUEUE --queue-num 0
-A SYNGUARD -d 192.0.2.1/32 ! -i lo -p tcp -m tcp --dport 80 -m socket --restore-skmark -m mark --mark 0x5347 -j ACCEPT
-A SYNGUARD -d 192.0.2.1/32 ! -i lo -p tcp -m tcp --dport 80 -m socket -j MARK --set-xmark 0x5348/0xffffffff
-A SYNGUARD -d 192.0.2.1/32 ! -i lo -p tcp -m tcp --dport 80 --tcp-flags SYN,RST,ACK ACK -j NFQUEUE --queue-num 0"
t_expect "IPv4 filter rules: SYN to the queue, sockets accepted, ACKs to the queue" \
	"$(rules iptables filter SYNGUARD)" = "$want4"
want6="-N SYNGUARD
-A SYNGUARD -d 2001:db8::1/128 ! -i lo -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -j NFQUEUE --queue-num 0
-A SYNGUARD -d 2001:db8::1/128 ! -i lo -p tcp -m tcp --dport 80 -m socket --restore-skmark -m mark --mark 0x5347 -j ACCEPT
-A SYNGUARD -d 2001:db8::1/128 ! -i lo -p tcp -m tcp --dport 80 -m socket -j MARK --set-xmark 0x5348/0xffffffff
-A SYNGUARD -d 2001:db8::1/128 ! -i lo -p tcp -m tcp --dport 80 --tcp-flags SYN,RST,ACK ACK -j NFQUEUE --queue-num 0
-A SYNGUARD ! -i lo -p tcp -m tcp --dport 81 --tcp-flags FIN,SYN,RST,ACK SYN -j NFQUEUE --queue-num 0
-A SYNGUARD ! -i lo -p tcp -m tcp --dport 81 -m socket --restore-skmark -m mark --mark 0x5347 -j ACCEPT
-A SYNGUARD ! -i lo -p tcp -m tcp --dport 81 -m socket -j MARK --set-xmark 0x5348/0xffffffff
-A SYNGUARD ! -i lo -p tcp -m tcp --dport 81 --tcp-flags SYN,RST,ACK ACK -j NFQUEUE --queue-num 0"
t_expect "IPv6 filter rules, wildcard listener without -d" \
	"$(rules ip6tables filter SYNGUARD)" = "$want6"
want6raw="-N SYNGUARD
-A SYNGUARD -d 2001:db8::1/128 ! -i lo -p tcp -m tcp --dport 80 -j CT --notrack
-A SYNGUARD ! -i lo -p tcp -m tcp --dport 81 -m addrtype --dst-type LOCAL -j CT --notrack"
t_expect "IPv6 raw inbound notrack, wildcard only for local destinations" \
	"$(rules ip6tables raw SYNGUARD)" = "$want6raw"
want6out="-N SYNGUARD_OUT
-A SYNGUARD_OUT -s 2001:db8::1/128 ! -o lo -p tcp -m tcp --sport 80 -j CT --notrack
-A SYNGUARD_OUT ! -o lo -p tcp -m tcp --sport 81 -j CT --notrack"
t_expect "IPv6 raw outbound notrack of our side" "$(rules ip6tables raw SYNGUARD_OUT)" = "$want6out"
t_expect "synguardd -P prints the installed IPv4 SYN rule" \
	"$("$SYNGUARDD" -P -c "$T_CONF" | grep -c -- '^iptables -w -t filter -A SYNGUARD ! -i lo -d 192.0.2.1/32 -p tcp --dport 80 --syn -j NFQUEUE --queue-num 0$')" = 1
t_expect "synguardd -P prints an nftables equivalent as comments" \
	"$("$SYNGUARDD" -P -c "$T_CONF" | grep -c '^# table inet synguard {$')" = 1

# ---- 2. downloads for every option combination ----
fetch() { # LABEL URL
	local out=$T_DIR/out
	rm -f "$out"
	t_curl -o "$out" "$2" || t_fail "$1: fetch $2"
	cmp -s "$out" "$T_DIR/www/blob" || t_fail "$1: $2: content differs"
	t_ok "$1: $2"
}
lab_exec client nstat -n >/dev/null # reset the client's counter history
for combo in "1 1 1" "0 1 1" "1 0 1" "1 1 0" "0 0 0"; do
	set -- $combo
	lab_sysctl client net.ipv4.tcp_timestamps=$1
	lab_sysctl client net.ipv4.tcp_sack=$2
	lab_sysctl client net.ipv4.tcp_window_scaling=$3
	label="ts=$1 sack=$2 wscale=$3"
	fetch "$label" "http://$LAB_SERVER4/blob"
	fetch "$label" "http://[$LAB_SERVER6]/blob"
	fetch "$label" "http://[$LAB_SERVER6]:81/blob"
done
lab_sysctl client net.ipv4.tcp_timestamps=1
lab_sysctl client net.ipv4.tcp_sack=1
lab_sysctl client net.ipv4.tcp_window_scaling=1

paws=$(lab_exec client nstat -az TcpExtPAWSEstab TcpExtPAWSActive | awk 'NR>1 {s += $2} END {print s + 0}')
t_expect "client dropped no segment for PAWS" "$paws" = 0
resets=$(lab_exec client nstat -az TcpEstabResets | awk 'NR>1 {s += $2} END {print s + 0}')
t_expect "client saw no established connection reset" "$resets" = 0
t_expect "15 handshakes validated" "$(t_stat total.ack_valid)" = 15
t_expect "15 handoffs" "$(t_stat total.handoffs)" = 15
t_expect "one SYN-ACK per SYN" "$(t_stat total.synack_sent)" = "$(t_stat total.syn_received)"
t_expect "no repair failure" "$(t_stat total.repair_failed)" = 0
t_expect "listener web4 counted its own" "$(t_stat listeners.web4.ack_valid)" = 5
t_expect "listener any6 counted its own" "$(t_stat listeners.any6.ack_valid)" = 5

# ---- 3. the repaired socket's parameters, seen while a client holds a connection ----
# The client sends an unfinished request (the backend waits for the rest) and
# stays idle; meanwhile the server side's ss -i shows what the socket was
# built with, and the client's ss -i shows the window the socket advertises.
hold() { # FAMILY ADDR: in the background; its pid in HOLD_PID
	lab_exec client $PY -c '
import socket, sys, time
s = socket.socket(socket.AF_INET if sys.argv[1] == "4" else socket.AF_INET6)
s.settimeout(5)
s.connect((sys.argv[2], 80))
s.sendall(b"GET /blob HTTP/1.1\r\n")
time.sleep(3)
' "$1" "$2" 2>"$T_DIR/hold.log" &
	HOLD_PID=$!
}
ss_info() { # NODE FILTER: one line of ss -i, waiting (bounded) for it
	local i info=
	for i in $(seq 50); do
		info=$(lab_exec "$1" ss -Htin "$2" | tr -s ' \t\n' ' ')
		[ -n "$info" ] && break
		sleep 0.1
	done
	echo "$info"
}
field() { # NAME LINE: the value of NAME:value in an ss -i line
	echo "$2" | grep -Eo " $1:[0-9,]+" | cut -d: -f2
}
# The client's ss -i line once the server acknowledged the 20-byte request
# (bytes_acked counts the SYN too): that ACK carries the window the socket
# advertises. Waits (bounded) for it.
client_acked() {
	local i info=
	for i in $(seq 50); do
		info=$(lab_exec client ss -Htin "( dport = :80 )" | tr -s ' \t\n' ' ')
		[ "$(field bytes_acked "$info")" -ge 21 ] 2>/dev/null && break
		sleep 0.1
	done
	echo "$info"
}
for fam in 4 6; do
	if [ $fam = 4 ]; then srv=$LAB_SERVER4 mss=1448; else srv=$LAB_SERVER6 mss=1428; fi
	hold $fam $srv
	info=$(ss_info server "( sport = :80 )")
	cinfo=$(client_acked)
	wait $HOLD_PID || t_fail "IPv$fam: holding client: $(cat "$T_DIR/hold.log")"
	echo "IPv$fam server socket: $info"
	t_expect "IPv$fam: segment size is the client's MSS less timestamps" \
		"$(field mss "$info")" = $mss
	t_expect "IPv$fam: window scales negotiated, ours is the policy's 7" \
		"$(field wscale "$info" | cut -d, -f2)" = 7
	t_expect "IPv$fam: the client sees a window near 64 KiB" "$(field snd_wnd "$cinfo")" -ge 60000
done
# Without window scaling the socket must not shift the windows it advertises.
lab_sysctl client net.ipv4.tcp_window_scaling=0
hold 4 $LAB_SERVER4
info=$(ss_info server "( sport = :80 )")
cinfo=$(client_acked)
wait $HOLD_PID || t_fail "holding client: $(cat "$T_DIR/hold.log")"
lab_sysctl client net.ipv4.tcp_window_scaling=1
echo "unscaled: server socket: $info"
echo "unscaled: client socket: $cinfo"
t_expect "unscaled: the server socket shifts nothing" "$(field wscale "$info")" = "0,0"
t_expect "unscaled: the client sees a window near 64 KiB, not one shifted away" \
	"$(field snd_wnd "$cinfo")" -ge 60000

# ---- 4. exit: rules and queue binding gone ----
t_stop_daemon
t_expect "no SYNGUARD rule left (IPv4)" "$(lab_exec server iptables-save | grep -c SYNGUARD)" = 0
t_expect "no SYNGUARD rule left (IPv6)" "$(lab_exec server ip6tables-save | grep -c SYNGUARD)" = 0
t_expect "no NFQUEUE queue left bound" \
	"$(lab_exec server cat /proc/net/netfilter/nfnetlink_queue | wc -l)" = 0

# ---- 5. two queues, fail-open: balanced by address, every flow on one thread ----
conf 0:1 true
t_start_daemon
t_expect "balanced, bypassing queue target" \
	"$(rules iptables filter SYNGUARD | grep -c -- '-j NFQUEUE --queue-balance 0:1 --queue-bypass$')" = 2
for i in $(seq 10 25); do
	lab_exec client ip addr add 192.0.2.$i/24 dev eth0 || t_fail "client address 192.0.2.$i"
done
for i in $(seq 10 25); do
	t_curl --interface 192.0.2.$i -o /dev/null "http://$LAB_SERVER4/blob" ||
		t_fail "fetch from 192.0.2.$i"
done
t_expect "16 handoffs over two queues" "$(t_stat total.handoffs)" = 16
used=$(lab_exec server awk '$8 > 0' /proc/net/netfilter/nfnetlink_queue | wc -l)
t_expect "both queues saw packets" "$used" = 2
t_stop_daemon
t_expect "no queue left bound after the two-queue run" \
	"$(lab_exec server cat /proc/net/netfilter/nfnetlink_queue | wc -l)" = 0
echo "PASS: $T_NAME"
