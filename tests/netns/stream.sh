#!/bin/bash
# Connection edge cases through synguardd, both families:
#  - data sent at once after connect(), racing the handshake ACK through the
#    queue (proxy over IPv4, pass-fd over IPv6);
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
$(t_listener pp2v6 $LAB_SERVER6 82 proxy 127.0.0.1:9012 2)"
t_backend echo --listen 127.0.0.1:9001 echo
t_backend pp1 --listen 127.0.0.1:9011 --proxy-protocol 1 http
t_backend pp2 --listen 127.0.0.1:9012 --proxy-protocol 2 http
for p in 9001 9011 9012; do lab_wait_tcp server 127.0.0.1 $p || t_fail "backend :$p"; done
t_start_daemon
lab_wait_path "$T_DIR/echo6.sock" || t_fail "pass-fd socket missing"
t_backend echo6 --passfd "$T_DIR/echo6.sock" echo
for i in $(seq 50); do
	grep -q "passfd connected" "$T_DIR/backend-echo6.log" 2>/dev/null && break
	sleep 0.1
done

run() { # WHAT SGCLIENT-ARGS...
	local what=$1 out
	shift
	out=$(t_client --timeout 20 "$@") || t_fail "$what: $(echo "$out" | tr '\n' ' ')"
}

# Early data: 200 kB written right after connect(), no half-close; the echo
# must come back whole. Several rounds, as it is a race by nature.
for fam in 4 6; do
	if [ $fam = 4 ]; then addr=$LAB_SERVER4; else addr=$LAB_SERVER6; fi
	for i in $(seq $ROUNDS); do
		run "IPv$fam early data, round $i" --seed $i --no-halfclose $addr 80 echo 200000
	done
	t_ok "IPv$fam: $ROUNDS x 200 kB sent at once after connect() came back intact"
done
passed=$(t_stat total.ack_flow_passed)
echo "segments that raced their handshake ACK through the queue: $passed"
t_expect "data segments queued behind their handshake ACK were passed" "$passed" -ge 1

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
