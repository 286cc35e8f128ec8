#!/bin/bash
# handoff "local", what a policy and the daemon's life mean for the TC path:
#  - deny on the ACK: a handshake whose SYN was answered before a reload
#    denied its source is dropped in TC when its ACK comes (ack_denied), no
#    connection, IPv4 and IPv6; an allow entry inside a denied network lets
#    that host through while the rest of the network stays out;
#  - a restart with cookie_secret_file: the SYN answered by one daemon, its
#    ACK handed to the server by the next one's program; with random keys the
#    same sequence is refused as invalid (so the first check can fail);
#  - reloads during traffic: fetches run while the daemon reloads ten times,
#    none fails, the links stay the same.
# Skips (77) where the fast path is not built.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need curl python3 bpftool
$PY -c 'import scapy' 2>/dev/null || t_skip "python3-scapy not installed (tests/deps.sh)"

PORT=80
ROTATION=30

# conf DENY ALLOW [SECRET-FILE]: local listeners web4 and web6 under policy "guarded"
conf() {
	pc_config "{ name = \"web4\"; address = \"$LAB_SERVER4\"; port = $PORT; handoff = \"local\"; policy = \"guarded\"; },
{ name = \"web6\"; address = \"$LAB_SERVER6\"; port = $PORT; handoff = \"local\"; policy = \"guarded\"; }" "
	guarded = {
		deny = [ $1 ];
		allow = [ $2 ];
	};"
	if [ -n "${3:-}" ]; then
		sed -i "s|^\\tuser = .*|&\\n\\tcookie_secret_file = \"$3\";|" "$T_CONF"
	fi
}
reload_ok() {
	local out
	out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
	case "$out" in reloaded*) ;; *) t_fail "reload: $out" ;; esac
}

lab_up || t_fail "lab up"
conf '"203.0.113.0/24"' '' # a deny list from the start: the program's lists are in use
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"
# real NICs hand over full checksums; a veth sender would leave them partial
lab_exec client ethtool -K eth0 tx off >/dev/null 2>&1
lab_exec attacker ethtool -K eth0 tx off >/dev/null 2>&1
# the client's kernel has no socket for the hand-made handshakes: keep its RSTs home
lab_exec client iptables -A OUTPUT -p tcp --tcp-flags RST RST -j DROP || t_fail "client rule"
lab_exec client ip6tables -A OUTPUT -p tcp --tcp-flags RST RST -j DROP || t_fail "client rule (IPv6)"

lab_bg server "$T_DIR/server4.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 $PORT
lab_bg server "$T_DIR/server6.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER6 $PORT
t_wait 10 eval "[ \$(lab_exec server ss -Htln 'sport = :$PORT' | wc -l) = 2 ]" ||
	t_fail "the servers did not start"

# hs syn DST SPORT: prints the cookie (the SYN-ACK's sequence number)
# hs ack DST SPORT COOKIE: the handshake's ACK
hs() {
	lab_exec client "$PY" - "$@" <<'PYEOF'
import sys
from scapy.all import IP, IPv6, TCP, conf, send, sr1
conf.verb = 0
what, dst, sport = sys.argv[1], sys.argv[2], int(sys.argv[3])
ip = IPv6(dst=dst) if ":" in dst else IP(dst=dst)
isn = 123456789
if what == "syn":
    r = sr1(ip / TCP(sport=sport, dport=80, flags="S", seq=isn), timeout=3)
    if r is None or TCP not in r or r[TCP].flags != "SA" or r[TCP].ack != isn + 1:
        sys.exit("no SYN-ACK for our SYN")
    print(r[TCP].seq)
else:
    cookie = int(sys.argv[4])
    send(ip / TCP(sport=sport, dport=80, flags="A", seq=isn + 1, ack=(cookie + 1) & 0xffffffff))
PYEOF
}
# established SPORT: the server holds an established connection from that client port
established() {
	lab_exec server ss -Htn state established "( sport = :$PORT and dport = :$1 )" | grep -q .
}
tc_fate() { # NAME: the TC path has decided at least one more ACK than $base
	[ $(($(t_stat "tc.$1.ack_denied") + $(t_stat "tc.$1.ack_valid") + $(t_stat "tc.$1.ack_invalid") +
		$(t_stat "tc.$1.ack_expired"))) -gt "$base" ]
}
tc_decided() { # NAME: every ACK the TC path has decided so far
	echo $(($(t_stat "tc.$1.ack_denied") + $(t_stat "tc.$1.ack_valid") + $(t_stat "tc.$1.ack_invalid") +
		$(t_stat "tc.$1.ack_expired")))
}

# ---- deny on the ACK ----
t_start_daemon
sport=41000
for fam in 4 6; do
	if [ $fam = 4 ]; then dst=$LAB_SERVER4 name=web4 me=$LAB_CLIENT4; else dst=$LAB_SERVER6 name=web6 me=$LAB_CLIENT6; fi
	conf '"203.0.113.0/24"' ''
	reload_ok
	sport=$((sport + 1))
	cookie=$(hs syn "$dst" $sport) || t_fail "IPv$fam: handshake SYN"
	conf "\"$me\"" ''
	reload_ok
	base=$(tc_decided $name)
	d0=$(t_stat "tc.$name.ack_denied")
	h0=$(t_stat "tc.$name.handoffs")
	hs ack "$dst" $sport "$cookie" || t_fail "IPv$fam: handshake ACK"
	t_wait 5 tc_fate $name || t_fail "IPv$fam: the TC path did not decide the ACK"
	t_expect "IPv$fam: the ACK of a source denied since its SYN is dropped in TC" \
		"$(t_stat "tc.$name.ack_denied")" = $((d0 + 1))
	t_expect "IPv$fam: no handoff for it" "$(t_stat "tc.$name.handoffs")" = "$h0"
	established $sport && t_fail "IPv$fam: the denied ACK made a connection"
	t_ok "IPv$fam: deny applies to the ACK in TC"
done

# the client's network denied, the client allowed; the attacker's network denied
conf '"192.0.2.0/24", "2001:db8::/64", "198.51.100.0/24", "2001:db8:1::/64"' "\"$LAB_CLIENT4\", \"$LAB_CLIENT6\""
reload_ok
for url in "http://$LAB_SERVER4/" "http://[$LAB_SERVER6]/"; do
	body=$(t_curl -f "$url") || t_fail "the allowed client: $url"
	case "$body" in client=*) ;; *) t_fail "the allowed client: $url answered '$body'" ;; esac
	if lab_exec attacker curl -s -o /dev/null --connect-timeout 2 "$url"; then
		t_fail "the denied network fetched $url"
	fi
done
t_expect "the allowed client's handshakes went through TC" \
	$(($(t_stat tc.web4.handoffs) + $(t_stat tc.web6.handoffs))) -ge 2
t_expect "the denied network's SYNs were dropped" \
	$(($(t_stat listeners.web4.syn_denied) + $(t_stat listeners.web6.syn_denied))) -ge 2
t_ok "allow inside a denied network: the client connects, the rest of the network does not"
t_stop_daemon

# ---- restart with a secret file ----
key=$T_DIR/secret.key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
# across SECRET-FILE SPORT: SYN answered by one daemon, ACK to the next; prints
# "handoffs invalid established" as the second daemon's TC path counts them
across() {
	local cookie est=no
	conf '"203.0.113.0/24"' '' "$1"
	t_start_daemon
	cookie=$(hs syn "$LAB_SERVER4" "$2") || t_fail "handshake SYN"
	t_stop_daemon
	t_start_daemon
	base=$(tc_decided web4)
	hs ack "$LAB_SERVER4" "$2" "$cookie" || t_fail "handshake ACK"
	t_wait 5 tc_fate web4 || t_fail "the TC path did not decide the ACK"
	if t_wait 5 established "$2"; then est=yes; fi
	echo "$(t_stat tc.web4.handoffs) $(t_stat tc.web4.ack_invalid) $est"
	t_stop_daemon
}
t_expect "restart with a secret file: the next daemon's program hands the ACK to the server" \
	"$(across "$key" 42001)" = "1 0 yes"
t_expect "restart with random keys: the ACK is refused in TC" "$(across "" 42002)" = "0 1 no"

# ---- reloads during traffic ----
conf '"203.0.113.0/24"' ''
t_start_daemon
fdinfo_ids() { # KEY: the ids the daemon's fds name
	grep -h "^$1:" /proc/"$T_DAEMON_PID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u
}
links=$(fdinfo_ids link_id)
# fetches over both families until told to stop (bounded: 60 s); one line per fetch
(
	end=$(($(date +%s) + 60))
	i=0
	while [ ! -e "$T_DIR/stop" ] && [ "$(date +%s)" -lt $end ]; do
		if [ $((i % 2)) = 0 ]; then url="http://$LAB_SERVER4/"; else url="http://[$LAB_SERVER6]/"; fi
		if t_curl -f "$url" >/dev/null 2>&1; then echo ok; else echo "failed $url"; fi
		i=$((i + 1))
	done
) >"$T_DIR/fetches" &
loop=$!
fetched() { [ "$(grep -c . "$T_DIR/fetches")" -ge "$1" ]; }
t_wait 20 fetched 5 || t_fail "the fetches did not start"
n0=$(grep -c . "$T_DIR/fetches")
for r in $(seq 10); do
	if [ $((r % 2)) = 1 ]; then conf '"203.0.113.0/24", "2001:db8:ffff::/48"' ''; else conf '"203.0.113.0/24"' ''; fi
	reload_ok
	# at least one fetch between reloads: each reload meets traffic
	n=$(grep -c . "$T_DIR/fetches")
	t_wait 20 fetched $((n + 1)) || t_fail "no fetch after reload $r"
done
n1=$(grep -c . "$T_DIR/fetches")
touch "$T_DIR/stop"
wait $loop
t_expect "fetches during the reloads ($((n1 - n0)))" $((n1 - n0)) -ge 10
t_expect "no fetch failed across ten reloads" "$(grep -v '^ok$' "$T_DIR/fetches" | head -3)" = ""
t_expect "the links stayed the same" "$(fdinfo_ids link_id | tr '\n' ' ')" = "$(echo "$links" | tr '\n' ' ')"
t_expect "the fetches went through TC" \
	$(($(t_stat tc.web4.handoffs) + $(t_stat tc.web6.handoffs))) -ge $(grep -c '^ok$' "$T_DIR/fetches")
t_stop_daemon
echo "PASS: $T_NAME"
