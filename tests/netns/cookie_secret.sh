#!/bin/bash
# Cookies from a shared secret file survive the daemon: a hand-made SYN gets
# its cookie SYN-ACK from one daemon, a second daemon (a restart here; a
# fleet peer behind ECMP or anycast in production: same file, same keys)
# accepts the handshake ACK and hands the connection off. With random keys
# (no secret file) the same sequence is refused as an invalid cookie, and a
# different secret refuses it too.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend
$PY -c 'import scapy' 2>/dev/null || t_skip "python3-scapy not installed (tests/deps.sh)"

lab_up || t_fail "lab up"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
# the client's kernel has no socket for our hand-made handshakes: keep its RSTs home
lab_exec client iptables -A OUTPUT -p tcp --tcp-flags RST RST -j DROP || t_fail "client rule"

key_a=$T_DIR/a.key
key_b=$T_DIR/b.key
head -c 32 /dev/urandom >"$key_a"
head -c 32 /dev/urandom >"$key_b"
chmod 600 "$key_a" "$key_b"

with_secret() { # FILE or ""
	t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080)"
	sed -i "s|^\\tuser = .*|&\\n\\tcookie_secret_file = \"$1\";|" "$T_CONF"
}

# hs syn SPORT: prints the cookie (the SYN-ACK's sequence number); hs ack SPORT COOKIE
hs() {
	lab_exec client "$PY" - "$LAB_SERVER4" "$@" <<'PYEOF'
import sys
from scapy.all import IP, TCP, conf, send, sr1
conf.verb = 0
dst, what, sport = sys.argv[1], sys.argv[2], int(sys.argv[3])
isn = 123456789
if what == "syn":
    r = sr1(IP(dst=dst) / TCP(sport=sport, dport=80, flags="S", seq=isn), timeout=3)
    if r is None or TCP not in r or r[TCP].flags != "SA" or r[TCP].ack != isn + 1:
        sys.exit("no SYN-ACK for our SYN")
    print(r[TCP].seq)
else:
    cookie = int(sys.argv[4])
    send(IP(dst=dst) / TCP(sport=sport, dport=80, flags="A", seq=isn + 1,
                           ack=(cookie + 1) & 0xffffffff))
PYEOF
}

# The ACK's fate is final: refused, or valid and its handoff done (or failed).
fate_known() {
	[ "$(t_stat total.ack_invalid)" -ge 1 ] ||
		[ $(($(t_stat total.handoffs) + $(t_stat total.handoff_failed))) -ge 1 ]
}

# across KEY1 KEY2 SPORT: SYN answered by a daemon with KEY1, ACK sent to a fresh
# daemon with KEY2; prints "valid invalid handoffs" as the second daemon counts them
across() {
	local cookie
	with_secret "$1"
	t_start_daemon
	cookie=$(hs syn "$3") || t_fail "handshake SYN"
	t_stop_daemon
	with_secret "$2"
	t_start_daemon
	hs ack "$3" "$cookie" || t_fail "handshake ACK"
	t_wait 5 fate_known || t_fail "the ACK was neither refused nor handed off"
	echo "$(t_stat total.ack_valid) $(t_stat total.ack_invalid) $(t_stat total.handoffs)"
	t_stop_daemon
}

t_expect "same secret: the ACK is valid and handed off" "$(across "$key_a" "$key_a" 40001)" = "1 0 1"
t_expect "random keys: the ACK is refused" "$(across "" "" 40002)" = "0 1 0"
t_expect "another secret: the ACK is refused" "$(across "$key_a" "$key_b" 40003)" = "0 1 0"
echo "PASS: $T_NAME"
