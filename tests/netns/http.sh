#!/bin/bash
# HTTP fetches through synguardd with curl: both handoff modes (proxy,
# pass-fd), both families. Every fetch must be a handoff of its own listener;
# a pass-fd backend must see the real client as the socket's peer.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgclient curl

N=5
lab_up || t_fail "lab up"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080),
$(t_listener pf4 $LAB_SERVER4 81 pass-fd "unix:$T_DIR/pf4.sock"),
$(t_listener pf6 $LAB_SERVER6 81 pass-fd "unix:$T_DIR/pf6.sock")"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon
# pass-fd backends connect to the sockets the daemon created
lab_wait_path "$T_DIR/pf4.sock" && lab_wait_path "$T_DIR/pf6.sock" ||
	t_fail "pass-fd sockets missing"
t_backend pf4 --passfd "$T_DIR/pf4.sock" http
t_backend pf6 --passfd "$T_DIR/pf6.sock" http
for b in pf4 pf6; do
	for i in $(seq 50); do
		grep -q "passfd connected" "$T_DIR/backend-$b.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "passfd connected" "$T_DIR/backend-$b.log" || t_fail "backend $b did not connect"
done

fetch() { # NAME URL EXPECTED-CLIENT-ADDRESS-PREFIX
	local name=$1 url=$2 want=$3 i body
	for i in $(seq $N); do
		body=$(t_curl -f "$url") || t_fail "$name: fetch $i of $url"
		case "$body" in
		"client=$want"*) ;;
		*) t_fail "$name: body '$body', expected client=$want..." ;;
		esac
	done
	t_ok "$name: $N fetches of $url (backend saw $body)"
	t_expect "$name: $N handoffs" "$(t_stat "listeners.$name.handoffs")" = $N
	t_expect "$name: no failed handoff" "$(t_stat "listeners.$name.handoff_failed")" = 0
	t_expect "$name: no failed repair" "$(t_stat "listeners.$name.repair_failed")" = 0
}

# proxy without a PROXY header: the backend sees the relay's loopback address
fetch web4 "http://$LAB_SERVER4/" "127.0.0.1:"
fetch web6 "http://[$LAB_SERVER6]/" "127.0.0.1:"
# pass-fd: the backend holds the client's own socket
fetch pf4 "http://$LAB_SERVER4:81/" "$LAB_CLIENT4:"
fetch pf6 "http://[$LAB_SERVER6]:81/" "[$LAB_CLIENT6]:"

# the port the pass-fd backend reports is the client's own
out=$(t_client "$LAB_SERVER6" 81 http /) || t_fail "sgclient http: $out"
local_addr=$(echo "$out" | sed -n 's/^local=//p')
t_expect "pass-fd backend sees the client's address and port" \
	"$(echo "$out" | sed -n 's/^body=//p')" = "client=$local_addr"

t_expect "SYNs answered (4 x $N + 1)" "$(t_stat total.synack_sent)" -ge $((4 * N + 1))
t_expect "no connection left open" "$(t_stat total.active_connections)" = 0
echo "PASS: $T_NAME"
