#!/bin/bash
# Live reload.
#  - a file that does not parse, or that changes the daemon section, is
#    refused (synguardctl reload and SIGHUP): the answer and the log say why,
#    the daemon keeps serving the old configuration;
#  - a reload that adds a listener and removes two (one the only IPv6 one),
#    while a long transfer runs through a third that stays (and whose half-open
#    table grows): the transfer survives byte for byte, a half-open handshake
#    of the staying listener completes after the reload, the new listener
#    serves, the removed ones are gone from the rules, the listings and the
#    counters, and the staying listener's counters carry on.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend curl

lab_up || t_fail "lab up"
T_QUEUES="0:1"
write_v1() {
	pc_config "$(pc_listener bulk $LAB_SERVER4 80 proxy 127.0.0.1:8081 hold),
$(pc_listener old $LAB_SERVER4 81 proxy 127.0.0.1:8080 default),
$(pc_listener six $LAB_SERVER6 82 proxy 127.0.0.1:8080 default)" '
	hold = { mode = "stateful"; half_open_max = 64; };
	default = { };'
}
write_v1
cp "$T_CONF" "$T_DIR/v1.conf"
t_backend http --listen 127.0.0.1:8080 http
t_backend echo --listen 127.0.0.1:8081 echo
lab_wait_tcp server 127.0.0.1 8080 && lab_wait_tcp server 127.0.0.1 8081 ||
	t_fail "backends did not start"
t_start_daemon
t_curl -o /dev/null "http://$LAB_SERVER4:81/" || t_fail "fetch on old"
t_curl -o /dev/null "http://[$LAB_SERVER6]:82/" || t_fail "fetch on six"

# ---- refused reloads ----
printf 'listeners = (\n  { name = "x"; port = ; }\n);\n' >"$T_CONF"
out=$(t_ctl reload 2>&1) && t_fail "a bad file was accepted: $out"
echo "$out"
t_expect "bad file: the answer names file and line" \
	"$(echo "$out" | grep -c "^synguardctl: error: $T_CONF:2: syntax error")" = 1
t_expect "bad file: the answer says the configuration stays" \
	"$(echo "$out" | grep -c 'configuration kept$')" = 1
t_expect "bad file: logged" "$(grep -c "control reload: error: $T_CONF:2: syntax error" \
	"$T_DIR/synguardd.log")" = 1
t_curl -o /dev/null "http://$LAB_SERVER4:81/" || t_fail "fetch after the refused reload"
t_ok "still serving the old configuration"
kill -HUP "$T_DAEMON_PID"
pc_wait 5 grep -q "SIGHUP: error: $T_CONF:2: syntax error" "$T_DIR/synguardd.log" ||
	t_fail "SIGHUP with a bad file: no log line"
t_ok "SIGHUP with a bad file: logged"
t_curl -o /dev/null "http://[$LAB_SERVER6]:82/" || t_fail "fetch after the refused SIGHUP"
sed 's/queue = "0:1"/queue = "0"/' "$T_DIR/v1.conf" >"$T_CONF"
out=$(t_ctl reload 2>&1) && t_fail "a daemon section change was accepted: $out"
t_expect "daemon section change refused" \
	"$(echo "$out" | grep -c 'daemon.queue changed: the daemon section applies at start only')" = 1

# ---- a long transfer through "bulk" ----
cat >"$T_DIR/transfer.py" <<'EOF'
import hashlib, os, socket, sys, threading, time
addr, secs = sys.argv[1], float(sys.argv[2])
s = socket.create_connection((addr, 80), timeout=20)
out, back = hashlib.sha256(), hashlib.sha256()
got = [0]
def reader():
    while True:
        d = s.recv(65536)
        if not d:
            return
        back.update(d)
        got[0] += len(d)
t = threading.Thread(target=reader)
t.start()
sent, i, t0 = 0, 0, time.monotonic()
print("started", flush=True)
while time.monotonic() - t0 < secs:
    chunk = os.urandom(16384) + i.to_bytes(8, "big")
    s.sendall(chunk)
    out.update(chunk)
    sent += len(chunk)
    i += 1
    time.sleep(0.005)
s.shutdown(socket.SHUT_WR)
t.join(30)
ok = not t.is_alive() and got[0] == sent and out.digest() == back.digest()
print("ok" if ok else "mismatch", "sent", sent, "echoed", got[0], flush=True)
EOF
lab_bg client "$T_DIR/transfer.log" $PY "$T_DIR/transfer.py" $LAB_SERVER4 8
tpid=$LAB_LAST_PID
pc_wait 5 grep -q started "$T_DIR/transfer.log" || t_fail "the transfer did not start"

# ---- a half-open handshake on "bulk": its ACK and data held back by the client ----
lab_exec client iptables -I OUTPUT -p tcp -d $LAB_SERVER4 --dport 80 --sport 40001 ! --syn -j DROP ||
	t_fail "client iptables rule"
cat >"$T_DIR/halfopen.py" <<'EOF'
import os, socket, sys, time
addr, go = sys.argv[1], sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 40001))
s.connect((addr, 80))  # our ACK is dropped: for the daemon this is half-open
print("connected", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
s.settimeout(15)
s.sendall(b"through the table\n")
print("echo", s.recv(100).decode().strip(), flush=True)
EOF
lab_bg client "$T_DIR/halfopen.log" $PY "$T_DIR/halfopen.py" $LAB_SERVER4 "$T_DIR/go"
hpid=$LAB_LAST_PID
pc_wait 5 pc_stat_eq listeners.bulk.halfopen_entries 1 || t_fail "no half-open entry on bulk"
t_ok "a half-open entry waits on bulk"
# the transfer is under way through bulk: its counters have something to carry on
pc_wait 5 pc_stat_ge listeners.bulk.bytes_to_backend 100000 || t_fail "no bytes relayed through bulk"
h0=$(t_stat listeners.bulk.handoffs)
b0=$(t_stat listeners.bulk.bytes_to_backend)

# ---- the reload: "new" comes, "old" and "six" go, "bulk" stays with a bigger table ----
pc_config "$(pc_listener bulk $LAB_SERVER4 80 proxy 127.0.0.1:8081 hold),
$(pc_listener new $LAB_SERVER4 83 proxy 127.0.0.1:8080 fresh)" '
	hold = { mode = "stateful"; half_open_max = 128; };
	fresh = { mode = "auto"; };'
out=$(t_ctl reload) || t_fail "reload refused: $out"
echo "$out"
t_expect "reload: the answer lists the changes" "$out" = \
	"reloaded $T_CONF: 2 listener(s); added new; removed old, six;"
kill -0 $tpid 2>/dev/null || t_fail "the transfer ended before the reload was done"

json=$(t_ctl listeners --json)
t_expect "listeners: bulk and new" "$(echo "$json" | $PY -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))')" = "bulk new"
t_expect "listeners: new runs mode auto" "$(pc_mode new)" = auto:stateful
t_expect "stats: bulk and new only" \
	"$(t_ctl stats --json | $PY -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["listeners"])))')" = "bulk new"
t_expect "stats: bulk's counters carried on" "$(t_stat listeners.bulk.handoffs)" -ge "$h0"
t_expect "stats: bulk's byte count carried on" "$(t_stat listeners.bulk.bytes_to_backend)" -ge "$b0"
t_expect "policy: the bigger table" \
	"$(t_ctl policy hold | grep -c '^	half_open_max = 128;$')" = 1
t_expect "the half-open entry survived the reload" "$(t_stat listeners.bulk.halfopen_entries)" = 1
rules=$(lab_exec server iptables-save)
# SYNs, ACKs, and (stateful, auto: half-open entries) RSTs that met no socket
t_expect "iptables: rules for bulk (80)" "$(echo "$rules" | grep -c -- '--dport 80 .*NFQUEUE')" = 3
t_expect "iptables: rules for new (83)" "$(echo "$rules" | grep -c -- '--dport 83 .*NFQUEUE')" = 3
t_expect "iptables: bulk's RST rule" \
	"$(echo "$rules" | grep -c -- '--dport 80 .*--tcp-flags RST RST .*NFQUEUE')" = 1
t_expect "iptables: none left for old (81)" "$(echo "$rules" | grep -c -- '--dport 81 ')" = 0
t_expect "ip6tables: the only IPv6 listener left, so did our chains" \
	"$(lab_exec server ip6tables-save | grep -c SYNGUARD)" = 0

t_curl -o /dev/null "http://$LAB_SERVER4:83/" || t_fail "fetch on the new listener"
t_ok "the new listener serves"
if lab_exec client curl -s -o /dev/null --max-time 3 "http://$LAB_SERVER4:81/"; then
	t_fail "the removed listener still answers"
fi
t_ok "the removed listener is gone"

# the half-open client's data goes through now, and completes from the table
lab_exec client iptables -D OUTPUT -p tcp -d $LAB_SERVER4 --dport 80 --sport 40001 ! --syn -j DROP
a0=$(t_stat listeners.bulk.ack_halfopen)
touch "$T_DIR/go"
wait $hpid || t_fail "half-open client: $(cat "$T_DIR/halfopen.log")"
t_expect "the half-open handshake completed after the reload" \
	"$(grep -c '^echo through the table$' "$T_DIR/halfopen.log")" = 1
t_expect "... from the table" $(($(t_stat listeners.bulk.ack_halfopen) - a0)) = 1

wait $tpid || t_fail "transfer client failed: $(cat "$T_DIR/transfer.log")"
cat "$T_DIR/transfer.log"
t_expect "the long transfer survived the reload, byte for byte" \
	"$(tail -1 "$T_DIR/transfer.log" | cut -d' ' -f1)" = ok

# SIGHUP with a good file
kill -HUP "$T_DAEMON_PID"
pc_wait 5 grep -q "SIGHUP: reloaded $T_CONF: 2 listener(s);" "$T_DIR/synguardd.log" ||
	t_fail "SIGHUP: no reload logged"
t_ok "SIGHUP reloads too"
pc_wait 5 pc_stat_eq total.active_connections 0 || t_fail "connections left open"
t_stop_daemon
echo "PASS: $T_NAME"
