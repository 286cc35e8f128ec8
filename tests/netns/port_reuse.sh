#!/bin/bash
# After a proxied connection closed, the protected address and port are free
# for a real server as soon as synguard is gone (stopped, or died and failed
# open): the repaired socket's TIME_WAIT must not hold them against a server
# that binds with SO_REUSEADDR, as every server does. TCP_REPAIR off resets a
# socket's address reuse, and a TIME_WAIT keeps the reuse its socket had: the
# daemon sets SO_REUSEADDR on each repaired socket. Over IPv4 and IPv6; the
# backend closes first, so the TIME_WAIT is on the server side.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgclient

lab_up || t_fail "lab up"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
t_backend source --listen 127.0.0.1:8080 source 100000
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

# tw_count ADDRESS: TIME_WAIT sockets on the server whose local end is ADDRESS:80.
tw_count() {
	lab_exec server ss -Htan state time-wait "( sport = :80 )" |
		awk -v a="$1" '$3 == a ":80" || $3 == "[" a "]:80"' | grep -c .
}
tw_exists() {
	[ "$(tw_count "$1")" -ge 1 ]
}

for target in "$LAB_SERVER4" "$LAB_SERVER6"; do
	# --no-halfclose: the client closes only after the server's FIN
	t_client --timeout 5 --no-halfclose "$target" 80 source 100000 >"$T_DIR/client.out" 2>&1 ||
		t_fail "fetch from $target: $(cat "$T_DIR/client.out")"
	# the server side reaches TIME_WAIT once the client's FIN is in
	if ! t_wait 10 tw_exists "$target"; then
		t_dump_sockets
		t_fail "no TIME_WAIT on $target:80 after the fetch"
	fi
	t_ok "$target: the proxied connection's server side waits in TIME_WAIT"
done
t_expect "two handoffs" "$(t_stat total.handoffs)" = 2
t_stop_daemon

cat >"$T_DIR/bind.py" <<'PYEOF'
import socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((addr, 80))
    s.listen()
except OSError as e:
    print("bind %s:80: %s" % (addr, e))
    sys.exit(1)
print("listening")
PYEOF
for target in "$LAB_SERVER4" "$LAB_SERVER6"; do
	t_expect "$target: the TIME_WAIT is still there (synguard stopped)" "$(tw_count "$target")" -ge 1
	out=$(lab_exec server $PY "$T_DIR/bind.py" "$target" 2>&1) ||
		t_fail "a server could not take $target port 80 after synguard stopped: $out"
	t_ok "$target: a server with SO_REUSEADDR binds and listens on port 80 beside the TIME_WAIT"
done
echo "PASS: $T_NAME"
