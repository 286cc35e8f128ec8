#!/bin/bash
# synguardd under valgrind memcheck in the lab: fetches over both families
# and both handoffs (relay with PROXY v2, a 1 MB upload, pass-fd), a small
# SYN flood, forged ACKs, the hostile corpus once, control and metrics
# requests, a reload, then SIGTERM. The daemon must exit 0 (valgrind's error exit code
# is not 0), with no memcheck error, no leak (definite, indirect or possible)
# and no syscall valgrind does not know (TCP_REPAIR and friends go through
# setsockopt, NFQUEUE through netlink recvmmsg/sendto: all known).
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood sgclient curl socat valgrind
HOSTILE=$T_BUILD/tests/lab/hostile
# AddressSanitizer and valgrind do not run together; the ASan build has its own checks
grep -qa __asan_init "$SYNGUARDD" && t_skip "synguardd is built with AddressSanitizer"

lab_up || t_fail "lab up"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080),
$(t_listener pp2 $LAB_SERVER4 81 proxy 127.0.0.1:8082 2),
$(t_listener sink4 $LAB_SERVER4 82 proxy 127.0.0.1:8083),
$(t_listener pf6 $LAB_SERVER6 83 pass-fd "unix:$T_DIR/pf6.sock")"
t_backend http --listen 127.0.0.1:8080 http
t_backend pp2 --listen 127.0.0.1:8082 --proxy-protocol 2 http
t_backend sink --listen 127.0.0.1:8083 sink
for p in 8080 8082 8083; do lab_wait_tcp server 127.0.0.1 $p || t_fail "backend $p did not start"; done

"$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/conf-check.log" 2>&1 || t_fail "configuration rejected"
VG=$T_DIR/valgrind.txt
lab_bg server "$T_DIR/synguardd.log" valgrind --tool=memcheck --error-exitcode=99 \
	--leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --track-fds=yes \
	--log-file="$VG" "$SYNGUARDD" -v -c "$T_CONF"
T_DAEMON_PID=$LAB_LAST_PID
for i in $(seq 300); do
	kill -0 "$T_DAEMON_PID" 2>/dev/null || { cat "$VG"; t_fail "synguardd under valgrind exited at start"; }
	if t_ctl status >/dev/null 2>&1 &&
		lab_exec server iptables-save 2>/dev/null | grep -q NFQUEUE &&
		lab_exec server ip6tables-save 2>/dev/null | grep -q NFQUEUE; then
		break
	fi
	sleep 0.1
done
t_ctl status >/dev/null || t_fail "synguardd under valgrind did not come up in 30 s"
lab_wait_path "$T_DIR/pf6.sock" || t_fail "pass-fd socket missing"
t_backend pf6 --passfd "$T_DIR/pf6.sock" http

for i in 1 2 3; do
	t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch $i (IPv4)"
	t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch $i (IPv6)"
	t_curl -o /dev/null "http://$LAB_SERVER4:81/" || t_fail "fetch $i (PROXY v2)"
	t_curl -o /dev/null "http://[$LAB_SERVER6]:83/" || t_fail "fetch $i (pass-fd)"
done
out=$(t_client --timeout 30 "$LAB_SERVER4" 82 sink 1000000) || t_fail "1 MB upload: $out"
echo "upload: $out"

lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --dst "$LAB_SERVER4" \
	--dport 80 --kind mix --count 3000 --rate 1000 --quiet || t_fail "flood"
lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --dst "$LAB_SERVER6" \
	--dport 80 --kind syn --count 1000 --rate 1000 --quiet || t_fail "IPv6 flood"
if [ -x "$HOSTILE" ]; then
	lab_exec attacker "$HOSTILE" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --interleave \
		--count 2 --rate 500 || t_fail "hostile"
fi
t_ctl stats >/dev/null || t_fail "stats"
t_ctl stats --json >/dev/null || t_fail "stats --json"
t_ctl listeners >/dev/null || t_fail "listeners"
t_ctl policy default >/dev/null || t_fail "policy default"
# what synguardctl would refuse to send, straight to the socket
for req in help bogus 'stats --xml' "$(head -c 300 /dev/zero | tr '\0' x)"; do
	printf '%s\n' "$req" | socat -t 10 - "UNIX-CONNECT:$T_SOCK" >/dev/null || t_fail "raw request"
done
lab_exec server curl -s -o /dev/null --max-time 10 http://127.0.0.1:9477/metrics || t_fail "metrics"
t_ctl reload >/dev/null || t_fail "reload"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the floods"
t_ctl stats | awk '$2 != 0'

kill -TERM "$T_DAEMON_PID"
for i in $(seq 600); do
	kill -0 "$T_DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$T_DAEMON_PID" 2>/dev/null && t_fail "synguardd under valgrind did not exit within 60 s"
wait "$T_DAEMON_PID"
st=$?
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|FILE DESCRIPTORS" "$VG"
if grep -qiE "unhandled (ioctl|syscall)|unsupported|unrecognised instruction" "$VG"; then
	grep -iE -B2 -A8 "unhandled|unsupported|unrecognised" "$VG" | head -40
	t_fail "valgrind met something it does not know"
fi
if [ $st != 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$VG"; then
	grep -E -A25 "^==[0-9]+== (Invalid|Conditional|Syscall param|Mismatched|.*lost in)" "$VG" | head -120
	t_fail "valgrind found errors (daemon exit status $st)"
fi
t_ok "valgrind: no error, no leak, exit status 0"
echo "PASS: $T_NAME"
