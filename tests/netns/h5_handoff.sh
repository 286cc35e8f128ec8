#!/bin/bash
# The service side end to end: connections proven by the cookie handshake
# reach sgbackend through the proxy relay (plain, PROXY v1 over IPv4, PROXY
# v2 over IPv6) and through pass-fd, with their data intact both ways
# (echo with half-close, sink with byte count and FNV-1a, source), the real
# client address where the backend should see it, resets propagated both
# ways, the idle timeout, a dead backend and a missing pass-fd backend
# resetting the client at once, and the counters to match.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend curl
SGLAB_PREFIX=h5t-$$ # per run: two runs at once must not tear down each other's lab

lab_up || t_fail "lab up"

cat >"$T_CONF" <<EOF
daemon: {
	queue = "0";
	firewall = "iptables";
	fail_open = false;
	control_socket = "$T_SOCK";
	user = "root";
};
listeners = (
	$(t_listener plain $LAB_SERVER4 80 proxy 127.0.0.1:8080),
	$(t_listener ppv1 $LAB_SERVER4 81 proxy 127.0.0.1:8081 1),
	$(t_listener ppv2 $LAB_SERVER6 81 proxy 127.0.0.1:8082 2),
	$(t_listener echo $LAB_SERVER4 82 proxy 127.0.0.1:8083),
	$(t_listener sink $LAB_SERVER6 82 proxy 127.0.0.1:8084),
	$(t_listener source $LAB_SERVER4 83 proxy 127.0.0.1:8085),
	$(t_listener dead $LAB_SERVER4 84 proxy 127.0.0.1:9),
	$(t_listener fdhttp $LAB_SERVER4 85 pass-fd unix:$T_DIR/fdhttp.sock),
	$(t_listener fdecho $LAB_SERVER6 85 pass-fd unix:$T_DIR/fdecho.sock),
	{ name = "fdnone"; address = "$LAB_SERVER4"; port = 86; handoff = "pass-fd";
	  backend = "unix:$T_DIR/fdnone.sock"; policy = "nowait"; },
	{ name = "idle"; address = "$LAB_SERVER4"; port = 87; handoff = "proxy";
	  backend = "127.0.0.1:8083"; policy = "short"; }
);
policies = {
	default = { };
	short = { idle_timeout = 2; };
	nowait = { accept_timeout = 1; };
};
EOF

t_backend plain --listen 127.0.0.1:8080 http
t_backend ppv1 --listen 127.0.0.1:8081 --proxy-protocol 1 http
t_backend ppv2 --listen 127.0.0.1:8082 --proxy-protocol 2 http
t_backend echo --listen 127.0.0.1:8083 echo
t_backend sink --listen 127.0.0.1:8084 sink
t_backend source --listen 127.0.0.1:8085 source 3000000
for p in 8080 8081 8082 8083 8084 8085; do
	lab_wait_tcp server 127.0.0.1 $p || t_fail "backend on port $p did not start"
done
t_start_daemon
# pass-fd backends connect once the daemon's sockets exist
t_backend fdhttp --passfd "$T_DIR/fdhttp.sock" http
t_backend fdecho --passfd "$T_DIR/fdecho.sock" echo
for b in fdhttp fdecho; do
	for i in $(seq 50); do
		grep -q '^passfd connected' "$T_DIR/backend-$b.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '^passfd connected' "$T_DIR/backend-$b.log" || t_fail "$b backend did not connect"
done
# ... and the daemon has registered them
for i in $(seq 100); do
	[ "$(grep -c 'backend connected' "$T_DIR/synguardd.log")" -ge 2 ] && break
	sleep 0.1
done
t_expect "daemon registered both pass-fd backends" \
	"$(grep -c 'backend connected' "$T_DIR/synguardd.log")" = 2

t_expect "pass-fd socket has mode 660" "$(stat -c %a "$T_DIR/fdhttp.sock")" = 660

# body_port URL: fetches URL, prints "BODY LOCALPORT" on one line.
fetch() {
	t_curl -w ' %{local_port}' "$1" | tr -d '\n'
}

# probe ADDR PORT: connects, sends a request, says how the connection ended:
# reset, eof, data, or timeout (after 3 s: a backend connect would take 5).
probe() {
	lab_exec client $PY - "$1" "$2" <<'EOF'
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    print("eof" if s.recv(100) == b"" else "data")
except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
    print("reset")
except socket.timeout:
    print("timeout")
EOF
}

# data ADDR PORT MODE [BYTES]: a data client that checks what it gets.
#   echo BYTES  send seeded bytes while reading the echo, half-close after the
#               last one, read to EOF: "ok" when the echo is identical
#   sink BYTES  send seeded bytes, half-close, print the reply (the backend's
#               count and FNV-1a) and "want=" what it should be
#   recv        read to EOF: "BYTES SHA256"
data() {
	lab_exec client $PY - "$@" <<'EOF'
import hashlib, random, socket, sys, threading
addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 0
s = socket.create_connection((addr, port), timeout=30)
def read_all():
    got = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            return b"".join(got)
        got.append(b)
if mode == "recv":
    b = read_all()
    print(len(b), hashlib.sha256(b).hexdigest())
    sys.exit(0)
data = random.Random(n).randbytes(n)
back = []
t = threading.Thread(target=lambda: back.append(read_all()))
t.start()  # reading while sending: full buffers cannot deadlock us
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join()
if mode == "echo":
    print("ok" if back[0] == data else "differs: sent %d got %d" % (n, len(back[0])))
else:
    h = 0xcbf29ce484222325
    for x in data:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    print(back[0].decode().strip(), "want=bytes=%d fnv1a64=%016x" % (n, h))
EOF
}

# ---- proxy relay, plain: the backend sees the daemon, on loopback ----
out=$(fetch "http://$LAB_SERVER4/") || t_fail "plain fetch"
case $out in
client=127.0.0.1:*) t_ok "plain relay answered ($out)" ;;
*) t_fail "plain relay: unexpected answer '$out'" ;;
esac

# ---- PROXY v1 (IPv4) and v2 (IPv6): the backend sees the real client ----
out=$(fetch "http://$LAB_SERVER4:81/") || t_fail "v1 fetch"
port=${out##* }
t_expect "PROXY v1: backend saw the client address and port" \
	"${out% *}" = "client=$LAB_CLIENT4:$port"
t_expect "PROXY v1: header named the protected address" \
	"$(grep -c "^proxy v1 client=$LAB_CLIENT4:$port server=$LAB_SERVER4:81 " "$T_DIR/backend-ppv1.log")" = 1
out=$(fetch "http://[$LAB_SERVER6]:81/") || t_fail "v2 fetch"
port=${out##* }
t_expect "PROXY v2 over IPv6: backend saw the client address and port" \
	"${out% *}" = "client=[$LAB_CLIENT6]:$port"
t_expect "PROXY v2: header named the protected address" \
	"$(grep -c "^proxy v2 client=\[$LAB_CLIENT6\]:$port server=\[$LAB_SERVER6\]:81 " "$T_DIR/backend-ppv2.log")" = 1

# ---- data integrity and half-close, both directions ----
t_expect "echo 8 MB through the relay, half-close propagated both ways" \
	"$(data $LAB_SERVER4 82 echo 8000000)" = ok
res=$(data $LAB_SERVER6 82 sink 3000000)
t_expect "sink over IPv6: every byte arrived, in order ($res)" "${res% want=*}" = "${res#* want=}"
want=$($PY -c 'import hashlib; print(hashlib.sha256(bytes(i % 251 for i in range(3000000))).hexdigest())')
t_expect "source: 3 MB pattern from the backend arrived intact" \
	"$(data $LAB_SERVER4 83 recv)" = "3000000 $want"

# ---- many at once ----
pids=
for i in $(seq 40); do
	data $LAB_SERVER4 82 echo 200000 >"$T_DIR/par-$i.out" &
	pids="$pids $!"
done
wait $pids
t_expect "40 concurrent echo relays all intact" "$(cat "$T_DIR"/par-*.out | grep -c '^ok$')" = 40

# ---- resets ----
# a client resets mid-stream (on the idle listener, echo backend too):
# the backend's connection ends in a reset
lab_exec client $PY - $LAB_SERVER4 <<'EOF' || t_fail "reset client"
import socket, struct, sys, time
s = socket.create_connection((sys.argv[1], 87), timeout=5)
s.sendall(b"x" * 1000)
assert len(s.recv(1000)) > 0
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOF
for i in $(seq 50); do
	grep -q 'reset$' "$T_DIR/backend-echo.log" && break
	sleep 0.1
done
t_expect "client reset reached the backend as a reset" \
	"$(grep -c 'reset$' "$T_DIR/backend-echo.log")" -ge 1

# dead backend: the client is reset at once, not left hanging
t_expect "dead backend: the client is reset at once" \
	"$(probe $LAB_SERVER4 84)" = reset
t_expect "dead backend: handoff_failed counted" "$(t_stat listeners.dead.handoff_failed)" = 1
t_expect "dead backend: no handoff counted" "$(t_stat listeners.dead.handoffs)" = 0

# ---- idle timeout: 2 s of silence resets both sides ----
idle=$(lab_exec client $PY - $LAB_SERVER4 <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 87), timeout=10)
for _ in range(6):  # a byte each way every 0.5 s keeps it open past 2 s
    s.sendall(b"k")
    assert s.recv(1) == b"k"
    last = time.monotonic()
    time.sleep(0.5)
try:
    r = s.recv(1)
    print("eof" if r == b"" else "data")
except ConnectionResetError:
    print("%.1f" % (time.monotonic() - last))
EOF
)
# 2 s after the last byte, give or take a loaded machine's scheduling
t_expect "idle timeout reset the client ${idle} s after the last byte" \
	"$(echo "$idle" | awk '$1 ~ /^[0-9.]+$/ && $1 >= 1.5 && $1 < 4 { print "yes" }')" = yes

# ---- pass-fd ----
out=$(fetch "http://$LAB_SERVER4:85/") || t_fail "pass-fd fetch"
port=${out##* }
t_expect "pass-fd: backend's getpeername is the client" "${out% *}" = "client=$LAB_CLIENT4:$port"
t_expect "pass-fd: record and getpeername agree" \
	"$(grep -c "^passfd client=$LAB_CLIENT4:$port server=$LAB_SERVER4:85 listener=fdhttp peer=$LAB_CLIENT4:$port$" "$T_DIR/backend-fdhttp.log")" = 1
t_expect "pass-fd over IPv6: 8 MB full-duplex echo straight from the backend" \
	"$(data $LAB_SERVER6 85 echo 8000000)" = ok
t_expect "pass-fd moved no byte through the daemon" \
	"$(t_stat listeners.fdecho.bytes_to_backend)" = 0

# (held in the accept queue for accept_timeout, then reset: policy_*.sh tests the wait)
t_expect "pass-fd without a backend: the client is reset" "$(probe $LAB_SERVER4 86)" = reset
t_expect "pass-fd without a backend: handoff_failed counted" \
	"$(t_stat listeners.fdnone.handoff_failed)" = 1
t_expect "pass-fd without a backend: after waiting accept_timeout" \
	"$(t_stat listeners.fdnone.accept_timeout)" = 1

# ---- counters ----
t_expect "echo listener: 8 MB + 40 x 200 kB to the backend" \
	"$(t_stat listeners.echo.bytes_to_backend)" = $((8000000 + 40 * 200000))
t_expect "echo listener: the same back to the clients" \
	"$(t_stat listeners.echo.bytes_to_client)" = $((8000000 + 40 * 200000))
t_expect "sink listener: bytes to backend" "$(t_stat listeners.sink.bytes_to_backend)" = 3000000
t_expect "source listener: bytes to client" "$(t_stat listeners.source.bytes_to_client)" = 3000000
t_expect "echo listener: 41 handoffs" "$(t_stat listeners.echo.handoffs)" = 41
t_expect "pass-fd handoffs" "$(t_stat listeners.fdhttp.handoffs)/$(t_stat listeners.fdecho.handoffs)" = 1/1
t_expect "no relay left open" "$(t_stat total.active_connections)" = 0

# ---- shutdown removes the pass-fd sockets ----
t_stop_daemon
t_expect "pass-fd sockets removed at exit" "$(ls "$T_DIR"/*.sock 2>/dev/null | wc -l)" = 0
# (with a sanitizer build, a report from the daemon or a backend fails the test)
t_expect "no sanitizer report" "$(cat "$T_DIR"/*.log | grep -c 'Sanitizer')" = 0
echo "PASS: $T_NAME"
