#!/bin/bash
# After synguardd exits on SIGTERM or SIGINT, none of its firewall rules
# remain and the administrator's own rules are untouched; after a SIGKILL the
# next start replaces the stale rules (no duplicates) and a stale control
# socket.
. "$(dirname "$0")/lib.sh" "$@"

lab_up || t_fail "lab up"

t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"

# An administrator's rules, in the tables synguard uses.
for ipt in iptables ip6tables; do
	lab_exec server $ipt -A INPUT -p tcp --dport 9999 -j ACCEPT || t_fail "$ipt admin rule"
	lab_exec server $ipt -t raw -A PREROUTING -p tcp --dport 9998 -j ACCEPT ||
		t_fail "$ipt admin raw rule"
done

# The rule set without comments and counters, for comparison.
ruleset() {
	lab_exec server "$1-save" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
}
before4=$(ruleset iptables)
before6=$(ruleset ip6tables)

check_installed() {
	local ipt i
	# a restarted daemon may still be swapping stale rules for its own
	for i in $(seq 20); do
		[ "$(ruleset iptables | grep -c '^-A INPUT .*-j SYNGUARD$')" = 1 ] &&
			[ "$(ruleset ip6tables | grep -c '^-A INPUT .*-j SYNGUARD$')" = 1 ] && break
		sleep 0.1
	done
	for ipt in iptables ip6tables; do
		ruleset $ipt | grep -q 'SYNGUARD' || t_fail "$ipt: no SYNGUARD rules while running"
		ruleset $ipt | grep -q 'NFQUEUE' || t_fail "$ipt: no NFQUEUE rule while running"
	done
	# exactly one jump from each built-in chain, however many starts
	t_expect "one jump from INPUT (IPv4)" \
		"$(ruleset iptables | grep -c '^-A INPUT .*-j SYNGUARD$')" = 1
	t_expect "one jump from INPUT (IPv6)" \
		"$(ruleset ip6tables | grep -c '^-A INPUT .*-j SYNGUARD$')" = 1
}

check_removed() {
	local what=$1
	t_expect "$what: no SYNGUARD in iptables-save" \
		"$(ruleset iptables | grep -c SYNGUARD)" = 0
	t_expect "$what: no SYNGUARD in ip6tables-save" \
		"$(ruleset ip6tables | grep -c SYNGUARD)" = 0
	t_expect "$what: IPv4 rule set as before" "$(ruleset iptables)" = "$before4"
	t_expect "$what: IPv6 rule set as before" "$(ruleset ip6tables)" = "$before6"
	t_expect "$what: control socket removed" ! -e "$T_SOCK"
}

for sig in TERM INT; do
	t_start_daemon
	check_installed
	kill -$sig "$T_DAEMON_PID"
	for i in $(seq 100); do
		kill -0 "$T_DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$T_DAEMON_PID" 2>/dev/null && t_fail "synguardd still running 10 s after SIG$sig"
	wait "$T_DAEMON_PID"
	rc=$?
	t_expect "exit status 0 after SIG$sig" $rc = 0
	check_removed "SIG$sig"
done

# A killed daemon leaves its rules and socket; the next one takes over cleanly.
t_start_daemon
kill -KILL "$T_DAEMON_PID"
wait "$T_DAEMON_PID" 2>/dev/null
t_expect "rules stay after SIGKILL" "$(ruleset iptables | grep -c SYNGUARD)" -gt 0
t_expect "socket file stays after SIGKILL" -S "$T_SOCK"
t_start_daemon
check_installed
t_stop_daemon
check_removed "restart after SIGKILL"
echo "PASS: $T_NAME"
