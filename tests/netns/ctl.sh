#!/bin/bash
# synguardctl against a running synguardd: status, stats (table and JSON,
# counters per listener and queue, summing to the total), the socket path
# taken from the configuration, errors and exit codes (no daemon, permission
# denied, unknown command).
. "$(dirname "$0")/lib.sh" "$@"
t_need curl sgbackend

lab_up || t_fail "lab up"
T_QUEUES="0:1"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"

# no daemon yet
out=$("$SYNGUARDCTL" -s "$T_SOCK" status 2>&1) && t_fail "status without a daemon succeeded"
t_expect "no daemon: a clear message" \
	"$out" = "synguardctl: cannot connect to $T_SOCK: daemon not running? (No such file or directory)"

t_start_daemon
for i in 1 2 3; do t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch $i"; done
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch IPv6"

status=$(t_ctl status) || t_fail "status"
echo "$status"
t_expect "status: the daemon's pid" "$(echo "$status" | sed -n 's/^pid: //p')" = "$T_DAEMON_PID"
t_expect "status: two queues" "$(echo "$status" | sed -n 's/^queues: //p')" = "2 (0,1)"
t_expect "status: two listeners" "$(echo "$status" | sed -n 's/^listeners: //p')" = 2

# the socket path from the configuration file, no -s (the uptime may have ticked meanwhile)
t_expect "status via -c CONFIG" "$("$SYNGUARDCTL" -c "$T_CONF" status | grep -v '^uptime: ')" = \
	"$(echo "$status" | grep -v '^uptime: ')"

json=$(t_ctl stats --json) || t_fail "stats --json"
echo "$json" | $PY -c '
import json, sys
s = json.load(sys.stdin)
t, l, u, q = s["total"], s["listeners"], s["unmatched"], s["queues"]
assert set(l) == {"web4", "web6"}, l
assert set(q) == {"0", "1"}, q
for k in t:
    assert t[k] == l["web4"][k] + l["web6"][k] + u[k], k
    if k in ("syn_received", "synack_sent", "ack_valid", "ack_invalid"):
        assert t[k] == q["0"][k] + q["1"][k], k
assert l["web4"]["handoffs"] == 3 and l["web6"]["handoffs"] == 1, l
assert t["syn_received"] >= 4 and t["synack_sent"] >= 4, t
' || t_fail "stats --json does not add up: $json"
t_ok "stats --json: listeners and queues add up to the total"

table=$(t_ctl stats) || t_fail "stats"
echo "$table" | head -3
t_expect "stats table: header" "$(echo "$table" | head -1 | tr -s ' ')" = "counter total web4 web6 unmatched"
t_expect "stats table: handoffs row" "$(echo "$table" | awk '$1 == "handoffs" {print $2, $3, $4, $5}')" = "4 3 1 0"

out=$(t_ctl frobnicate 2>&1) && t_fail "an unknown command succeeded"
t_expect "unknown command: exit 1 and a message" "$(echo "$out" | head -1)" = \
	'synguardctl: unknown command "frobnicate"'
out=$(printf 'frobnicate\n' | lab_exec server $PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
print(s.makefile().read(), end="")' "$T_SOCK")
t_expect "daemon answers an unknown request with an error line" \
	"$out" = 'error: unknown command "frobnicate" (try "help")'

if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$SYNGUARDCTL" -s "$T_SOCK" status 2>&1) &&
		t_fail "an unprivileged user could use the control socket"
	case $out in
	*"cannot connect to $T_SOCK: permission denied"*) t_ok "unprivileged user: permission denied" ;;
	*) t_fail "unprivileged user: unexpected message: $out" ;;
	esac
fi
t_stop_daemon
echo "PASS: $T_NAME"
