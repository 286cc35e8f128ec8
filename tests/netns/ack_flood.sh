#!/bin/bash
# 10,000 forged ACKs with random acknowledgment numbers, from random spoofed
# sources, per family: every one is counted invalid and none becomes a
# connection. A legitimate fetch before and after proves the path was live.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood curl

N=10000
lab_up || t_fail "lab up"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch before the flood (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch before the flood (IPv6)"
t_expect "two handoffs before the flood" "$(t_stat total.handoffs)" = 2

for fam in 4 6; do
	if [ $fam = 4 ]; then dst=$LAB_SERVER4 name=web4; else dst=$LAB_SERVER6 name=web6; fi
	h0=$(t_stat total.handoffs)
	a0=$(t_stat "listeners.$name.ack_invalid")
	v0=$(t_stat total.ack_valid)
	out=$(lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst "$dst" --dport 80 --kind ack --count $N --rate 20000 --quiet) ||
		t_fail "sgflood: $out"
	echo "$out"
	sent=$(echo "$out" | sed -n 's/.* sent \([0-9]*\) packets.*/\1/p')
	t_expect "IPv$fam: sgflood sent $N ACKs" "$sent" = $N
	# let the queue drain, then the counter settle
	t_wait 10 t_drained || t_fail "IPv$fam: the daemon did not drain its queues"
	prev=-1
	for i in $(seq 30); do
		a1=$(t_stat "listeners.$name.ack_invalid")
		[ "$a1" = "$prev" ] && break
		prev=$a1
		sleep 0.2
	done
	d=$((a1 - a0))
	echo "IPv$fam: ack_invalid grew by $d"
	t_expect "IPv$fam: ack_invalid grew by about $N (>= 99%)" $d -ge $((N * 99 / 100))
	t_expect "IPv$fam: ack_invalid grew by no more than $N" $d -le $N
	t_expect "IPv$fam: no valid ACK among the forged" "$(t_stat total.ack_valid)" = "$v0"
	t_expect "IPv$fam: no handoff from the forged ACKs" "$(t_stat total.handoffs)" = "$h0"
	t_expect "IPv$fam: no connection open" "$(t_stat total.active_connections)" = 0
	est=$(lab_exec server ss -Htn state established '( sport = :80 )' | wc -l)
	t_expect "IPv$fam: no established socket on port 80" "$est" = 0
done

t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the flood (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch after the flood (IPv6)"
t_expect "two more handoffs after the flood" "$(t_stat total.handoffs)" = 4
echo "PASS: $T_NAME"
