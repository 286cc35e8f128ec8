#!/bin/bash
# Started as root with daemon.user = "nobody", synguardd runs as nobody with
# CAP_NET_ADMIN and CAP_NET_RAW only (both also ambient, for iptables), plus
# CAP_NET_BIND_SERVICE when it protects a port below 1024 (each repaired
# socket binds the protected port): every thread's uids, gids, groups and
# capability sets (effective, permitted, inheritable, ambient, bounding) are
# checked in /proc, and no_new_privs is set. As nobody it still installs its
# rules, answers SYNs, repairs sockets, hands real fetches to the backend,
# serves metrics (with the root-only NFQUEUE table), and at SIGTERM removes
# its rules and sockets. A missing user stops the start with a clear message
# and leaves nothing behind; user "root" keeps root, with a warning.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend curl

getent passwd nobody >/dev/null || t_skip "no user nobody"
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)
base=0000000000003000 # CAP_NET_ADMIN (12) and CAP_NET_RAW (13)
bind=0000000000003400 # and CAP_NET_BIND_SERVICE (10)

# The control socket's directory is created by the daemon for its user, so
# the test directory must be reachable by nobody.
chmod 755 "$T_DIR"
T_SOCK=$T_DIR/run/control.sock

write_conf() { # USER [PORT]
	local port=${2:-80}
	cat >"$T_CONF" <<CONF
daemon: {
	queue = "0:1";
	firewall = "iptables";
	control_socket = "$T_SOCK";
	user = "$1";
	metrics_listen = "127.0.0.1:9477";
};
listeners = (
	$(t_listener web4 $LAB_SERVER4 $port proxy 127.0.0.1:8080),
	$(t_listener web6 $LAB_SERVER6 $port proxy 127.0.0.1:8080)
);
CONF
}

status_field() { # FILE FIELD
	sed -n "s/^$2:[[:space:]]*//p" "$1" | tr -s ' \t' ' ' | sed 's/ $//'
}

rules_count() {
	{ lab_exec server iptables-save; lab_exec server ip6tables-save; } | grep -c SYNGUARD
}

lab_up || t_fail "lab up"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"

# ---- a missing user: fatal, clear, nothing left behind ----
write_conf synguard-no-such-user
lab_exec server "$SYNGUARDD" -c "$T_CONF" >"$T_DIR/missing-user.log" 2>&1
rc=$?
t_expect "missing user: exit status 1" $rc = 1
grep -q 'daemon.user "synguard-no-such-user" does not exist: create it' "$T_DIR/missing-user.log" ||
	t_fail "missing user: no clear message: $(cat "$T_DIR/missing-user.log")"
t_ok "missing user: $(grep 'does not exist' "$T_DIR/missing-user.log" | sed 's/^[^ ]* //')"
t_expect "missing user: no rules installed" "$(rules_count)" = 0

# ---- the drop ----
# PORT CAPS: one run as nobody, protecting PORT; CAPS effective, permitted, bounding
run_dropped() {
	local port=$1 caps=$2 url4 url6 st tid f want ntasks=0 i metrics
	write_conf nobody "$port"
	t_start_daemon
	pid=$T_DAEMON_PID
	grep -q "privileges: now user nobody (uid $nobody_uid, gid $nobody_gid) with" \
		"$T_DIR/synguardd.log" || t_fail "port $port: no privilege drop logged"

	# every thread: capabilities are per thread, and the queue threads do the work
	for st in /proc/$pid/task/*/status; do
		ntasks=$((ntasks + 1))
		tid=$(basename "$(dirname "$st")")
		for f in Uid Gid; do
			want=$([ $f = Uid ] && echo $nobody_uid || echo $nobody_gid)
			t_expect "port $port, thread $tid: $f all $want" \
				"$(status_field "$st" $f)" = "$want $want $want $want"
		done
		t_expect "port $port, thread $tid: Groups only $nobody_gid" \
			"$(status_field "$st" Groups)" = "$nobody_gid"
		for f in CapEff CapPrm CapBnd; do
			t_expect "port $port, thread $tid: $f = $caps" "$(status_field "$st" $f)" = $caps
		done
		for f in CapInh CapAmb; do
			t_expect "port $port, thread $tid: $f = $base" "$(status_field "$st" $f)" = $base
		done
		t_expect "port $port, thread $tid: NoNewPrivs" "$(status_field "$st" NoNewPrivs)" = 1
	done
	t_expect "port $port: main thread and two queue threads at least" $ntasks -ge 3

	# what it made for itself belongs to nobody
	t_expect "run directory owned by nobody" "$(stat -c %U "$T_DIR/run")" = "$(id -un nobody)"
	t_expect "run directory mode 750" "$(stat -c %a "$T_DIR/run")" = 750
	t_expect "control socket owned by nobody" "$(stat -c %U "$T_SOCK")" = "$(id -un nobody)"
	t_expect "control socket mode 660" "$(stat -c %a "$T_SOCK")" = 660

	# and it works: cookie SYN-ACK, TCP_REPAIR socket, handoff, relay, both families
	url4=http://$LAB_SERVER4:$port/
	url6=http://[$LAB_SERVER6]:$port/
	for i in 1 2 3; do
		t_curl -o /dev/null "$url4" || t_fail "port $port: fetch $i over IPv4 as nobody"
		t_curl -o /dev/null "$url6" || t_fail "port $port: fetch $i over IPv6 as nobody"
	done
	t_expect "port $port: six handoffs as nobody" "$(t_stat total.handoffs)" = 6
	t_expect "port $port: no repair failures" "$(t_stat total.repair_failed)" = 0

	# the root-only NFQUEUE table was opened before the drop
	metrics=$(lab_exec server curl -sS --max-time 5 http://127.0.0.1:9477/metrics) ||
		t_fail "metrics"
	echo "$metrics" | grep -q '^synguard_nfqueue_dropped_total{queue="0"} [0-9]*$' ||
		t_fail "no NFQUEUE counters for queue 0 after the drop"
	echo "$metrics" | grep -q '^synguard_nfqueue_length{queue="1"} [0-9]*$' ||
		t_fail "no NFQUEUE counters for queue 1 after the drop"
	t_ok "port $port: NFQUEUE table read as nobody"
	echo "$metrics" | grep -q '^synguard_handoffs_total{listener="web4"} 3$' ||
		t_fail "metrics: web4 handoffs are not 3"
	t_ok "port $port: metrics count the handoffs"

	# at exit, as nobody, iptables removes exactly our rules
	t_expect "port $port: rules installed" "$(rules_count)" -gt 0
	kill -TERM "$pid"
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && t_fail "still running 10 s after SIGTERM"
	wait "$pid"
	t_expect "port $port: exit status 0 after SIGTERM" $? = 0
	t_expect "port $port: no rules left after SIGTERM" "$(rules_count)" = 0
	t_expect "port $port: control socket removed" ! -e "$T_SOCK"
	grep -q "firewall rules removed" "$T_DIR/synguardd.log" || t_fail "removal not logged"
	if grep -E "denied|not permitted|failed" "$T_DIR/synguardd.log"; then
		t_fail "port $port: errors in the log"
	fi
}

run_dropped 8000 $base
run_dropped 80 $bind

# ---- user root: allowed, warned, nothing dropped ----
write_conf root
t_start_daemon
grep -q 'daemon.user "root" is root: the daemon keeps every privilege' "$T_DIR/synguardd.log" ||
	t_fail "no warning for user root"
t_expect "user root: still uid 0" "$(status_field /proc/$T_DAEMON_PID/status Uid)" = "0 0 0 0"
t_ok "user root: warned and kept"
t_stop_daemon
t_expect "user root: no rules left" "$(rules_count)" = 0
echo "PASS: $T_NAME"
