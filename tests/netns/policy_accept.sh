#!/bin/bash
# The accept queue and the connection caps.
#  - pass-fd listener, no backend yet, accept_backlog = 2, three clients:
#    "reset": the third is reset at once, the first two wait and are served by
#    the backend that connects later;
#    "drop": the third's handshake ACK and data are dropped (the client
#    retransmits) until the queue has room: all three are served;
#  - max_connections: a second concurrent connection gets the overflow action
#    (and the policy's TCP keepalive is on both sockets of the first);
#  - per_source.max_connections: the same for a second connection of one
#    source, while another source connects.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend curl

lab_up || t_fail "lab up"
T_QUEUES="0:1"
pc_config "$(pc_listener fdreset $LAB_SERVER4 90 pass-fd unix:$T_DIR/fdreset.sock q_reset),
$(pc_listener fddrop $LAB_SERVER4 91 pass-fd unix:$T_DIR/fddrop.sock q_drop),
$(pc_listener capped $LAB_SERVER4 92 proxy 127.0.0.1:8081 capped),
$(pc_listener persrc $LAB_SERVER4 93 proxy 127.0.0.1:8081 persrc)" '
	q_reset = { accept_backlog = 2; accept_overflow = "reset"; accept_timeout = 30; };
	q_drop = { accept_backlog = 2; accept_overflow = "drop"; accept_timeout = 30; };
	capped = { max_connections = 1; accept_overflow = "reset";
	           keepalive = { idle = 30; interval = 5; count = 3; }; };
	persrc = { per_source = { max_connections = 1; }; accept_overflow = "reset"; };'
t_backend echo --listen 127.0.0.1:8081 echo
lab_wait_tcp server 127.0.0.1 8081 || t_fail "backend did not start"
t_start_daemon

# conns.py ADDR PORT N WAIT [STOPFILE]: N connections 0.3 s apart, each sends a
# request; prints, per connection, what happened first (answer, reset, eof, or
# nothing) and when. Holds them until WAIT seconds or until STOPFILE exists.
cat >"$T_DIR/conns.py" <<'EOF'
import os, select, socket, sys, time
addr, port, n, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop = sys.argv[5] if len(sys.argv) > 5 else None
t0 = time.monotonic()
socks, fate = [], {}
def note(i, what):
    fate.setdefault(i, "%s %.1f" % (what, time.monotonic() - t0))
for i in range(n):
    socks.append(None)
    try:
        s = socket.create_connection((addr, port), timeout=5)
        s.setblocking(False)
        socks[i] = s
        s.send(b"GET / HTTP/1.0\r\n\r\n")
    except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
        note(i, "reset")
    time.sleep(0.3)
while time.monotonic() - t0 < wait and not (stop and os.path.exists(stop)):
    live = [s for i, s in enumerate(socks) if i not in fate and s is not None]
    if not live:
        if not stop:
            break
        time.sleep(0.05)  # hold the connections until told
        continue
    r, _, _ = select.select(live, [], [], 0.05)
    for s in r:
        i = socks.index(s)
        try:
            note(i, "answer" if s.recv(4096) else "eof")
        except ConnectionResetError:
            note(i, "reset")
for i in range(n):
    print("conn", i, fate.get(i, "nothing"), flush=True)
EOF
conns() { lab_exec "$1" $PY "$T_DIR/conns.py" "${@:2}"; }
# pa_queue_eq LISTENER N: the listeners view shows N in the accept queue.
pa_queue_eq() { [ "$(t_ctl listeners --json | lab_json_get "$1.accept_queue")" = "$2" ]; }

# ---- pass-fd accept queue, overflow "reset" then "drop" ----
for kind in reset drop; do
	name=fd$kind
	[ $kind = reset ] && port=90 || port=91
	lab_bg client "$T_DIR/$name.log" $PY "$T_DIR/conns.py" $LAB_SERVER4 $port 3 15
	cpid=$LAB_LAST_PID
	pc_wait 5 pc_stat_ge listeners.$name.accept_overflow 1 ||
		t_fail "$kind: the third connection did not overflow"
	pc_wait 5 pa_queue_eq $name 2
	q=$(t_ctl listeners --json | lab_json_get $name.accept_queue)
	t_expect "$kind: two connections wait in the accept queue" "$q" = 2
	t_expect "$kind: the accept_queue gauge agrees" "$(t_stat listeners.$name.accept_queue)" = 2
	t_backend $name --passfd "$T_DIR/$name.sock" http
	wait $cpid || t_fail "$kind: client script failed: $(cat "$T_DIR/$name.log")"
	cat "$T_DIR/$name.log"
	t_expect "$kind: the first waited and was served" \
		"$(awk '$1 == "conn" && $2 == 0 { print $3 }' "$T_DIR/$name.log")" = answer
	t_expect "$kind: the second waited and was served" \
		"$(awk '$1 == "conn" && $2 == 1 { print $3 }' "$T_DIR/$name.log")" = answer
	third=$(awk '$1 == "conn" && $2 == 2 { print $3, $4 }' "$T_DIR/$name.log")
	if [ $kind = reset ]; then
		t_expect "reset: the third was reset at once ($third)" \
			"$(echo "$third" | awk '$1 == "reset" && $2 < 1.5 { print "yes" }')" = yes
		t_expect "reset: handed over 2" "$(t_stat listeners.$name.handoffs)" = 2
	else
		t_expect "drop: the third retransmitted its way in ($third)" "${third%% *}" = answer
		t_expect "drop: handed over 3" "$(t_stat listeners.$name.handoffs)" = 3
	fi
	t_expect "$kind: the accept queue is empty" "$(t_stat listeners.$name.accept_queue)" = 0
done

# ---- max_connections ----
lab_bg client "$T_DIR/hold.log" $PY "$T_DIR/conns.py" $LAB_SERVER4 92 1 20 "$T_DIR/stop-hold"
hpid=$LAB_LAST_PID
pc_wait 5 pc_stat_eq listeners.capped.active_connections 1 || t_fail "the first connection"
# keepalive on both sockets the daemon holds: the client's and the backend's
ka=$(lab_exec server ss -tnoH state established '( sport = :92 or dport = :8081 )')
echo "$ka"
t_expect "keepalive: the client's socket" \
	"$(echo "$ka" | grep -- ':92 ' | grep -c 'timer:(keepalive,')" = 1
t_expect "keepalive: the backend socket" \
	"$(echo "$ka" | grep -- ':8081 ' | grep -c 'timer:(keepalive,')" = 1
out=$(conns client $LAB_SERVER4 92 1 2)
echo "$out"
t_expect "max_connections 1: a second concurrent one is reset" \
	"$(echo "$out" | awk '$1 == "conn" { print $3 }')" = reset
# (its handshake ACK, and its request if it raced the reset: each refused and counted)
t_expect "max_connections: counted" "$(t_stat listeners.capped.conn_limited)" -ge 1
touch "$T_DIR/stop-hold"
wait $hpid
pc_wait 5 pc_stat_eq listeners.capped.active_connections 0 || t_fail "the first did not close"
out=$(conns client $LAB_SERVER4 92 1 2)
t_expect "max_connections: room again once it closed" \
	"$(echo "$out" | awk '$1 == "conn" { print $3 }')" = answer

# ---- per_source.max_connections ----
rm -f "$T_DIR/stop-hold"
lab_bg client "$T_DIR/hold2.log" $PY "$T_DIR/conns.py" $LAB_SERVER4 93 1 20 "$T_DIR/stop-hold"
hpid=$LAB_LAST_PID
pc_wait 5 pc_stat_eq listeners.persrc.active_connections 1 || t_fail "the first connection"
out=$(conns client $LAB_SERVER4 93 1 2)
t_expect "per source: a second connection of the client is reset" \
	"$(echo "$out" | awk '$1 == "conn" { print $3 }')" = reset
t_expect "per source: counted" "$(t_stat listeners.persrc.source_conn_limited)" -ge 1
out=$(conns attacker $LAB_SERVER4 93 1 2)
t_expect "per source: another source connects" \
	"$(echo "$out" | awk '$1 == "conn" { print $3 }')" = answer
t_expect "listeners: one source prefix counted while the client holds one" \
	"$(t_ctl listeners --json | lab_json_get persrc.sources)" = 1
touch "$T_DIR/stop-hold"
wait $hpid
t_stop_daemon
echo "PASS: $T_NAME"
