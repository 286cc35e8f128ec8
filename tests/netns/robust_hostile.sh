#!/bin/bash
# Hostile packets (tests/lab/hostile.c: truncated and lying headers, bad IHL
# and data offsets, option lengths 0/1/overrunning, long and loop-like IPv6
# extension chains, fragments, odd flag sets, zero windows, bad checksums)
# against a daemon protecting a service that listens on the protected port
# itself, so that anything the daemon let through would reach a real listener:
# - every case, sent N times from spoofed sources, ends as `hostile --list`
#   says: the daemon's counter for that fate grows by exactly N and no other
#   counter moves; "kernel" cases never reach the daemon at all
# - whatever the daemon drops or answers itself never reaches the kernel's
#   TCP: the server's TCP sends no segment during those cases
# - legitimate fetches over both families work before, during a mixed
#   hostile stream, and after; the daemon keeps running and exits cleanly.
# Where the kernel drops a case, the server's SNMP counters that moved are
# printed (ip_rcv / ipv6_rcv errors, reassembly, ...).
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend curl
HOSTILE=$T_BUILD/tests/lab/hostile
[ -x "$HOSTILE" ] || t_skip "hostile not built"

N=${SG_HOSTILE_COUNT:-40}
# SG_HOSTILE_CASES="name ...": only these cases (default: all)
MIX_SECONDS=${SG_HOSTILE_MIX_SECONDS:-6}

lab_up || t_fail "lab up"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:80),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:80)"
# [::]:80 takes IPv4 too: the protected address has a real listener.
t_backend http --listen '[::]:80' http
lab_wait_tcp server '::' 80 || t_fail "backend did not start"
t_start_daemon

t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch before (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch before (IPv6)"

# Nonzero differences of the daemon's total counters (gauges left out), sorted, as k=v.
stat_delta() {
	$PY - "$1" "$2" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["total"]
b = json.load(open(sys.argv[2]))["total"]
skip = {"active_connections", "halfopen_entries", "accept_queue", "cookie_threads"}  # gauges
print(" ".join(f"{k}={b[k] - a[k]}" for k in sorted(b) if k not in skip and b[k] != a[k]))
EOF
}

# The server's kernel counters (SNMP, SNMP6, netstat extensions) as NAME VALUE lines.
kstat() {
	lab_exec server cat /proc/net/snmp /proc/net/netstat | $PY -c '
import sys
lines = sys.stdin.read().split("\n")
for h, v in zip(lines[0::2], lines[1::2]):
    hk, vk = h.split(), v.split()
    for k, x in zip(hk[1:], vk[1:]):
        print(hk[0].rstrip(":") + k, x)'
	lab_exec server cat /proc/net/snmp6
}

kstat_delta() {
	$PY - "$1" "$2" <<'EOF'
import sys
def load(p):
    return {l.split()[0]: int(l.split()[1]) for l in open(p) if len(l.split()) == 2}
a, b = load(sys.argv[1]), load(sys.argv[2])
print(" ".join(f"{k}+{b[k] - a.get(k, 0)}" for k in sorted(b) if b[k] != a.get(k, 0)))
EOF
}

# Waits until the daemon's counters stop moving (the queue is drained); the
# last snapshot is left in $T_DIR/after.json.
settle() {
	local prev="" cur
	t_wait 10 t_drained || t_fail "the daemon did not drain its queues"
	for _ in $(seq 30); do
		cur=$(t_ctl stats --json)
		[ "$cur" = "$prev" ] && break
		prev=$cur
		sleep 0.1
	done
	printf '%s\n' "$cur" >"$T_DIR/after.json"
}

expected_delta() {
	case $1 in
	syn) echo "syn_received=$N synack_sent=$N" ;;
	kernel) echo "" ;;
	malformed_*) echo "$1=$N packets_malformed=$N" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//' ;;
	*) echo "$1=$N" ;;
	esac
}

only=()
for c in ${SG_HOSTILE_CASES:-}; do only+=(--case "$c"); done
failed=0
ncases=0
while read -r name _ fate what; do
	ncases=$((ncases + 1))
	t_ctl stats --json >"$T_DIR/before.json"
	kstat >"$T_DIR/k0"
	out=$(lab_exec attacker "$HOSTILE" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--case "$name" --count "$N" --rate 2000 2>&1) || t_fail "hostile $name: $out"
	sleep 0.1
	settle
	kstat >"$T_DIR/k1"
	got=$(stat_delta "$T_DIR/before.json" "$T_DIR/after.json")
	want=$(expected_delta "$fate")
	kd=$(kstat_delta "$T_DIR/k0" "$T_DIR/k1")
	tcp_out=$(echo " $kd " | grep -oE ' (TcpOutSegs|TcpOutRsts)\+[0-9]+' | tr -d ' ' | tr '\n' ' ')
	kill -0 "$T_DAEMON_PID" 2>/dev/null || t_fail "synguardd died on case $name"
	if [ "$got" != "$want" ]; then
		echo "FAIL: $name ($what): daemon counters moved by [$got], expected [$want]"
		failed=$((failed + 1))
	elif [ "$fate" != kernel ] && [ -n "$tcp_out" ]; then
		echo "FAIL: $name ($what): the kernel's TCP answered: $tcp_out"
		failed=$((failed + 1))
	elif [ "$fate" = kernel ]; then
		echo "ok: $name -> kernel (${what}): ${kd:-no counter moved}"
	else
		echo "ok: $name -> $fate ($what)"
	fi
done < <("$HOSTILE" --list "${only[@]}")
t_expect "all $ncases hostile cases ended as expected" $failed = 0

# A mixed hostile stream (every case in turn) while a client fetches over both families.
# under way once the daemon has counted some of it
mix_count() {
	echo $(($(t_stat total.syn_received) + $(t_stat total.ack_invalid) + $(t_stat total.packets_malformed)))
}
mix_seen() { [ "$(mix_count)" -gt "$1" ]; }
mix0=$(mix_count)
lab_bg attacker "$T_DIR/hostile-mix.log" "$HOSTILE" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--interleave --count 1000000 --rate 5000 --duration "$MIX_SECONDS"
mix=$LAB_LAST_PID
t_wait 5 mix_seen "$mix0" || t_fail "the hostile stream did not reach the daemon"
ok=0 n=0
while kill -0 $mix 2>/dev/null; do
	if [ $((n % 2)) = 0 ]; then url="http://$LAB_SERVER4/"; else url="http://[$LAB_SERVER6]/"; fi
	if lab_exec client curl -s -o /dev/null --connect-timeout 3 --max-time 5 "$url"; then
		ok=$((ok + 1))
	else
		echo "fetch $n of $url failed"
	fi
	n=$((n + 1))
	sleep 0.05
done
wait $mix || t_fail "hostile mix: $(cat "$T_DIR/hostile-mix.log")"
cat "$T_DIR/hostile-mix.log"
echo "legitimate fetches during the hostile stream: $ok of $n"
t_expect "at least 20 fetches during the hostile stream" $n -ge 20
t_expect "every fetch during the hostile stream succeeded" $ok = $n
settle
t_ctl stats

t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch after (IPv6)"
t_expect "no connection left open" "$(t_stat total.active_connections)" = 0
t_stop_daemon
echo "PASS: $T_NAME"
