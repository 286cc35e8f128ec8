#!/bin/bash
# handoff "local", the daemon's life around its kernel fast path:
#  - started as root with daemon.user = "nobody", it loads and attaches the
#    program, then keeps only CAP_NET_ADMIN, CAP_NET_RAW and
#    CAP_NET_BIND_SERVICE; as nobody it still writes each epoch's keys
#    (cookie_rotation 1 s): fetches across several rotations all succeed;
#  - kill -9 during a SYN flood with fail_open = true: its links, program and
#    maps go with it, and the kernel serves the port directly (queue bypass);
#  - a restart after that: one set of links again, fetches through the fast
#    path; kill -9 during a flood with fail_open = false: the port stays
#    closed (SYNs dropped), nothing of the program stays;
#  - a final clean start and stop leaves no rule, link, program or map.
# Skips (77) where the fast path is not built.
. "$(dirname "$0")/lib.sh" "$@"
t_need curl python3 bpftool sgflood

getent passwd nobody >/dev/null || t_skip "no user nobody"
PORT=80
chmod 755 "$T_DIR"
T_SOCK=$T_DIR/run/control.sock

write_conf() { # USER FAIL_OPEN
	cat >"$T_CONF" <<CONF
daemon: {
	queue = "0";
	firewall = "iptables";
	fail_open = $2;
	control_socket = "$T_SOCK";
	cookie_rotation = 1;
	user = "$1";
};
listeners = (
	{ name = "web4"; address = "$LAB_SERVER4"; port = $PORT; handoff = "local"; },
	{ name = "web6"; address = "$LAB_SERVER6"; port = $PORT; handoff = "local"; }
);
CONF
}

lab_up || t_fail "lab up"
write_conf nobody true
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"
if command -v ethtool >/dev/null; then
	lab_exec client ethtool -K eth0 tx off >/dev/null 2>&1
	lab_exec attacker ethtool -K eth0 tx off >/dev/null 2>&1
fi
lab_bg server "$T_DIR/server4.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 $PORT
lab_bg server "$T_DIR/server6.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER6 $PORT
t_wait 10 eval "[ \$(lab_exec server ss -Htln 'sport = :$PORT' | wc -l) = 2 ]" ||
	t_fail "the servers did not start"

fdinfo_ids() { # PID KEY
	grep -h "^$2:" /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u
}
gone() { # PID-LABEL LINKS PROGS MAPS: none of these ids exists any more
	local what=$1 id
	for id in $2; do bpftool link show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $3; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $4; do bpftool map show id "$id" >/dev/null 2>&1 && return 1; done
	return 0
}
fetch_ok() { # URL WANT
	local body
	body=$(t_curl -f "$1") || return 1
	case "$body" in "client=$2:"*) return 0 ;; esac
	return 1
}

# ---- as nobody, across key rotations ----
t_start_daemon
pid=$T_DAEMON_PID
caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/$pid/status)
t_expect "as nobody: CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE only" "$caps" = 0000000000003400
t_expect "as nobody: uid" "$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$pid/status)" = "$(id -u nobody)"
e0=$(date +%s)
n=0
# bounded by time, not by a count of fetches (a fast machine makes many more)
while [ $(date +%s) -lt $((e0 + 4)) ]; do
	fetch_ok "http://$LAB_SERVER4/" "$LAB_CLIENT4" || t_fail "as nobody: fetch $n"
	fetch_ok "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" || t_fail "as nobody: IPv6 fetch $n"
	n=$((n + 1))
done
t_expect "as nobody: fetches over 3 key epochs" $(date +%s) -ge $((e0 + 4))
h=$(t_stat tc.web4.handoffs)
t_expect "as nobody: every one a TC handoff ($h for $n)" $h -ge $n -a $h -le $((2 * n))
t_expect "as nobody: no expired or invalid ACK" \
	"$(t_stat tc.web4.ack_expired)$(t_stat tc.web4.ack_invalid)" = 00
grep -q "fast path: cookie keys" "$T_DIR/synguardd.log" && t_fail "key rotation failed as nobody"
t_ok "as nobody: $n fetches per family through the rotations"
# as nobody (CAP_NET_ADMIN only), a reload still attaches to a new device
n0=$(fdinfo_ids $pid link_id | grep -c .)
lab_exec server ip link add extra0 type veth peer name extra1 || t_fail "adding a device"
lab_exec server ip link set extra0 up && lab_exec server ip link set extra1 up
out=$(t_ctl reload 2>&1) || t_fail "reload as nobody: $out"
t_expect "as nobody: a reload attached to the two new devices" \
	"$(fdinfo_ids $pid link_id | grep -c .)" = $((n0 + 2))
lab_exec server ip link del extra0

# ---- kill -9 under a flood ----
flood_bg() { # runs a bounded SYN flood from spoofed sources in the background
	lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst $LAB_SERVER4 --dport $PORT --kind syn --duration 6 --rate 20000 --quiet
	FLOOD_PID=$LAB_LAST_PID
}
kill9() { # FAIL_OPEN
	local links progs maps
	links=$(fdinfo_ids $T_DAEMON_PID link_id)
	progs=$(fdinfo_ids $T_DAEMON_PID prog_id)
	maps=$(fdinfo_ids $T_DAEMON_PID map_id)
	t_expect "fail_open $1: the daemon holds links" "$(echo "$links" | grep -c .)" -ge 2
	flood_bg
	t_wait 10 t_stat_ge total.syn_received 1000 || t_fail "fail_open $1: the flood did not arrive"
	kill -9 $T_DAEMON_PID
	wait $T_DAEMON_PID 2>/dev/null
	t_wait 10 gone kill9 "$links" "$progs" "$maps" ||
		t_fail "fail_open $1: links, program or maps outlived kill -9"
	t_ok "fail_open $1: kill -9 during the flood took the links, program and maps along"
}

kill9 true
fetch_ok "http://$LAB_SERVER4/" "$LAB_CLIENT4" ||
	t_fail "fail_open true: the kernel did not serve the port after kill -9"
fetch_ok "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" ||
	t_fail "fail_open true: no IPv6 service after kill -9"
t_ok "fail_open true: the server serves directly after kill -9, under the flood"
wait $FLOOD_PID 2>/dev/null

# ---- restart, then kill -9 with fail_open = false ----
write_conf root false
t_start_daemon
fetch_ok "http://$LAB_SERVER4/" "$LAB_CLIENT4" || t_fail "after the restart: fetch"
t_expect "after the restart: through the fast path" "$(t_stat tc.web4.handoffs)" -ge 1
kill9 false
lab_exec client curl -s --connect-timeout 2 -o /dev/null "http://$LAB_SERVER4/" &&
	t_fail "fail_open false: the port answered after kill -9"
t_ok "fail_open false: the port stays closed after kill -9"
wait $FLOOD_PID 2>/dev/null

# ---- clean start and stop ----
t_start_daemon
fetch_ok "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" || t_fail "last start: fetch"
pid=$T_DAEMON_PID
links=$(fdinfo_ids $pid link_id)
progs=$(fdinfo_ids $pid prog_id)
maps=$(fdinfo_ids $pid map_id)
t_stop_daemon
t_wait 10 gone stop "$links" "$progs" "$maps" || t_fail "a link, program or map outlived the clean stop"
t_expect "clean stop: no rule left" \
	"$({ lab_exec server iptables-save; lab_exec server ip6tables-save; } | grep -c SYNGUARD)" = 0
t_ok "clean stop: nothing left"

# ---- no local listener at start: a reload cannot bring one ----
T_SOCK=$T_DIR/control.sock
t_config "$(t_listener web4 $LAB_SERVER4 81 proxy 127.0.0.1:8080)"
t_start_daemon
t_config "{ name = \"web4\"; address = \"$LAB_SERVER4\"; port = 81; handoff = \"local\"; }"
out=$(t_ctl reload 2>&1) && t_fail "a reload added a local listener without the fast path: $out"
case "$out" in
*"loaded at start only when a listener uses it: restart synguardd"*) ;;
*) t_fail "reload refusal does not say why: $out" ;;
esac
t_ok "a reload that adds the first local listener is refused: ${out%%$'\n'*}"
t_stop_daemon
echo "PASS: $T_NAME"
