#!/bin/bash
# 100 MB each way through synguardd, checksummed end to end, in both handoff
# modes and both families: client -> server into sgbackend's sink (which
# answers with the byte count and FNV-1a 64 of what it got), server -> client
# from sgbackend's source (whose byte pattern the client checks). The repaired
# socket must carry the options the handshake negotiated (window scale, SACK,
# timestamps), and the transfers must run at LAN speed, which they cannot
# with a wrong window scale.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgclient

BYTES=$((100 * 1000 * 1000))
# a mis-scaled window (64 KB per round trip) would need minutes for this
LIMIT_S=60

lab_up || t_fail "lab up"
t_config "$(t_listener sink4 $LAB_SERVER4 80 proxy 127.0.0.1:9001),
$(t_listener source4 $LAB_SERVER4 81 proxy 127.0.0.1:9002),
$(t_listener sink6 $LAB_SERVER6 80 pass-fd "unix:$T_DIR/sink6.sock"),
$(t_listener source6 $LAB_SERVER6 81 pass-fd "unix:$T_DIR/source6.sock"),
$(t_listener hold4 $LAB_SERVER4 82 proxy 127.0.0.1:9003),
$(t_listener hold6 $LAB_SERVER6 82 proxy 127.0.0.1:9003)"
t_backend sink --listen 127.0.0.1:9001 sink
t_backend source --listen 127.0.0.1:9002 source $BYTES
t_backend echo --listen 127.0.0.1:9003 echo
for p in 9001 9002 9003; do lab_wait_tcp server 127.0.0.1 $p || t_fail "backend :$p"; done
t_start_daemon
lab_wait_path "$T_DIR/sink6.sock" && lab_wait_path "$T_DIR/source6.sock" ||
	t_fail "pass-fd sockets missing"
t_backend sink6 --passfd "$T_DIR/sink6.sock" sink
t_backend source6 --passfd "$T_DIR/source6.sock" source $BYTES
for b in sink6 source6; do
	for i in $(seq 50); do
		grep -q "passfd connected" "$T_DIR/backend-$b.log" 2>/dev/null && break
		sleep 0.1
	done
done

# The handed-off socket's window scale and MSS, as the kernel reports them.
# (This ss does not print the ts/sack flags; SACK is proven below. The MSS
# shows timestamps: 12 bytes less than the client's 1460 / 1440.)
for fam in 4 6; do
	if [ $fam = 4 ]; then addr=$LAB_SERVER4 mss=1448; else addr=$LAB_SERVER6 mss=1428; fi
	rm -f "$T_DIR/release"
	lab_bg client "$T_DIR/hold$fam.log" "$SGCLIENT" --timeout 20 "$addr" 82 hold "$T_DIR/release"
	hold_pid=$LAB_LAST_PID
	info=
	for i in $(seq 50); do
		info=$(lab_exec server ss -tinH state established "( sport = :82 )")
		[ -n "$info" ] && break
		sleep 0.1
	done
	touch "$T_DIR/release"
	wait $hold_pid || t_fail "IPv$fam: held connection failed: $(cat "$T_DIR/hold$fam.log")"
	echo "IPv$fam repaired socket: $(echo "$info" | tr -s ' \t\n' ' ' | cut -c1-200)"
	echo "$info" | grep -Eq 'wscale:([1-9]|1[0-4]),7 ' ||
		t_fail "IPv$fam: window scales are not (client's, 7)"
	echo "$info" | grep -q " mss:$mss " || t_fail "IPv$fam: MSS is not $mss"
	t_ok "IPv$fam: the repaired socket has both window scales and MSS $mss"
done

xfer() { # WHAT ADDR PORT MODE
	local what=$1 out secs
	shift
	out=$(t_client --timeout $LIMIT_S "$@" $BYTES) || t_fail "$what: $(echo "$out" | tr '\n' ' ')"
	secs=$(echo "$out" | sed -n 's/^seconds=//p')
	t_ok "$what: $BYTES bytes, checksums match, ${secs}s"
}
xfer "client->server proxy IPv4" $LAB_SERVER4 80 sink
xfer "server->client proxy IPv4" $LAB_SERVER4 81 source
xfer "client->server pass-fd IPv6" $LAB_SERVER6 80 sink
xfer "server->client pass-fd IPv6" $LAB_SERVER6 81 source

# SACK, both ways, with every 50th data segment lost on its way in
# (iptables statistic nth, so the test is deterministic). Upload: the
# repaired socket receives with holes and must send SACK blocks, which the
# client's stack then processes. Download: the repaired socket sends and must
# recover with SACK, not NewReno. Counters are per namespace.
LOSSY=$((20 * 1000 * 1000))
counter() { # NODE NAME: a TcpExt/Tcp counter of the node's namespace
	lab_exec "$1" cat /proc/net/netstat /proc/net/snmp | awk -v k="$2" '
		NR % 2 == 1 { prev = $1; for (i = 2; i <= NF; i++) h[i] = $i; next }
		$1 == prev { for (i = 2; i <= NF; i++) if (h[i] == k) print $i }'
}
sack_blocks() { # NODE: SACK blocks its stack has processed
	echo $(($(counter "$1" TCPSackShiftFallback) + $(counter "$1" TCPSackShifted) + \
		$(counter "$1" TCPSackMerged)))
}
lab_exec server iptables -t mangle -A PREROUTING -p tcp -d $LAB_SERVER4 --dport 80 -m length \
	--length 200:65535 -m statistic --mode nth --every 50 --packet 0 -j DROP || t_fail "loss rule (upload)"
lab_exec client iptables -t mangle -A PREROUTING -p tcp -s $LAB_SERVER4 --sport 81 -m length \
	--length 200:65535 -m statistic --mode nth --every 50 --packet 0 -j DROP || t_fail "loss rule (download)"

c_sack0=$(sack_blocks client)
c_reno0=$(counter client TCPRenoRecovery)
out=$(t_client --timeout $LIMIT_S $LAB_SERVER4 80 sink $LOSSY) ||
	t_fail "lossy upload: $(echo "$out" | tr '\n' ' ')"
t_ok "lossy upload: checksums match"
echo "lossy upload: $(lab_exec server iptables -t mangle -nvL PREROUTING | awk '/DROP/ {print $1}') drops; the client processed $(($(sack_blocks client) - c_sack0)) SACK blocks"
t_expect "lossy upload: the repaired socket sent SACK blocks" $(($(sack_blocks client) - c_sack0)) -ge 1
t_expect "lossy upload: the client never fell back to NewReno" \
	"$(counter client TCPRenoRecovery)" = "$c_reno0"

s_sack0=$(counter server TCPSackRecovery)
s_reno0=$(counter server TCPRenoRecovery)
out=$(t_client --timeout $LIMIT_S $LAB_SERVER4 81 source $BYTES) ||
	t_fail "lossy download: $(echo "$out" | tr '\n' ' ')"
t_ok "lossy download: checksums and pattern match"
s_sack=$(($(counter server TCPSackRecovery) - s_sack0))
echo "lossy download: $(lab_exec client iptables -t mangle -nvL PREROUTING | awk '/DROP/ {print $1}') drops; $s_sack SACK recoveries on the server"
t_expect "lossy download: the repaired socket recovered with SACK" $s_sack -ge 1
t_expect "lossy download: never with NewReno" "$(counter server TCPRenoRecovery)" = "$s_reno0"

t_expect "relay carried the upload" "$(t_stat listeners.sink4.bytes_to_backend)" -ge $BYTES
t_expect "relay carried the download" "$(t_stat listeners.source4.bytes_to_client)" -ge $BYTES
t_expect "no failed handoff" "$(t_stat total.handoff_failed)" = 0
echo "PASS: $T_NAME"
