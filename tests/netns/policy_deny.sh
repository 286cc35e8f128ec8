#!/bin/bash
# allow and deny lists, IPv4 and IPv6, longest prefix first: a denied client
# cannot connect over either family (its SYNs dropped and counted), another
# host can; denied spoofed SYNs and ACKs are dropped and counted; an allowed
# address inside a denied network gets its SYN-ACKs.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend sgflood curl

lab_up || t_fail "lab up"
T_QUEUES="0:1"
pc_config "$(pc_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080 guarded),
$(pc_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080 guarded)" "
	guarded = {
		deny = [ \"$LAB_CLIENT4\", \"$LAB_CLIENT6\", \"203.0.113.0/24\", \"2001:db8:ffff::/48\" ];
		allow = [ \"203.0.113.7\" ];
	};"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

# ---- a denied client, both families ----
for url in "http://$LAB_SERVER4/" "http://[$LAB_SERVER6]/"; do
	if lab_exec client curl -s -o /dev/null --connect-timeout 2 "$url"; then
		t_fail "the denied client fetched $url"
	fi
done
t_ok "the denied client cannot connect (IPv4, IPv6)"
t_expect "IPv4: its SYNs were dropped and counted" "$(t_stat listeners.web4.syn_denied)" -ge 1
t_expect "IPv6: its SYNs were dropped and counted" "$(t_stat listeners.web6.syn_denied)" -ge 1
t_expect "no SYN-ACK was sent to it" "$(t_stat total.synack_sent)" = 0
for url in "http://$LAB_SERVER4/" "http://[$LAB_SERVER6]/"; do
	lab_exec attacker curl -sS -o /dev/null --max-time 5 "$url" || t_fail "another host: $url"
done
t_ok "another host connects (IPv4, IPv6)"
t_expect "two handoffs" "$(t_stat total.handoffs)" = 2

# ---- spoofed SYNs from a denied network, but for its allowed address ----
d0=$(t_stat listeners.web4.syn_denied)
s0=$(t_stat listeners.web4.syn_received)
sent=$(pc_flood --dst $LAB_SERVER4 --dport 80 --kind syn --src 203.0.113.0/24 --count 1000 --rate 5000)
s1=$(pc_settle listeners.web4.syn_received)
denied=$(($(t_stat listeners.web4.syn_denied) - d0))
echo "SYNs from 203.0.113.0/24: $sent sent, $((s1 - s0)) seen, $denied denied"
t_expect "the daemon saw all 1000" $((s1 - s0)) = 1000
# random sources: about 1 in 256 is the allowed 203.0.113.7
t_expect "(nearly) all denied" $denied -ge 980
a0=$(($(t_stat listeners.web4.synack_sent) + $(t_stat listeners.web4.synack_send_failed)))
d0=$(t_stat listeners.web4.syn_denied)
sent=$(pc_flood --dst $LAB_SERVER4 --dport 80 --kind syn --src 203.0.113.7/32 --count 50 --rate 5000)
pc_settle listeners.web4.syn_received >/dev/null
a1=$(($(t_stat listeners.web4.synack_sent) + $(t_stat listeners.web4.synack_send_failed)))
t_expect "the allowed address inside: none denied" "$(t_stat listeners.web4.syn_denied)" = "$d0"
# (this lab has no route back to 203.0.113.0/24: sent or failed, every one was answered)
t_expect "the allowed address inside: 50 SYN-ACKs" $((a1 - a0)) = 50

# ---- spoofed ACKs from denied networks ----
for fam in 4 6; do
	if [ $fam = 4 ]; then
		name=web4 dst=$LAB_SERVER4 src=203.0.113.128/25
	else
		name=web6 dst=$LAB_SERVER6 src=2001:db8:ffff::/48
	fi
	k0=$(t_stat listeners.$name.ack_denied)
	i0=$(t_stat listeners.$name.ack_invalid)
	sent=$(pc_flood --dst $dst --dport 80 --kind ack --src $src --count 500 --rate 5000)
	k1=$(pc_settle listeners.$name.ack_denied)
	t_expect "IPv$fam: 500 ACKs from a denied network dropped as denied" $((k1 - k0)) = 500
	t_expect "IPv$fam: none reached the cookie check" "$(t_stat listeners.$name.ack_invalid)" = "$i0"
done
t_expect "no connection from any of it" "$(t_stat total.handoffs)" = 2
t_stop_daemon
echo "PASS: $T_NAME"
