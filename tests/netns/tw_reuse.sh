#!/bin/bash
# A client that reuses its source port while the server side of its previous
# connection on the same 4-tuple still waits in TIME_WAIT (the backend, so the
# relay, closed first): the new handshake ACK must reach the daemon, not the
# TIME_WAIT socket, or the connection stalls; and the client's late FIN must
# still reach the TIME_WAIT socket, or the client would hang in LAST_ACK and
# its port stay taken. Over IPv4 and IPv6.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgclient

lab_up || t_fail "lab up"
t_config "$(t_listener src4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener src6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
t_backend source --listen 127.0.0.1:8080 source 100000
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

tw_held() { lab_exec server ss -Htan state time-wait | grep -q ':40000 *$'; }

for target in "$LAB_SERVER4" "$LAB_SERVER6"; do
	for i in 1 2 3; do
		# --no-halfclose: the client closes only after the server's FIN
		t_client --timeout 5 --no-halfclose --local-port 40000 "$target" 80 source 100000 \
			>"$T_DIR/client.out" 2>&1 ||
			t_fail "fetch $i of $target from port 40000: $(cat "$T_DIR/client.out")"
		# the server side reaches TIME_WAIT once the client's FIN is in
		if ! t_wait 10 tw_held; then
			t_dump_sockets
			t_fail "fetch $i of $target: the server side waits in TIME_WAIT"
		fi
		t_ok "fetch $i of $target: the server side waits in TIME_WAIT"
	done
done
t_expect "six handoffs" "$(t_stat total.handoffs)" = 6
t_stop_daemon
t_ok "done"
