#!/bin/bash
# Mode "stateful": SYNs answered through the half-open table.
#  - a fetch goes through the table (synack_stateful, ack_halfopen);
#  - a client whose handshake ACKs are dropped (client-side iptables) sees our
#    SYN-ACK again 1 s and 3 s after the first (captured in its namespace), the
#    entry waits, and the client's first data segment, once let through,
#    completes the handshake from the table;
#  - a client that resets its pending handshake (RST in sequence) retires
#    its entry at once, as the kernel drops the request;
#  - a full table drops new SYNs and counts them, entries expire after their
#    retransmits, and the table serves clients again;
#  - half_open_per_source caps one source.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend sgflood curl

lab_up || t_fail "lab up"
T_QUEUES="0" # one thread: the whole table is one table
pc_config "$(pc_listener web $LAB_SERVER4 80 proxy 127.0.0.1:8080 kernel)" '
	kernel = { mode = "stateful"; half_open_max = 8; half_open_per_source = 3;
	           synack_retries = 2; };'
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

# ---- a plain fetch goes through the table ----
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch"
t_expect "the SYN was answered statefully" "$(t_stat listeners.web.synack_stateful)" -ge 1
t_expect "the ACK matched the half-open entry" "$(t_stat listeners.web.ack_halfopen)" = 1
t_expect "the entry is gone once served" "$(t_stat listeners.web.halfopen_entries)" = 0
t_expect "listeners: mode stateful" "$(pc_mode web)" = stateful

# ---- SYN-ACK retransmission ----
# Everything but the SYN from the client to port 80 is dropped on its way out:
# the client believes it is connected, we never see its ACK.
lab_exec client iptables -I OUTPUT -p tcp -d $LAB_SERVER4 --dport 80 ! --syn -j DROP ||
	t_fail "client iptables rule"
r0=$(t_stat listeners.web.synack_retransmits)
cat >"$T_DIR/retrans.py" <<'EOF'
import os, socket, struct, sys, time
server, release, seen = sys.argv[1], sys.argv[2], sys.argv[3]
srv = socket.inet_aton(server)
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
cap.bind(("eth0", 0))
cap.settimeout(0.05)
c = socket.socket()
c.connect((server, 80))  # returns after our (dropped) ACK
port = c.getsockname()[1]
times = []
t0 = None
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not os.path.exists(release):
    try:
        f = cap.recv(2048)
    except socket.timeout:
        continue
    ip = f[14:]
    if ip[9] != 6 or ip[12:16] != srv:
        continue
    tcp = ip[(ip[0] & 15) * 4:]
    sport, dport = struct.unpack("!HH", tcp[:4])
    if sport == 80 and dport == port and tcp[13] & 0x12 == 0x12:
        now = time.monotonic()
        times.append(now)
        with open(seen + ".tmp", "w") as f:
            f.write("%d\n" % len(times))
        os.rename(seen + ".tmp", seen)  # the test reads it whole
print("synacks", len(times), " ".join("%.3f" % (t - times[0]) for t in times), flush=True)
while not os.path.exists(release):
    time.sleep(0.05)
c.settimeout(10)
c.sendall(b"GET / HTTP/1.0\r\n\r\n")
body = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    body += d
print("answer", body.split(b"\r\n")[0].decode(), flush=True)
EOF
lab_bg client "$T_DIR/retrans.log" $PY "$T_DIR/retrans.py" "$LAB_SERVER4" "$T_DIR/release" "$T_DIR/seen"
pypid=$LAB_LAST_PID
pc_wait 6 pc_stat_ge listeners.web.synack_retransmits $((r0 + 2)) ||
	t_fail "no second SYN-ACK retransmit within 6 s"
t_expect "the half-open entry waits" "$(t_stat listeners.web.halfopen_entries)" = 1
# the client has captured the first SYN-ACK and both retransmits before its ACKs go out
client_saw() { [ "$(cat "$T_DIR/seen" 2>/dev/null || echo 0)" -ge "$1" ]; }
t_wait 5 client_saw 3 || t_fail "the client did not capture 3 SYN-ACKs"
lab_exec client iptables -D OUTPUT -p tcp -d $LAB_SERVER4 --dport 80 ! --syn -j DROP
touch "$T_DIR/release"
wait $pypid || t_fail "retransmission client failed: $(cat "$T_DIR/retrans.log")"
cat "$T_DIR/retrans.log"
read -r _ n t1 t2 t3 < <(grep '^synacks' "$T_DIR/retrans.log")
t_expect "the client saw 3 SYN-ACKs (the first and two retransmits)" "$n" -ge 3
t_expect "first retransmit about 1 s after the SYN-ACK (0.8..1.4 s)" \
	"$(awk -v t="$t2" 'BEGIN { print (t >= 0.8 && t <= 1.4) ? "yes" : t }')" = yes
t_expect "second retransmit about 3 s after it (2.7..3.5 s)" \
	"$(awk -v t="$t3" 'BEGIN { print (t >= 2.7 && t <= 3.5) ? "yes" : t }')" = yes
t_expect "the late data completed the handshake from the table" \
	"$(grep -c '^answer HTTP/1.0 200 OK' "$T_DIR/retrans.log")" = 1
t_expect "two ACKs matched entries in all" "$(t_stat listeners.web.ack_halfopen)" = 2
t_expect "no entry left" "$(t_stat listeners.web.halfopen_entries)" = 0

# ---- a client's RST retires its pending entry ----
# The client's handshake ACK is dropped on its way out (not its RST): the entry
# waits; then the client aborts (SO_LINGER 0): its RST carries the sequence
# number the entry expects.
lab_exec client iptables -I OUTPUT -p tcp -d $LAB_SERVER4 --dport 80 --tcp-flags SYN,RST,ACK ACK \
	-j DROP || t_fail "client iptables rule"
x0=$(t_stat listeners.web.halfopen_reset)
cat >"$T_DIR/reset.py" <<'EOF'
import os, socket, struct, sys, time
server, go = sys.argv[1], sys.argv[2]
c = socket.socket()
c.connect((server, 80))  # returns after our (dropped) ACK
print("connected", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()  # RST, sequence number client ISN + 1
print("reset", flush=True)
EOF
lab_bg client "$T_DIR/reset.log" $PY "$T_DIR/reset.py" "$LAB_SERVER4" "$T_DIR/go"
pypid=$LAB_LAST_PID
pc_wait 5 pc_stat_eq listeners.web.halfopen_entries 1 || t_fail "no half-open entry for the client"
touch "$T_DIR/go"
wait $pypid || t_fail "reset client failed: $(cat "$T_DIR/reset.log")"
pc_wait 5 pc_stat_eq listeners.web.halfopen_entries 0 || t_fail "the RST left the entry"
t_expect "the RST retired the entry (halfopen_reset)" \
	$(($(t_stat listeners.web.halfopen_reset) - x0)) = 1
lab_exec client iptables -D OUTPUT -p tcp -d $LAB_SERVER4 --dport 80 --tcp-flags SYN,RST,ACK ACK \
	-j DROP

# ---- a full table drops new SYNs ----
f0=$(t_stat listeners.web.syn_halfopen_full)
e0=$(t_stat listeners.web.halfopen_expired)
s0=$(t_stat listeners.web.syn_received)
sent=$(pc_flood --dst $LAB_SERVER4 --dport 80 --kind syn --count 200 --rate 5000)
t_expect "sgflood sent 200 SYNs" "$sent" = 200
s1=$(pc_settle listeners.web.syn_received)
t_expect "the daemon saw them" $((s1 - s0)) = 200
t_expect "8 entries: the table is full" "$(t_stat listeners.web.halfopen_entries)" = 8
t_expect "192 SYNs dropped and counted (syn_halfopen_full)" \
	$(($(t_stat listeners.web.syn_halfopen_full) - f0)) = 192
if lab_exec client curl -s -o /dev/null --connect-timeout 1 "http://$LAB_SERVER4/"; then
	t_fail "a fetch got through a full table"
fi
t_ok "a client's SYN is dropped too while the table is full"
# two retransmits (1 s, 3 s), then one doubled gap: gone 7 s after the SYN
pc_wait 10 pc_stat_eq listeners.web.halfopen_entries 0 || t_fail "entries did not expire"
t_expect "8 entries expired (and the client's, if its retry got one)" \
	$(($(t_stat listeners.web.halfopen_expired) - e0)) -ge 8
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the entries expired"
t_ok "the table serves clients again"

# ---- half_open_per_source ----
# The attacker's own address: its kernel would reset each SYN-ACK to a SYN it never
# sent, and a RST in sequence retires the entry (as the kernel drops a request), so
# the SYN-ACKs are dropped on arrival, as for a spoofed source that never answers.
lab_exec attacker iptables -I INPUT -p tcp --sport 80 --tcp-flags SYN,ACK SYN,ACK -j DROP ||
	t_fail "attacker iptables rule"
p0=$(t_stat listeners.web.syn_halfopen_source_full)
sent=$(pc_flood --dst $LAB_SERVER4 --dport 80 --kind syn --src $LAB_ATTACKER4/32 --count 10 --rate 1000)
t_expect "sgflood sent 10 SYNs from one address" "$sent" = 10
pc_settle listeners.web.syn_received >/dev/null
t_expect "3 entries for that source" "$(t_stat listeners.web.halfopen_entries)" = 3
t_expect "7 SYNs over the source's cap (syn_halfopen_source_full)" \
	$(($(t_stat listeners.web.syn_halfopen_source_full) - p0)) = 7
t_expect "no entry retired by a RST" "$(t_stat listeners.web.halfopen_reset)" = 1
lab_exec attacker iptables -D INPUT -p tcp --sport 80 --tcp-flags SYN,ACK SYN,ACK -j DROP
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "another source is not capped"
t_ok "another source still gets entries"
t_stop_daemon
echo "PASS: $T_NAME"
