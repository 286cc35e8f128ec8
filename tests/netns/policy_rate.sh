#!/bin/bash
# Per-source SYN rate (per_source.syn_rate / burst): one source sending SYNs
# far over its rate gets about rate x seconds + burst of them answered, the
# rest dropped and counted, while another client keeps connecting; a source
# on the allow list is not limited at all.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend sgflood curl

RATE=20
BURST=20
FLOOD=2000 # SYN/s from one address
SECS=4

lab_up || t_fail "lab up"
T_QUEUES="0:1"
pc_config "$(pc_listener web $LAB_SERVER4 80 proxy 127.0.0.1:8080 limited),
$(pc_listener trusted $LAB_SERVER4 81 proxy 127.0.0.1:8080 trusted)" "
	limited = { per_source = { syn_rate = $RATE; burst = $BURST; }; };
	trusted = { per_source = { syn_rate = $RATE; burst = $BURST; };
	            allow = [ \"$LAB_ATTACKER4\" ]; };"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch before the flood"

s0=$(t_stat listeners.web.syn_received)
l0=$(t_stat listeners.web.syn_rate_limited)
# The attacker's own address: its kernel answers our SYN-ACKs with resets.
lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 80 --kind syn --src $LAB_ATTACKER4/32 --rate $FLOOD \
	--duration $SECS --quiet
fpid=$LAB_LAST_PID
ok=0 n=0
while kill -0 $fpid 2>/dev/null; do
	if lab_exec client curl -s -o /dev/null --connect-timeout 2 --max-time 4 "http://$LAB_SERVER4/"; then
		ok=$((ok + 1))
	fi
	n=$((n + 1))
	sleep 0.1
done
wait $fpid || t_fail "sgflood: $(cat "$T_DIR/flood.log")"
sent=$(sed -n 's/.* sent \([0-9]*\) packets.*/\1/p' "$T_DIR/flood.log")
s1=$(pc_settle listeners.web.syn_received)
limited=$(($(t_stat listeners.web.syn_rate_limited) - l0))
seen=$((s1 - s0))
answered=$((seen - limited))
echo "flood: $sent SYNs sent, $seen seen, $limited rate-limited, $answered answered; client fetches: $ok of $n"
t_expect "the flood was sizeable" "$sent" -ge $((FLOOD * SECS / 2))
t_expect "every client fetch during the flood succeeded" $ok = $n
t_expect "at least 10 client fetches" $n -ge 10
# the flood's allowance over its duration (+1 s of slack), plus the client's SYNs
t_expect "the source got at most rate x time + burst answered" \
	$answered -le $((RATE * (SECS + 1) + BURST + n + 5))
t_expect "the source got about its rate answered (not starved)" $answered -ge $((RATE * SECS / 2))
t_expect "the rest was dropped and counted" $limited -ge $((seen - RATE * (SECS + 1) - BURST - n - 5))

# the same source on the allow list: no limit
s0=$(t_stat listeners.trusted.syn_received)
k0=$(t_stat listeners.trusted.synack_sent)
sent=$(pc_flood --dst $LAB_SERVER4 --dport 81 --kind syn --src $LAB_ATTACKER4/32 --count 2000 \
	--rate $FLOOD)
s1=$(pc_settle listeners.trusted.syn_received)
k1=$(pc_settle listeners.trusted.synack_sent)
echo "allow-listed: $sent sent, $((s1 - s0)) seen, $((k1 - k0)) SYN-ACKs"
t_expect "allow-listed source: nothing rate-limited" "$(t_stat listeners.trusted.syn_rate_limited)" = 0
t_expect "allow-listed source: every SYN it sent answered" $((k1 - k0)) -ge $((sent * 98 / 100))
t_curl -o /dev/null "http://$LAB_SERVER4:81/" || t_fail "fetch on the allow-list listener"
t_stop_daemon
echo "PASS: $T_NAME"
