#!/bin/bash
# The daemon as systemd/synguard.service runs it, without systemd: started
# as a non-root user (nobody here) with the unit's ambient and bounding
# capabilities and no_new_privs, in a runtime directory made for it, with
# NOTIFY_SOCKET, WATCHDOG_USEC and JOURNAL_STREAM pointing at a fake service
# manager and a log file. It must change nothing about its credentials, log
# with journal priority prefixes, send READY=1, WATCHDOG=1 at half the
# interval, a STATUS= line with its rates, STOPPING=1, serve a real fetch,
# read the NFQUEUE table the unit's ExecStartPre made readable, and remove its
# rules at SIGTERM. Without the ambient capabilities it refuses to start.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend curl setpriv
getent passwd nobody >/dev/null || t_skip "no user nobody"
nobody_gid=$(id -g nobody)
caps=+net_admin,+net_raw,+net_bind_service
unit_caps=0000000000003400

lab_up || t_fail "lab up"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"

# RuntimeDirectory=synguard, RuntimeDirectoryMode=0750
chmod 755 "$T_DIR"
mkdir "$T_DIR/run"
chown nobody:"$nobody_gid" "$T_DIR/run"
chmod 750 "$T_DIR/run"
T_SOCK=$T_DIR/run/control.sock
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080)"
sed -i 's|^\tuser = .*|\tuser = "nobody";|' "$T_CONF"
# ExecStartPre=-+/bin/chgrp synguard /proc/net/netfilter/nfnetlink_queue
lab_exec server chgrp "$nobody_gid" /proc/net/netfilter/nfnetlink_queue || t_fail "chgrp"

# the fake service manager: prints every notification, one per line, for 30 s at most
notify_sock=$T_DIR/notify.sock
$PY - "$notify_sock" >"$T_DIR/notify.log" 2>&1 <<'PYEOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
end = time.time() + 30
while time.time() < end:
    s.settimeout(max(0.1, end - time.time()))
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        break
    print(msg.replace("\n", " | "), flush=True)
PYEOF
manager=$!
LAB_PIDS+=("$manager") # stopped by the cleanup trap too
for i in $(seq 50); do [ -S "$notify_sock" ] && break; sleep 0.1; done

log=$T_DIR/synguardd.log
: >"$log"
journal_stream=$(stat -c '%d:%i' "$log")
unit_run() { # SETPRIV-CAP-ARGS...
	lab_bg server "$log" env NOTIFY_SOCKET="$notify_sock" WATCHDOG_USEC=1000000 \
		JOURNAL_STREAM="$journal_stream" setpriv --reuid=nobody --regid="$nobody_gid" \
		--clear-groups --no-new-privs "$@" "$SYNGUARDD" -c "$T_CONF"
}

# ---- without ambient capabilities: refused ----
unit_run --bounding-set=-all,$caps
pid=$LAB_LAST_PID
wait "$pid"
t_expect "no capabilities: exit status 1" $? = 1
grep -q "^<3>privileges: the process lacks CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW" "$log" ||
	t_fail "no clear refusal: $(cat "$log")"
t_ok "no capabilities: $(head -n 1 "$log")"

# ---- as the unit runs it ----
: >"$log"
unit_run --inh-caps=-all,$caps --ambient-caps=-all,$caps --bounding-set=-all,$caps
pid=$LAB_LAST_PID
for i in $(seq 100); do
	grep -q "READY=1" "$T_DIR/notify.log" && break
	kill -0 "$pid" 2>/dev/null || t_fail "synguardd exited at start"
	sleep 0.1
done
grep -q "READY=1" "$T_DIR/notify.log" || t_fail "no READY=1"
t_ok "READY=1 sent"

st=/proc/$pid/status
t_expect "still nobody" "$(sed -n 's/^Uid:[[:space:]]*//p' $st | tr -s '\t ' ' ')" = "65534 65534 65534 65534"
for f in CapEff CapPrm CapAmb CapBnd; do
	t_expect "$f is the unit's" "$(sed -n "s/^$f:[[:space:]]*//p" $st)" = $unit_caps
done
grep -q "^<6>privileges: started as uid 65534, capabilities CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW$" "$log" ||
	t_fail "no journal-prefixed privilege line: $(cat "$log")"
t_ok "log lines carry journal priorities"
if grep -q "^<4>privileges" "$log"; then
	t_fail "privilege warnings under the unit's capabilities: $(grep '^<4>' "$log")"
fi
if grep -q "no packet socket" "$log"; then
	t_fail "no layer-2 SYN-ACKs under the unit's capabilities: $(grep 'packet socket' "$log")"
fi
grep -q "^<6>systemd watchdog: 1.0 s, pinging every 0.5 s$" "$log" || t_fail "watchdog not enabled"

t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch through the daemon"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "second fetch through the daemon"
lab_exec server curl -sS --max-time 5 http://127.0.0.1:9477/metrics |
	grep -q '^synguard_nfqueue_length{queue="0"} [0-9]*$' ||
	t_fail "NFQUEUE table not read under the unit's setup"
t_ok "NFQUEUE table read (group access, as ExecStartPre gives it)"

# a STATUS= line comes every 5 s
for i in $(seq 80); do
	grep -q "STATUS=mode cookie; .* 2 handoffs in all" "$T_DIR/notify.log" && break
	sleep 0.1
done
grep -q "STATUS=mode cookie; [0-9]* SYN/s, [0-9]* valid ACK/s, [0-9]* handoffs/s; 0 active; 2 handoffs in all" \
	"$T_DIR/notify.log" || t_fail "no STATUS= line with the handoffs: $(cat "$T_DIR/notify.log")"
t_ok "$(grep -o 'STATUS=mode.*' "$T_DIR/notify.log" | tail -n 1)"
pings=$(grep -c "WATCHDOG=1" "$T_DIR/notify.log")
t_expect "watchdog pings every 0.5 s ($pings)" "$pings" -ge 8

kill -TERM "$pid"
for i in $(seq 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && t_fail "still running 10 s after SIGTERM"
wait "$pid"
t_expect "exit status 0" $? = 0
t_expect "rules removed" "$(lab_exec server iptables-save | grep -c SYNGUARD)" = 0
t_wait 5 grep -q "STOPPING=1" "$T_DIR/notify.log" || t_fail "no STOPPING=1"
t_ok "STOPPING=1 sent"
kill "$manager" 2>/dev/null
wait "$manager" 2>/dev/null
echo "PASS: $T_NAME"
