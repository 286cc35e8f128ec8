#!/bin/bash
# A bounded spoofed SYN flood (IPv4 from 198.18.0.0/15, IPv6 from
# 2001:db8:ffff::/48) while a legitimate client keeps fetching pages over both
# families: (nearly) every fetch succeeds, every flood SYN is answered by the
# daemon, and no spoofed source becomes a connection.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood curl

SECONDS_FLOOD=${SG_FLOOD_SECONDS:-8}
RATE4=${SG_FLOOD_RATE4:-40000}
RATE6=${SG_FLOOD_RATE6:-10000}

lab_up || t_fail "lab up"
T_QUEUES="0:1"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch before the flood"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch before the flood (IPv6)"

h0=$(t_stat total.handoffs)
s0=$(t_stat total.syn_received)
k0=$(t_stat total.synack_sent)

lab_bg attacker "$T_DIR/flood4.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 80 --kind syn --rate "$RATE4" --duration "$SECONDS_FLOOD" --quiet
f4=$LAB_LAST_PID
lab_bg attacker "$T_DIR/flood6.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER6 --dport 80 --kind syn --rate "$RATE6" --duration "$SECONDS_FLOOD" --quiet
f6=$LAB_LAST_PID
t_wait 5 t_stat_ge total.syn_received $((s0 + (RATE4 + RATE6) / 10)) ||
	t_fail "the floods did not reach the daemon"

# Legitimate fetches, one after another, while both floods run.
ok=0 fail=0 n=0
while kill -0 $f4 2>/dev/null || kill -0 $f6 2>/dev/null; do
	if [ $((n % 2)) = 0 ]; then url="http://$LAB_SERVER4/"; else url="http://[$LAB_SERVER6]/"; fi
	if lab_exec client curl -s -o /dev/null --connect-timeout 3 --max-time 5 "$url"; then
		ok=$((ok + 1))
	else
		fail=$((fail + 1))
		echo "fetch $n of $url failed"
	fi
	n=$((n + 1))
	sleep 0.1
done
wait $f4 || t_fail "IPv4 flood failed: $(cat "$T_DIR/flood4.log")"
wait $f6 || t_fail "IPv6 flood failed: $(cat "$T_DIR/flood6.log")"
cat "$T_DIR/flood4.log" "$T_DIR/flood6.log"
sent4=$(sed -n 's/.* sent \([0-9]*\) packets.*/\1/p' "$T_DIR/flood4.log")
sent6=$(sed -n 's/.* sent \([0-9]*\) packets.*/\1/p' "$T_DIR/flood6.log")
sent=$((sent4 + sent6))
t_wait 10 t_drained || t_fail "the daemon did not drain its queues after the flood"
t_wait 5 t_stat_eq total.active_connections 0

echo "legitimate fetches during the flood: $ok ok, $fail failed"
t_expect "at least 20 fetches during the flood" $n -ge 20
t_expect "at least 95% of the legitimate fetches succeed" $((ok * 100)) -ge $((n * 95))

s1=$(t_stat total.syn_received)
k1=$(t_stat total.synack_sent)
h1=$(t_stat total.handoffs)
echo "flood packets sent $sent; daemon: SYNs $((s1 - s0)), SYN-ACKs $((k1 - k0)), handoffs $((h1 - h0))"
# generous floors: the generator and the daemon share this host's CPUs
t_expect "the flood was sizeable (>= 25% of the requested rate)" \
	$sent -ge $(((RATE4 + RATE6) * SECONDS_FLOOD / 4))
t_expect "the daemon saw >= 80% of the flood's SYNs" $((s1 - s0)) -ge $((sent * 8 / 10))
t_expect "the daemon answered >= 90% of the SYNs it saw" $((k1 - k0)) -ge $(((s1 - s0) * 9 / 10))
t_expect "handoffs only for legitimate fetches" $((h1 - h0)) -le $n
t_expect "every successful fetch was a handoff" $((h1 - h0)) -ge $ok
t_expect "no connection left open" "$(t_stat total.active_connections)" = 0
echo "PASS: $T_NAME"
