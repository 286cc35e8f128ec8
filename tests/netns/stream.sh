#!/bin/bash
# Connection edge cases through synguardd, both families:
#  - data sent at once after connect() comes back whole (proxy over IPv4,
#    pass-fd over IPv6);
#  - a data segment queued right behind its handshake ACK, before the socket
#    exists: made to happen on purpose (a raw-socket client sends both while
#    the daemon is stopped), it must be passed to the new socket and counted
#    (ack_flow_passed), not checked again as a handshake;
#  - client half-close: the client shuts down its write side (at once, or
#    after sending) and still gets the whole echo, then EOF;
#  - PROXY protocol v1 and v2 headers: sgbackend parses them and must see the
#    client's own address and port, and the protected server address.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgclient

ROUNDS=10
# a FIN that overtakes its handshake ACK is a race too; enough rounds to lose it
FIN_ROUNDS=25
lab_up || t_fail "lab up"
t_config "$(t_listener echo4 $LAB_SERVER4 80 proxy 127.0.0.1:9001),
$(t_listener echo6 $LAB_SERVER6 80 pass-fd "unix:$T_DIR/echo6.sock"),
$(t_listener pp1v4 $LAB_SERVER4 81 proxy 127.0.0.1:9011 1),
$(t_listener pp1v6 $LAB_SERVER6 81 proxy 127.0.0.1:9011 1),
$(t_listener pp2v4 $LAB_SERVER4 82 proxy 127.0.0.1:9012 2),
$(t_listener pp2v6 $LAB_SERVER6 82 proxy 127.0.0.1:9012 2),
$(t_listener race4 $LAB_SERVER4 83 proxy 127.0.0.1:9001),
$(t_listener race6 $LAB_SERVER6 83 proxy 127.0.0.1:9001)"
t_backend echo --listen 127.0.0.1:9001 echo
t_backend pp1 --listen 127.0.0.1:9011 --proxy-protocol 1 http
t_backend pp2 --listen 127.0.0.1:9012 --proxy-protocol 2 http
for p in 9001 9011 9012; do lab_wait_tcp server 127.0.0.1 $p || t_fail "backend :$p"; done
t_start_daemon
lab_wait_path "$T_DIR/echo6.sock" || t_fail "pass-fd socket missing"
t_backend echo6 --passfd "$T_DIR/echo6.sock" echo
t_wait 5 grep -q "passfd connected" "$T_DIR/backend-echo6.log" ||
	t_fail "the pass-fd backend did not connect"

run() { # WHAT SGCLIENT-ARGS...
	local what=$1 out
	shift
	out=$(t_client --timeout 20 "$@") || t_fail "$what: $(echo "$out" | tr '\n' ' ')"
}

# Early data: 200 kB written right after connect(), no half-close; the echo
# must come back whole, whichever of the handshake ACK's handling and the data
# comes first.
for fam in 4 6; do
	if [ $fam = 4 ]; then addr=$LAB_SERVER4; else addr=$LAB_SERVER6; fi
	for i in $(seq $ROUNDS); do
		run "IPv$fam early data, round $i" --seed $i --no-halfclose $addr 80 echo 200000
	done
	t_ok "IPv$fam: $ROUNDS x 200 kB sent at once after connect() came back intact"
done

# A data segment behind its handshake ACK in the queue, on purpose: the
# client's handshake is sent from raw sockets; with the daemon stopped
# (SIGSTOP) the ACK and a data segment go out, and once both wait in the
# queue the daemon continues. It takes the ACK first (socket built, flow
# remembered), then the data, which must go to that socket (ack_flow_passed),
# not be taken for a second handshake; the echo must come back intact.
# The client's kernel knows nothing of the connection: its resets are dropped.
queued_ge() {
	[ "$(t_queued)" -ge "$1" ]
}
for fam in 4 6; do
	if [ $fam = 4 ]; then addr=$LAB_SERVER4 ipt=iptables; else addr=$LAB_SERVER6 ipt=ip6tables; fi
	cport=$((40000 + fam))
	lab_exec client $ipt -A OUTPUT -p tcp --sport $cport --tcp-flags RST RST \
		-m mark ! --mark 0x5347 -j DROP || t_fail "client $ipt rule"
	p0=$(t_stat listeners.race$fam.ack_flow_passed)
	read -r isn cookie < <(lab_exec client $PY "$T_TOP/tests/netns/rawtcp.py" syn $addr 83 $cport) ||
		t_fail "IPv$fam: no SYN-ACK for the raw client's SYN"
	[ -n "$cookie" ] || t_fail "IPv$fam: no SYN-ACK for the raw client's SYN"
	t_expect "IPv$fam: the SYN was answered, no socket yet" \
		"$(t_stat listeners.race$fam.handoffs)" = 0
	kill -STOP "$T_DAEMON_PID" || t_fail "SIGSTOP synguardd"
	q0=$(t_queued)
	lab_bg client "$T_DIR/race$fam.log" $PY "$T_TOP/tests/netns/rawtcp.py" ackdata \
		$addr 83 $cport "$isn" "$cookie" 1000
	racepid=$LAB_LAST_PID
	t_wait 10 grep -q '^sent' "$T_DIR/race$fam.log" || {
		kill -CONT "$T_DAEMON_PID"
		t_fail "IPv$fam: the raw client did not send: $(cat "$T_DIR/race$fam.log")"
	}
	t_wait 10 queued_ge $((q0 + 2)) || {
		kill -CONT "$T_DAEMON_PID"
		t_fail "IPv$fam: the ACK and the data did not both reach the queue"
	}
	t_ok "IPv$fam: the handshake ACK and a data segment wait in the queue together"
	kill -CONT "$T_DAEMON_PID" || t_fail "SIGCONT synguardd"
	wait $racepid || t_fail "IPv$fam raced data: $(cat "$T_DIR/race$fam.log")"
	grep -q "^echo ok" "$T_DIR/race$fam.log" || t_fail "IPv$fam raced data: $(cat "$T_DIR/race$fam.log")"
	t_ok "IPv$fam: the data queued behind its handshake ACK came back intact"
	t_expect "IPv$fam: the data segment was passed to the new socket (ack_flow_passed)" \
		$(($(t_stat listeners.race$fam.ack_flow_passed) - p0)) = 1
	t_expect "IPv$fam: one socket, one handoff" "$(t_stat listeners.race$fam.handoffs)" = 1
done
passed=$(t_stat total.ack_flow_passed)
echo "segments that raced their handshake ACK through the queue: $passed"
t_expect "data segments queued behind their handshake ACK were passed" "$passed" -ge 2

# Half-close right after connect(): nothing sent, EOF must come back (not a reset).
for fam in 4 6; do
	if [ $fam = 4 ]; then addr=$LAB_SERVER4; else addr=$LAB_SERVER6; fi
	for i in $(seq $FIN_ROUNDS); do
		run "IPv$fam immediate half-close, round $i" $addr 80 echo 0
	done
	t_ok "IPv$fam: $FIN_ROUNDS immediate half-closes answered with EOF"
	# Half-close after sending 1 MB: the reply keeps flowing after our FIN.
	run "IPv$fam half-close after 1 MB" $addr 80 echo 1000000
	t_ok "IPv$fam: 1 MB echoed back after the client's half-close"
done
t_expect "echo4: every connection a handoff" "$(t_stat listeners.echo4.handoffs)" = $((ROUNDS + FIN_ROUNDS + 1))
t_expect "echo6: every connection a handoff" "$(t_stat listeners.echo6.handoffs)" = $((ROUNDS + FIN_ROUNDS + 1))
t_expect "no failed handoff" "$(t_stat total.handoff_failed)" = 0

# PROXY v1/v2: the backend must see exactly the client's address and port.
for l in pp1v4:1:81:$LAB_SERVER4 pp1v6:1:81:$LAB_SERVER6 pp2v4:2:82:$LAB_SERVER4 pp2v6:2:82:$LAB_SERVER6; do
	IFS=: read -r name ver port addr <<<"$l"
	out=$(t_client --timeout 10 "$addr" "$port" http /) || t_fail "$name: $out"
	local_addr=$(echo "$out" | sed -n 's/^local=//p')
	body=$(echo "$out" | sed -n 's/^body=//p')
	t_expect "$name: backend saw client=$local_addr" "$body" = "client=$local_addr"
	case $addr in *:*) server="[$addr]:$port" ;; *) server="$addr:$port" ;; esac
	grep -qF "proxy v$ver client=$local_addr server=$server " "$T_DIR/backend-pp$ver.log" ||
		t_fail "$name: no 'proxy v$ver client=$local_addr server=$server' in the backend log"
	t_ok "$name: PROXY v$ver header names client $local_addr and server $server"
done
if grep -q "proxy invalid" "$T_DIR"/backend-pp*.log; then
	t_fail "a PROXY header was invalid: $(grep -h "proxy invalid" "$T_DIR"/backend-pp*.log)"
fi
echo "PASS: $T_NAME"
