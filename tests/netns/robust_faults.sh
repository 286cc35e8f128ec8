#!/bin/bash
# Faults, each ending exactly as configured:
# 1. fail_open = true, the service listening on the protected port itself:
#    synguardd is killed with SIGKILL in the middle of a SYN flood. Its rules
#    stay (nobody cleans up after SIGKILL) but with --queue-bypass and no
#    queue listener the kernel lets packets through: legitimate fetches keep
#    working, straight to the service (it sees the client's own address). A
#    restart replaces the stale rules without duplicates and takes over again.
# 2. fail_open = false: after a SIGKILL, SYNs to the protected port are
#    dropped: connecting times out (no reset, no success). A restart resumes.
# 3. NFQUEUE overflow: a stopped daemon (SIGSTOP) under a bounded SYN burst.
#    queue_full = "drop" (the default, with fail_open either way): the kernel
#    drops what does not fit and counts it in /proc/net/netfilter/
#    nfnetlink_queue; every SYN is either seen by the daemon after SIGCONT or
#    counted dropped there. queue_full = "accept": nothing is dropped; what did
#    not fit went to the kernel's TCP instead.
# 4. Backend down (connection refused) and backend silent (its SYNs
#    blackholed): every handed-off client is reset and counted
#    (handoff_failed), and the daemon's open files and RSS are back where
#    they were after hundreds of failed handoffs.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood curl

FLOOD_RATE=${SG_FAULTS_FLOOD_RATE:-20000}
BURST=${SG_FAULTS_BURST:-30000}
FAILS=${SG_FAULTS_FAILED_HANDOFFS:-200}

lab_up || t_fail "lab up"

nfq_rules() {
	local n4 n6
	n4=$(lab_exec server iptables-save | grep -c -- '-j NFQUEUE')
	n6=$(lab_exec server ip6tables-save | grep -c -- '-j NFQUEUE')
	echo "$n4/$n6"
}

# The kernel's line for queue 0: number portid total copy_mode range dropped user_dropped seq 1
nfq_line() {
	lab_exec server cat /proc/net/netfilter/nfnetlink_queue | awk '$1 == 0'
}

tcp_in_segs() {
	lab_exec server awk '/^Tcp:/ { if (h) { for (i = 1; i <= NF; i++) if (n[i] == "InSegs") print $i } else { for (i = 1; i <= NF; i++) n[i] = $i; h = 1 } }' /proc/net/snmp
}

fds_of() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Waits until the daemon's queues are drained, then until its counters stop moving.
settle() {
	local prev="" cur i
	t_wait 10 t_drained || t_fail "the daemon did not drain its queues"
	for i in $(seq 50); do
		cur=$(t_ctl stats --json)
		[ "$cur" = "$prev" ] && return 0
		prev=$cur
		sleep 0.2
	done
}

# burst_placed SENT: every SYN of the burst is accounted for by the kernel: waiting in the
# queue, dropped by it, or taken by its TCP (the caller's d0, u0, k0 are the starting points).
burst_placed() {
	local total d u
	read -r _ _ total _ _ d u _ < <(nfq_line)
	[ $((total + d - d0 + u - u0 + $(tcp_in_segs) - k0)) -ge "$1" ]
}

# The daemon has taken every packet out of queue 0 (a verdict comes after the counting).
queue_drained() {
	local total
	read -r _ _ total _ < <(nfq_line)
	[ "$total" = 0 ]
}

# flood_reaches RATE SECONDS DST: starts the flood and waits until the daemon has seen a
# tenth of a second's worth of it.
flood_reaches() {
	local s0
	s0=$(t_stat total.syn_received)
	flood "$@"
	t_wait 5 stat_ge total.syn_received $((s0 + $1 / 10)) || t_fail "the flood did not reach the daemon"
}
stat_ge() { [ "$(t_stat "$1")" -ge "$2" ]; }

# overflow WHAT: stops the daemon, sends a SYN burst it cannot take, lets it go on;
# sets sent, total (queued while stopped), seen (by the daemon), took (kernel TCP
# segments in) and dropped (by the queue, counted by the kernel)
overflow() {
	local out s0 s1 k0 k1 d0 d1 u0 u1
	s0=$(t_stat total.syn_received)
	k0=$(tcp_in_segs)
	read -r _ _ _ _ _ d0 u0 _ < <(nfq_line)
	kill -STOP "$T_DAEMON_PID"
	out=$(lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst "$LAB_SERVER4" --dport 80 --kind syn --count "$BURST" --rate 200000 --quiet) ||
		{ kill -CONT "$T_DAEMON_PID"; t_fail "burst: $out"; }
	sent=$(echo "$out" | sed -n 's/.* sent \([0-9]*\) packets.*/\1/p')
	# bounded: a SYN lost on the way shows in the caller's sums
	t_wait 5 burst_placed "$sent"
	read -r _ _ total _ _ d1 u1 _ < <(nfq_line)
	k1=$(tcp_in_segs)
	kill -CONT "$T_DAEMON_PID"
	t_wait 10 queue_drained || t_fail "$1 overflow: the daemon did not drain its queue"
	s1=$(t_stat total.syn_received)
	seen=$((s1 - s0))
	took=$((k1 - k0))
	dropped=$((d1 - d0 + u1 - u0))
	echo "$1 overflow: sent $sent, queued while stopped $total, daemon saw $seen," \
		"kernel TCP took $took, queue drops $((d1 - d0)) + user drops $((u1 - u0))"
	t_expect "$1 overflow: the queue filled" "$total" -ge 10000
}

flood() { # RATE SECONDS FAMILY-DST: a spoofed SYN flood in the background
	lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst "$3" --dport 80 --kind syn --rate "$1" --duration "$2" --quiet
	FLOOD_PID=$LAB_LAST_PID
}

kill9() {
	kill -KILL "$T_DAEMON_PID"
	wait "$T_DAEMON_PID" 2>/dev/null
	T_DAEMON_PID=
}

# ---- 1. fail-open --------------------------------------------------------------
# a full queue accepts here too: the service listens on the protected port
T_DAEMON_EXTRA='queue_full = "accept";'
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:80),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:80)"
t_backend local --listen '[::]:80' http
lab_wait_tcp server '::' 80 || t_fail "service did not start"
t_start_daemon
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch through synguard (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch through synguard (IPv6)"
t_expect "fail-open: two handoffs" "$(t_stat total.handoffs)" = 2
rules=$(nfq_rules)
lab_exec server iptables-save | grep -q -- '--queue-bypass' || t_fail "fail-open rules lack --queue-bypass"

flood_reaches "$FLOOD_RATE" 6 "$LAB_SERVER4"
kill9
t_ok "fail-open: synguardd killed with SIGKILL under the flood"
t_expect "fail-open: its rules are still there" "$(nfq_rules)" = "$rules"
t_expect "fail-open: nobody is bound to queue 0" -z "$(nfq_line)"
ok=0
for i in $(seq 6); do
	b=$(t_curl "http://$LAB_SERVER4/") && ok=$((ok + 1))
	case $b in *"client=$LAB_CLIENT4:"* | *"client=[::ffff:$LAB_CLIENT4]:"*) ;; *) t_fail "IPv4 fetch $i did not go straight to the service: $b" ;; esac
	b=$(t_curl "http://[$LAB_SERVER6]/") && ok=$((ok + 1))
	case $b in *"client=[$LAB_CLIENT6]:"*) ;; *) t_fail "IPv6 fetch $i did not go straight to the service: $b" ;; esac
done
t_expect "fail-open: 12 of 12 fetches during the flood, straight to the service" $ok = 12
wait "$FLOOD_PID" || t_fail "flood: $(cat "$T_DIR/flood.log")"

t_start_daemon
t_expect "fail-open: after the restart, the same rules (stale ones replaced)" "$(nfq_rules)" = "$rules"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the restart (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch after the restart (IPv6)"
t_expect "fail-open: the new daemon handed off both" "$(t_stat total.handoffs)" = 2

# ---- 3b. overflow, queue_full = "accept": what does not fit goes to the kernel -----
overflow accept
t_expect "accept overflow: nothing dropped by the queue" $dropped = 0
t_expect "accept overflow: every SYN went to the daemon or to the kernel" $((seen + took)) = "$sent"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the accepting overflow"
t_stop_daemon

# ---- 3c. overflow, fail_open and the default queue_full: dropped, counted ---------
# (whatever listens on the protected port: when nothing does, the usual case of a
# proxy listener, what a full queue accepted would be refused by the kernel)
T_DAEMON_EXTRA=
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:80),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:80)"
t_start_daemon
overflow drop
t_expect "drop overflow: the queue overflowed and counted it" $dropped -gt 0
t_expect "drop overflow: every SYN was seen by the daemon or counted dropped" \
	$((seen + dropped)) = "$sent"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the dropping overflow"
t_stop_daemon

# ---- 2. fail-closed ---------------------------------------------------------------
sed -i 's/fail_open = true/fail_open = false/' "$T_CONF"
t_start_daemon
lab_exec server iptables-save | grep -q -- '--queue-bypass' && t_fail "fail-closed rules have --queue-bypass"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fail-closed: fetch (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fail-closed: fetch (IPv6)"
rules=$(nfq_rules)
flood_reaches "$FLOOD_RATE" 4 "$LAB_SERVER4"
kill9
for url in "http://$LAB_SERVER4/" "http://[$LAB_SERVER6]/"; do
	lab_exec client curl -sS -o /dev/null --connect-timeout 2 "$url" 2>"$T_DIR/curl.err"
	rc=$?
	t_expect "fail-closed: $url times out once synguardd is gone (curl exit 28, got $rc)" $rc = 28
done
wait "$FLOOD_PID" || t_fail "flood: $(cat "$T_DIR/flood.log")"
t_start_daemon
t_expect "fail-closed: after the restart, the same rules" "$(nfq_rules)" = "$rules"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fail-closed: fetch after the restart (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fail-closed: fetch after the restart (IPv6)"

# ---- 3a. overflow, fail-closed: what does not fit is dropped and counted -----------
overflow fail-closed
t_expect "fail-closed overflow: the queue overflowed and counted it" $dropped -gt 0
t_expect "fail-closed overflow: every SYN was seen by the daemon or counted dropped" \
	$((seen + dropped)) = "$sent"
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the fail-closed overflow"
t_stop_daemon
lab_stop_bg # the service on [::]:80

# ---- 4. backend down and backend silent ------------------------------------------
t_config "$(t_listener down4 $LAB_SERVER4 82 proxy 127.0.0.1:8080),
$(t_listener down6 $LAB_SERVER6 82 proxy 127.0.0.1:8080),
$(t_listener silent4 $LAB_SERVER4 83 proxy 127.0.0.1:8081)"
# a backend that never completes a handshake: its SYNs vanish
lab_exec server iptables -I INPUT -i lo -p tcp --dport 8081 --syn -j DROP || t_fail "blackhole rule"
t_start_daemon
sleep 0.5
fd0=$(fds_of "$T_DAEMON_PID")
rss0=$(rss_kb "$T_DAEMON_PID")
f0=$(t_stat total.handoff_failed)
bad=0
for i in $(seq "$FAILS"); do
	if [ $((i % 2)) = 0 ]; then url="http://$LAB_SERVER4:82/"; else url="http://[$LAB_SERVER6]:82/"; fi
	# the handshake completes with synguard; the refused backend gets the client reset
	lab_exec client curl -s -o /dev/null --max-time 5 "$url" && bad=$((bad + 1))
done
t_expect "backend down: no fetch succeeded" $bad = 0
settle
f1=$(t_stat total.handoff_failed)
t_expect "backend down: $FAILS failed handoffs counted" $((f1 - f0)) = "$FAILS"
# silent backend: connects time out after the relay's connect timeout
pids=()
start=$(date +%s%N)
for i in $(seq 20); do
	lab_exec client curl -s -o /dev/null --max-time 15 "http://$LAB_SERVER4:83/" &
	pids+=($!)
done
# each waiting connection holds its client socket and its backend socket
fds_ge() { [ "$(fds_of "$T_DAEMON_PID")" -ge "$1" ]; }
t_wait 10 fds_ge $((fd0 + 40))
fdw=$(fds_of "$T_DAEMON_PID")
t_expect "backend silent: 20 connections wait for it ($fd0 -> $fdw open files)" "$fdw" -ge $((fd0 + 40))
bad=0
for p in "${pids[@]}"; do wait "$p" && bad=$((bad + 1)); done
waited=$((($(date +%s%N) - start) / 1000000))
t_expect "backend silent: no fetch succeeded" $bad = 0
t_expect "backend silent: reset after the connect timeout, not before (${waited} ms)" $waited -ge 4000
settle
f2=$(t_stat total.handoff_failed)
t_expect "backend silent: 20 failed handoffs counted" $((f2 - f1)) = 20
t_expect "no connection left open" "$(t_stat total.active_connections)" = 0
fd1=$(fds_of "$T_DAEMON_PID")
rss1=$(rss_kb "$T_DAEMON_PID")
echo "daemon after $((FAILS + 20)) failed handoffs: open files $fd0 -> $fd1, RSS $rss0 -> $rss1 kB"
t_expect "open files back where they were" "$fd1" = "$fd0"
t_expect "RSS grew by less than 2 MB" $((rss1 - rss0)) -lt 2048

# the backend comes back: handoffs resume
t_backend up --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_curl -o /dev/null "http://$LAB_SERVER4:82/" || t_fail "fetch once the backend is back (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]:82/" || t_fail "fetch once the backend is back (IPv6)"
t_stop_daemon
echo "PASS: $T_NAME"
