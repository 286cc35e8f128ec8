#!/bin/bash
# handoff "local" with policy modes stateful and auto: the queue threads keep a
# half-open entry per SYN, the TC program completes the handshake in the
# kernel and reports it through its ring buffer, and the queue thread holding
# the entry retires it.
#  - mode stateful, two queue threads, IPv4 and IPv6: fetches succeed, every
#    SYN got an entry, and the half-open gauge returns to 0 long before any
#    entry could expire (synack_retries 7: entries live 255 s), counted
#    halfopen_tc_retired (= ack_halfopen, one per handshake), nothing lost;
#  - reload to mode auto with syn_rate_trigger forced low: a bounded spoofed
#    SYN flood switches it to cookies and, after the flood, back; legitimate
#    fetches succeed throughout, and those answered statefully afterwards are
#    retired again;
#  - reload to mode cookie: the entries go, fetches go on;
#  - a clean exit leaves no link, program or map (the ring buffer included).
# Skips (77) where the fast path is not built.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need curl python3 bpftool sgflood

N=5
PORT=80
T_QUEUES="0:1" # two threads: a report reaches the one holding the entry, whichever it is

write_conf() { # POLICY-BODY
	t_config "{ name = \"web4\"; address = \"$LAB_SERVER4\"; port = $PORT; handoff = \"local\"; policy = \"p\"; },
{ name = \"web6\"; address = \"$LAB_SERVER6\"; port = $PORT; handoff = \"local\"; policy = \"p\"; }"
	printf 'policies = {\n\tp = { %s };\n};\n' "$1" >>"$T_CONF"
}
STATEFUL='mode = "stateful"; half_open_max = 10000; synack_retries = 7;'
AUTO='mode = "auto"; syn_rate_trigger = 2000; auto_calm_time = 2; half_open_max = 100000; synack_retries = 7;'

lab_up || t_fail "lab up"
write_conf "$STATEFUL"
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"
# real NICs hand over full checksums; a veth sender would leave them partial
lab_exec client ethtool -K eth0 tx off >/dev/null 2>&1
lab_exec attacker ethtool -K eth0 tx off >/dev/null 2>&1

lab_bg server "$T_DIR/server4.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 $PORT
lab_bg server "$T_DIR/server6.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER6 $PORT
t_wait 10 eval "[ \$(lab_exec server ss -Htln 'sport = :$PORT' | wc -l) = 2 ]" ||
	t_fail "the servers did not start"
t_start_daemon

fdinfo_ids() { # KEY: the ids the daemon's fds name
	grep -h "^$1:" /proc/"$T_DAEMON_PID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u
}
links=$(fdinfo_ids link_id)
progs=$(fdinfo_ids prog_id)
maps=$(fdinfo_ids map_id)
ring=
for id in $maps; do
	bpftool map show id "$id" 2>/dev/null | grep -q "ringbuf" && ring="$ring $id"
done
t_expect "the daemon holds the reports' ring buffer" "$(echo $ring | wc -w)" = 1

fetch() { # NAME URL WANT-PREFIX WHAT
	local name=$1 url=$2 want=$3 what=$4 i body
	for i in $(seq $N); do
		body=$(t_curl -f "$url") || t_fail "$name ($what): fetch $i of $url"
		case "$body" in
		"client=$want:"*) ;;
		*) t_fail "$name ($what): body '$body', expected client=$want:..." ;;
		esac
	done
	t_ok "$name ($what): $N fetches, the server saw ${body%$'\n'}"
}

reload_ok() {
	local out
	out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
	case "$out" in reloaded*) ;; *) t_fail "reload: $out" ;; esac
}

# ---- mode stateful ----
for name in web4 web6; do
	if [ $name = web4 ]; then url="http://$LAB_SERVER4/" who=$LAB_CLIENT4; else
		url="http://[$LAB_SERVER6]/" who=$LAB_CLIENT6; fi
	fetch $name "$url" "$who" "mode stateful"
	t_expect "$name: every SYN answered through the table" \
		"$(t_stat listeners.$name.synack_stateful)" = $N
	# nothing but a report can retire an entry this early: its retransmits go on for 255 s
	t_wait 10 t_stat_eq listeners.$name.halfopen_entries 0 ||
		t_fail "$name: the half-open entries stayed ($(t_stat listeners.$name.halfopen_entries))"
	t_ok "$name: the half-open entries are gone"
	h=$(t_stat tc.$name.handoffs)
	r=$(t_stat listeners.$name.halfopen_tc_retired)
	echo "$name: $h handoffs in the TC path, $r entries retired from it," \
		"$(t_stat listeners.$name.synack_retransmits) SYN-ACK retransmits"
	# a handshake's ACK and its first data segment racing on two CPUs may both be handed
	# over (the kernel keeps one): one entry, retired by the first report
	t_expect "$name: one entry retired per handshake" "$r" = $N
	t_expect "$name: as many handoffs (one per handshake, or two when they raced)" \
		"$h" -ge $N -a "$h" -le $((2 * N))
	t_expect "$name: retired entries count as ACKs matched in the table" \
		"$(t_stat listeners.$name.ack_halfopen)" = "$r"
	t_expect "$name: no entry expired" "$(t_stat listeners.$name.halfopen_expired)" = 0
	t_expect "$name: no report lost" "$(t_stat listeners.$name.halfopen_tc_lost)" = 0
	t_expect "$name: no ACK reached the queue" "$(t_stat listeners.$name.repair_failed)$(t_stat total.active_connections)" = 00
done
t_ctl stats | grep -q "^halfopen_tc_retired " || t_fail "the stats table has no halfopen_tc_retired row"
t_ctl stats | grep -q "^tc.halfopen_tc_lost " || t_fail "the stats table has no tc.halfopen_tc_lost row"

# ---- mode auto, its rate trigger forced by a flood ----
write_conf "$AUTO"
reload_ok
t_expect "reload: the links stay" "$(fdinfo_ids link_id | tr '\n' ' ')" = "$(echo "$links" | tr '\n' ' ')"
t_expect "reload: auto starts stateful" "$(pc_mode web4)" = auto:stateful
lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport $PORT --kind syn --rate 20000 --duration 4 --quiet
fpid=$LAB_LAST_PID
t_wait 3 t_stat_ge listeners.web4.mode_to_cookie 1 || t_fail "no switch to cookies under the flood"
t_ok "web4: switched to cookies under the flood"
ok=0 n=0
while kill -0 $fpid 2>/dev/null; do
	lab_exec client curl -s -o /dev/null --connect-timeout 2 --max-time 4 "http://$LAB_SERVER4/" &&
		ok=$((ok + 1))
	lab_exec client curl -s -o /dev/null --connect-timeout 2 --max-time 4 "http://[$LAB_SERVER6]/" &&
		ok=$((ok + 1))
	n=$((n + 2))
	sleep 0.2
done
wait $fpid || t_fail "sgflood: $(cat "$T_DIR/flood.log")"
cat "$T_DIR/flood.log"
echo "during the flood: fetches $ok of $n"
t_expect "fetches during the flood all succeeded" $ok = $n
t_expect "some fetches during the flood" $n -ge 6
t_wait 8 t_stat_ge listeners.web4.mode_to_stateful 1 || t_fail "no switch back after the flood"
t_ok "web4: back to stateful after the flood"
t_expect "web4: auto:stateful again" "$(pc_mode web4)" = auto:stateful
t_wait 10 t_drained || t_fail "the queues did not drain"
# the flood's spoofed SYNs hold entries nobody completes; the fetches' must go
e0=$(t_stat listeners.web4.halfopen_entries)
s0=$(t_stat listeners.web4.synack_stateful)
r0=$(t_stat listeners.web4.halfopen_tc_retired)
fetch web4 "http://$LAB_SERVER4/" "$LAB_CLIENT4" "mode auto, after the flood"
t_expect "web4: answered statefully again" $(($(t_stat listeners.web4.synack_stateful) - s0)) = $N
t_wait 10 t_stat_eq listeners.web4.halfopen_entries "$e0" ||
	t_fail "web4: the fetches' entries stayed ($(t_stat listeners.web4.halfopen_entries), $e0 before)"
t_expect "web4: the fetches' entries retired from the TC path" \
	$(($(t_stat listeners.web4.halfopen_tc_retired) - r0)) = $N
t_expect "no report lost" "$(t_stat total.halfopen_tc_lost)" = 0

# ---- mode cookie: the entries go with the table ----
write_conf 'mode = "cookie";'
reload_ok
t_wait 10 t_stat_eq total.halfopen_entries 0 || t_fail "mode cookie: entries left"
fetch web4 "http://$LAB_SERVER4/" "$LAB_CLIENT4" "mode cookie"
fetch web6 "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" "mode cookie"
t_expect "mode cookie: no entry" "$(t_stat total.halfopen_entries)" = 0

# ---- a clean exit leaves nothing ----
t_stop_daemon
gone() {
	local id
	for id in $links; do bpftool link show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $progs; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $maps; do bpftool map show id "$id" >/dev/null 2>&1 && return 1; done
	return 0
}
t_wait 10 gone || t_fail "a link, program or map outlived the daemon: links $links, programs $progs, maps $maps (ring buffer$ring)"
t_ok "no link, program or map of the daemon left (ring buffer$ring included)"
t_expect "no firewall rule left" "$(lab_exec server iptables-save | grep -c SYNGUARD)" = 0
body=$(t_curl -f "http://$LAB_SERVER4/") || t_fail "direct fetch after exit"
t_ok "direct fetch after the daemon's exit: ${body%$'\n'}"
echo "PASS: $T_NAME"
