#!/bin/bash
# datapath "xdp": the XDP program answers SYNs in the driver and drops ACKs
# with invalid cookies; valid ACKs go on to the NFQUEUE path (proxy, pass-fd)
# or the TC program (handoff "local").
#  - synguardd -t reports the program loading and attaching per device, and
#    which listeners keep their SYNs on the NFQUEUE path;
#  - curl over IPv4 and IPv6 to proxy, pass-fd and local listeners: the
#    SYN-ACK comes from XDP, the ACK validates on the NFQUEUE path or in TC;
#    and the other way round (a SYN with a partial checksum answered on the
#    NFQUEUE path, its ACK checked in XDP);
#  - a bounded spoofed SYN flood (IPv4 and IPv6) answered in XDP: the xdp
#    counters and the listeners' synack_sent grow, the queue thread's
#    syn_received barely moves, the daemon's CPU stays near idle (under
#    2 us per flood SYN), every fetch meanwhile succeeds;
#  - an ACK flood with random acknowledgment numbers dropped in XDP, counted
#    there and in the listener's ack_invalid/ack_expired, never queued;
#  - a proxy listener in mode stateful keeps its SYNs and ACKs on the
#    NFQUEUE path (its half-open table accepts handshakes past their cookie);
#  - a deny list and a per-source SYN rate limit enforced in XDP (the denied
#    client dropped, another host served; one source's SYNs over its rate
#    dropped, another source served); reloads giving a listener a deny list,
#    then mode stateful (its SYNs to the NFQUEUE path), then back, without
#    detaching;
#  - a device whose driver has no XDP (a bridge) gets generic XDP, warned;
#    -t while the daemon runs says the devices are busy; a reload with
#    daemon.devices releases the devices left out, a device gone its link;
#    a reload changing the datapath is refused;
#  - kill -9 during a flood with fail_open true (the port keeps working
#    through the kernel) and false (closed): links, programs and maps go
#    with the process;
#  - as nobody (CAP_NET_ADMIN only): keys published across rotations, a new
#    device attached;
#  - a clean stop leaves no program, link, map or rule.
# The lab's peers get an XDP_PASS program (lab.sh SGLAB_XDP_PEERS) so that
# XDP_TX frames reach them. Skips (77) where the BPF parts are not built.
. "$(dirname "$0")/lib.sh" "$@"
t_need curl python3 bpftool sgflood sgbackend

export SGLAB_XDPPASS=$T_BUILD/tests/lab/sgxdppass
[ -x "$SGLAB_XDPPASS" ] || t_skip "sgxdppass not built (no BPF parts)"
export SGLAB_XDP_PEERS=1
FLOOD=20000 # SYNs (and ACKs) per flood
RATE=20000  # per second: each flood lasts about a second

write_conf() { # FAIL_OPEN [POLICY-OF-px4]
	cat >"$T_CONF" <<CONF
daemon: {
	queue = "0";
	firewall = "iptables";
	fail_open = $1;
	control_socket = "$T_SOCK";
	cookie_rotation = 30;
	user = "root";
	datapath = "xdp";
};
policies = {
	default = { };
	guarded = { deny = [ "$LAB_CLIENT4", "$LAB_CLIENT6" ]; };
	table = { mode = "stateful"; };
	slow = { per_source = { syn_rate = 1; burst = 2; }; };
};
listeners = (
	{ name = "px4"; address = "$LAB_SERVER4"; port = 80; backend = "127.0.0.1:8080"; policy = "${2:-default}"; },
	$(t_listener px6 $LAB_SERVER6 80 proxy 127.0.0.1:8080),
	$(t_listener fd4 $LAB_SERVER4 85 pass-fd unix:$T_DIR/fd.sock),
	{ name = "loc4"; address = "$LAB_SERVER4"; port = 90; handoff = "local"; },
	{ name = "loc6"; address = "$LAB_SERVER6"; port = 90; handoff = "local"; },
	{ name = "deny4"; address = "$LAB_SERVER4"; port = 81; backend = "127.0.0.1:8080"; policy = "guarded"; },
	{ name = "st4"; address = "$LAB_SERVER4"; port = 82; backend = "127.0.0.1:8080"; policy = "table"; },
	{ name = "rl4"; address = "$LAB_SERVER4"; port = 83; backend = "127.0.0.1:8080"; policy = "slow"; }
);
CONF
}

lab_up || t_fail "lab up"
# a bridge has no native XDP: generic there
lab_exec server ip link add sgbr0 type bridge || t_fail "adding a bridge"
lab_exec server ip link set sgbr0 up || t_fail "bridge up"
write_conf true
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"

# ---- synguardd -t ----
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/check.log" 2>&1 ||
	t_fail "synguardd -t: $(cat "$T_DIR/check.log")"
cat "$T_DIR/check.log"
for want in "xdp: program loads (verifier OK)" "xdp: device cli0: XDP native attach OK" \
	"xdp: device att0: XDP native attach OK" "xdp: device lo: skipped" \
	"xdp: device sgbr0: XDP generic (the driver has no native XDP) attach OK" \
	"xdp: listener st4: SYNs on the NFQUEUE path (policy table: mode stateful), ACKs too"; do
	grep -q "$want" "$T_DIR/check.log" || t_fail "synguardd -t does not say: $want"
done
grep -Eq "xdp: listener (px4|deny4|rl4): SYNs on the NFQUEUE path" "$T_DIR/check.log" &&
	t_fail "synguardd -t keeps a cookie listener's SYNs on the NFQUEUE path"
t_ok "synguardd -t: the program loads, attaches per device (native, generic on the bridge), st4 stays on NFQUEUE"

# ---- servers, daemon ----
t_backend http --listen 127.0.0.1:8080 http
lab_bg server "$T_DIR/local4.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 90
lab_bg server "$T_DIR/local6.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER6 90
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_wait 10 eval "[ \$(lab_exec server ss -Htln 'sport = :90' | wc -l) = 2 ]" ||
	t_fail "the local servers did not start"
t_start_daemon
t_backend fd --passfd "$T_DIR/fd.sock" http
t_wait 10 grep -q '^passfd connected' "$T_DIR/backend-fd.log" || t_fail "pass-fd backend"
grep -q "xdp: XDP program attached to cli0 att0 sgbr0 (generic)" "$T_DIR/synguardd.log" ||
	t_fail "the daemon did not say where the XDP program is attached"

fdinfo_ids() { # PID KEY: the ids the process's fds name
	grep -h "^$2:" /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u
}
gone() { # LINKS PROGS MAPS: none of these ids exists any more
	local id
	for id in $1; do bpftool link show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $2; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $3; do bpftool map show id "$id" >/dev/null 2>&1 && return 1; done
	return 0
}
links0=$(fdinfo_ids $T_DAEMON_PID link_id)
t_expect "the daemon holds 6 links (XDP and tcx on 3 devices)" "$(echo "$links0" | grep -c .)" = 6
t_expect "cli0 carries the XDP program" \
	"$(lab_exec server ip link show cli0 | grep -c 'prog/xdp')" = 1

URLS="http://$LAB_SERVER4/ http://[$LAB_SERVER6]/ http://$LAB_SERVER4:85/ http://$LAB_SERVER4:90/ http://[$LAB_SERVER6]:90/"
fetch() { # URL: one page, its body naming a client
	local body
	body=$(lab_exec client curl -sSf --connect-timeout 3 --max-time 5 "$1") || return 1
	case "$body" in "client="*) return 0 ;; esac
	return 1
}
for url in $URLS; do
	fetch "$url" || t_fail "fetch $url"
done
for l in px4 px6 fd4 loc4 loc6; do
	t_expect "$l: its client's SYN answered in XDP" "$(t_stat xdp.listeners.$l.syn_answered)" -ge 1
	t_expect "$l: its ACK valid in XDP" "$(t_stat xdp.listeners.$l.ack_valid)" -ge 1
done
for l in px4 px6 fd4; do
	t_expect "$l: handed off from the NFQUEUE path" "$(t_stat listeners.$l.handoffs)" -ge 1
done
for l in loc4 loc6; do
	t_expect "$l: handed off in TC" "$(t_stat tc.$l.handoffs)" -ge 1
done
t_expect "the queue thread saw no SYN" "$(t_stat queues.0.syn_received)" = 0
t_ok "proxy, pass-fd and local listeners, IPv4 and IPv6: SYN-ACK from XDP, ACK on the NFQUEUE path or in TC"
# the other way round: the client's partial checksums (tx offload on) make XDP leave its
# SYN to the NFQUEUE path, whose SYN-ACK's ACK XDP then checks
lab_exec client ethtool -K eth0 tx on >/dev/null || t_fail "client: tx offload on"
v0=$(t_stat xdp.listeners.px4.ack_valid)
fetch "http://$LAB_SERVER4/" || t_fail "fetch with partial checksums"
lab_full_csum client eth0 || t_fail "client: tx offload off"
t_expect "a SYN with a partial checksum left to the NFQUEUE path" "$(t_stat xdp.listeners.px4.passed_csum)" -ge 1
t_expect "the queue thread answered it" "$(t_stat queues.0.syn_received)" -ge 1
t_expect "its ACK valid in XDP" "$(t_stat xdp.listeners.px4.ack_valid)" -gt $v0
t_ok "a SYN-ACK from the NFQUEUE path: its ACK validates in XDP"
q_base=$(t_stat queues.0.syn_received)

# ---- a SYN flood answered in XDP ----
q0=$(t_stat queues.0.syn_received)
a4=$(t_stat xdp.listeners.px4.syn_answered)
a6=$(t_stat xdp.listeners.px6.syn_answered)
s0=$(t_stat listeners.px4.synack_sent)
cpu_ticks() { # the daemon's user and system time, in clock ticks
	awk '{ print $14 + $15 }' /proc/$T_DAEMON_PID/stat
}
c0=$(cpu_ticks)
lab_bg attacker "$T_DIR/flood4.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 80 --kind syn --rate $RATE --count $FLOOD --quiet
f4=$LAB_LAST_PID
lab_bg attacker "$T_DIR/flood6.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER6 --dport 80 --kind syn --rate $RATE --count $FLOOD --quiet
f6=$LAB_LAST_PID
t_wait 10 t_stat_ge xdp.listeners.px4.syn_answered $((a4 + RATE / 10)) ||
	t_fail "the flood was not answered in XDP"
n=0
while kill -0 $f4 2>/dev/null || kill -0 $f6 2>/dev/null; do
	for url in $URLS; do
		fetch "$url" || t_fail "fetch $url during the SYN flood"
		n=$((n + 1))
	done
done
wait $f4 $f6
t_wait 10 t_stat_ge xdp.listeners.px4.syn_answered $((a4 + FLOOD)) ||
	t_fail "IPv4: $(($(t_stat xdp.listeners.px4.syn_answered) - a4)) of $FLOOD SYNs answered in XDP"
t_wait 10 t_stat_ge xdp.listeners.px6.syn_answered $((a6 + FLOOD)) ||
	t_fail "IPv6: $(($(t_stat xdp.listeners.px6.syn_answered) - a6)) of $FLOOD SYNs answered in XDP"
t_expect "the listener's synack_sent counts XDP's answers" \
	"$(t_stat listeners.px4.synack_sent)" -ge $((s0 + FLOOD))
c=$(($(cpu_ticks) - c0))
hz=$(getconf CLK_TCK)
# the NFQUEUE path spends several microseconds per SYN: under 2 us per flood SYN (the
# fetches included) says the daemon stayed out of the flood's way
t_expect "the daemon's CPU during the flood: $c ticks of 1/$hz s for $((2 * FLOOD)) SYNs and $n fetches" \
	$((c * 1000000 / hz)) -lt $((2 * 2 * FLOOD))
q=$(($(t_stat queues.0.syn_received) - q0))
t_expect "the queue thread saw $q of $((2 * FLOOD)) SYNs" $q -le $((FLOOD / 100))
t_ok "SYN flood ($FLOOD per family) answered in XDP; $n fetches meanwhile all succeeded"

# ---- an ACK flood dropped in XDP ----
i0=$(($(t_stat xdp.listeners.px4.ack_invalid) + $(t_stat xdp.listeners.px4.ack_expired)))
l0=$(($(t_stat listeners.px4.ack_invalid) + $(t_stat listeners.px4.ack_expired)))
qa0=$(($(t_stat queues.0.ack_invalid) + $(t_stat queues.0.ack_expired)))
lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 80 --kind ack --rate $RATE --count $FLOOD --quiet >/dev/null ||
	t_fail "ACK flood"
xdp_dropped() {
	[ $(($(t_stat xdp.listeners.px4.ack_invalid) + $(t_stat xdp.listeners.px4.ack_expired))) -ge $((i0 + FLOOD)) ]
}
t_wait 10 xdp_dropped || t_fail "the ACK flood was not all dropped in XDP"
t_expect "the listener's ack_invalid and ack_expired count them" \
	$(($(t_stat listeners.px4.ack_invalid) + $(t_stat listeners.px4.ack_expired))) -ge $((l0 + FLOOD))
t_expect "the queue thread checked none of them" \
	$(($(t_stat queues.0.ack_invalid) + $(t_stat queues.0.ack_expired))) = $qa0
fetch "http://$LAB_SERVER4/" || t_fail "fetch after the ACK flood"
t_ok "ACK flood ($FLOOD) dropped in XDP and counted"

# ---- a deny list in XDP ----
lab_exec client curl -s -o /dev/null --connect-timeout 2 "http://$LAB_SERVER4:81/" &&
	t_fail "the denied client fetched from deny4"
t_expect "deny4: the denied SYNs dropped in XDP" "$(t_stat xdp.listeners.deny4.syn_denied)" -ge 1
t_expect "deny4: and counted in the listener's syn_denied" "$(t_stat listeners.deny4.syn_denied)" -ge 1
t_expect "deny4: XDP answered none of them" "$(t_stat xdp.listeners.deny4.syn_answered)" = 0
lab_exec attacker curl -sSf -o /dev/null --max-time 5 "http://$LAB_SERVER4:81/" ||
	t_fail "another host could not fetch from deny4"
t_expect "deny4: another host's SYN answered in XDP" "$(t_stat xdp.listeners.deny4.syn_answered)" -ge 1
t_expect "the queue thread saw no SYN of deny4" "$(t_stat queues.0.syn_received)" -le $((q_base + FLOOD / 100))
t_ok "deny4: the denied client dropped in XDP, another host served from XDP"

# ---- a per-source SYN rate limit in XDP ----
r0=$(t_stat queues.0.syn_received)
lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --src 203.0.113.7/32 \
	--dst $LAB_SERVER4 --dport 83 --kind syn --count 200 --rate 2000 --quiet >/dev/null ||
	t_fail "SYNs from one source to rl4"
t_wait 10 t_stat_ge xdp.listeners.rl4.syn_rate_limited 150 ||
	t_fail "rl4: $(t_stat xdp.listeners.rl4.syn_rate_limited) of 200 SYNs from one source rate-limited in XDP"
t_expect "rl4: at most burst + rate answered" "$(t_stat xdp.listeners.rl4.syn_answered)" -le 8
t_expect "rl4: the listener's syn_rate_limited counts them" \
	"$(t_stat listeners.rl4.syn_rate_limited)" -ge 150
t_expect "rl4: the queue thread saw none" "$(t_stat queues.0.syn_received)" = $r0
fetch "http://$LAB_SERVER4:83/" || t_fail "rl4: another source could not fetch"
t_ok "rl4: 200 SYNs from one source limited in XDP, another source served"

# ---- a stateful proxy listener: SYNs and ACKs on the NFQUEUE path ----
fetch "http://$LAB_SERVER4:82/" || t_fail "fetch from st4"
t_expect "st4: a SYN-ACK from the half-open table" "$(t_stat listeners.st4.synack_stateful)" -ge 1
t_expect "st4: its handshake matched in the table" "$(t_stat listeners.st4.ack_halfopen)" -ge 1
lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 82 --kind ack --count 1000 --rate $RATE --quiet >/dev/null ||
	t_fail "ACK flood to st4"
st4_checked() {
	[ $(($(t_stat listeners.st4.ack_invalid) + $(t_stat listeners.st4.ack_expired))) -ge 1000 ]
}
t_wait 10 st4_checked || t_fail "st4: the queue thread did not check the ACK flood"
t_expect "st4: XDP dropped none of its ACKs" \
	"$(t_stat xdp.listeners.st4.ack_invalid)$(t_stat xdp.listeners.st4.ack_expired)" = 00
t_ok "st4 (mode stateful): SYNs and ACKs on the NFQUEUE path, which holds its half-open table"

# ---- a reload gives px4 a deny list, then mode stateful, without detaching ----
write_conf true guarded
out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
p0=$(t_stat xdp.listeners.px4.syn_denied)
lab_exec client curl -s -o /dev/null --connect-timeout 2 "http://$LAB_SERVER4/" &&
	t_fail "after the reload, the denied client fetched from px4"
t_expect "px4 after the reload: XDP drops the denied SYNs" "$(t_stat xdp.listeners.px4.syn_denied)" -gt $p0
write_conf true table
out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
p0=$(t_stat xdp.listeners.px4.syn_passed)
fetch "http://$LAB_SERVER4/" || t_fail "px4 in mode stateful"
t_expect "px4 in mode stateful: XDP passes its SYNs" "$(t_stat xdp.listeners.px4.syn_passed)" -gt $p0
t_expect "px4 in mode stateful: answered from the table" "$(t_stat listeners.px4.synack_stateful)" -ge 1
t_expect "px4 after the reload: the same links" "$(fdinfo_ids $T_DAEMON_PID link_id)" = "$links0"
write_conf true
out=$(t_ctl reload 2>&1) || t_fail "reload back: $out"
fetch "http://$LAB_SERVER4/" || t_fail "px4 after the reload back"
t_ok "reloads change a listener's policy in XDP and move its SYNs to the NFQUEUE path and back, links kept"

# ---- devices: the bridge's generic XDP, -t while the daemon runs, daemon.devices ----
grep -q "xdp: device sgbr0: its driver has no native XDP: generic XDP" "$T_DIR/synguardd.log" ||
	t_fail "no warning about generic XDP on sgbr0"
# the running daemon's program holds the devices: -t says so, and fails
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/check2.log" 2>&1 &&
	t_fail "synguardd -t succeeded on devices the daemon's program holds"
grep -q "xdp: device cli0: XDP attach failed: Device or resource busy (another XDP program is attached there" \
	"$T_DIR/check2.log" || t_fail "synguardd -t does not say why cli0 is busy: $(cat "$T_DIR/check2.log")"
sed -i 's|^\tdatapath = "xdp";|&\n\tdevices = [ "cli0", "sgbr0" ];|' "$T_CONF"
out=$(t_ctl reload 2>&1) || t_fail "reload with daemon.devices: $out"
grep -q "xdp: device att0 is no longer in daemon.devices: its link released" \
	"$T_DIR/synguardd.log" || t_fail "att0 kept its link after the reload"
t_expect "att0 carries no XDP program" "$(lab_exec server ip link show att0 | grep -c 'prog/xdp')" = 0
t_expect "cli0 still carries it" "$(lab_exec server ip link show cli0 | grep -c 'prog/xdp')" = 1
fetch "http://$LAB_SERVER4/" || t_fail "fetch with daemon.devices"
lab_exec server ip link del sgbr0
t_wait 10 grep -q "xdp: device sgbr0 (index [0-9]*) is gone: its link released" "$T_DIR/synguardd.log" ||
	t_fail "the bridge's link was not released when it went"
write_conf true
out=$(t_ctl reload 2>&1) || t_fail "reload without daemon.devices: $out"
t_expect "att0 carries the program again" "$(lab_exec server ip link show att0 | grep -c 'prog/xdp')" = 1
t_ok "generic XDP where a driver has none (warned); daemon.devices applied on reload"
sed -i 's|^\tdatapath = "xdp";|\tdatapath = "nfqueue";|' "$T_CONF"
out=$(t_ctl reload 2>&1) && t_fail "a reload changed the datapath: $out"
case "$out" in *"daemon.datapath changed"*"restart synguardd"*) ;; *) t_fail "datapath reload refusal: $out" ;; esac
write_conf true
t_ok "a reload changing the datapath is refused"

# ---- kill -9 under a flood ----
kill9() { # FAIL_OPEN
	local links progs maps a
	links=$(fdinfo_ids $T_DAEMON_PID link_id)
	progs=$(fdinfo_ids $T_DAEMON_PID prog_id)
	maps=$(fdinfo_ids $T_DAEMON_PID map_id)
	a=$(t_stat xdp.listeners.loc4.syn_answered)
	lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst $LAB_SERVER4 --dport 90 --kind syn --duration 6 --rate $RATE --quiet
	FLOOD_PID=$LAB_LAST_PID
	t_wait 10 t_stat_ge xdp.listeners.loc4.syn_answered $((a + 1000)) ||
		t_fail "fail_open $1: the flood was not answered in XDP"
	kill -9 $T_DAEMON_PID
	wait $T_DAEMON_PID 2>/dev/null
	t_wait 10 gone "$links" "$progs" "$maps" ||
		t_fail "fail_open $1: links, programs or maps outlived kill -9"
	t_expect "fail_open $1: no XDP program left on cli0" \
		"$(lab_exec server ip link show cli0 | grep -c 'prog/xdp')" = 0
	t_ok "fail_open $1: kill -9 during the flood took the links, programs and maps along"
}
kill9 true
fetch "http://$LAB_SERVER4:90/" || t_fail "fail_open true: the kernel did not serve the port after kill -9"
fetch "http://[$LAB_SERVER6]:90/" || t_fail "fail_open true: no IPv6 service after kill -9"
t_ok "fail_open true: the server serves directly after kill -9, under the flood"
wait $FLOOD_PID 2>/dev/null

write_conf false
t_start_daemon
fetch "http://$LAB_SERVER4:90/" || t_fail "after the restart: fetch"
kill9 false
lab_exec client curl -s -o /dev/null --connect-timeout 2 "http://$LAB_SERVER4:90/" &&
	t_fail "fail_open false: the port answered after kill -9"
t_ok "fail_open false: the port stays closed after kill -9"
wait $FLOOD_PID 2>/dev/null

# ---- as nobody: keys across rotations, a device attached on reload ----
if getent passwd nobody >/dev/null; then
	chmod 755 "$T_DIR"
	sock=$T_SOCK
	T_SOCK=$T_DIR/run/control.sock
	cat >"$T_CONF" <<CONF
daemon: {
	queue = "0";
	control_socket = "$T_SOCK";
	cookie_rotation = 1;
	user = "nobody";
	datapath = "xdp";
};
listeners = ( $(t_listener px4 $LAB_SERVER4 80 proxy 127.0.0.1:8080) );
CONF
	t_start_daemon
	t_expect "as nobody: CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE only" \
		"$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/$T_DAEMON_PID/status)" = 0000000000003400
	e0=$(date +%s)
	while [ $(date +%s) -lt $((e0 + 4)) ]; do
		fetch "http://$LAB_SERVER4/" || t_fail "as nobody: fetch across key rotations"
	done
	t_expect "as nobody: the ACKs validated in XDP" "$(t_stat xdp.listeners.px4.ack_valid)" -ge 4
	t_expect "as nobody: none expired or invalid" \
		"$(t_stat xdp.listeners.px4.ack_expired)$(t_stat xdp.listeners.px4.ack_invalid)" = 00
	grep -q "xdp: publishing the cookie keys" "$T_DIR/synguardd.log" &&
		t_fail "as nobody: a key publish failed"
	lab_exec server ip link add sgbr1 type bridge && lab_exec server ip link set sgbr1 up
	t_wait 10 grep -q "xdp: XDP program attached to sgbr1 too" "$T_DIR/synguardd.log" ||
		t_fail "as nobody: a new device was not attached"
	lab_exec server ip link del sgbr1
	t_stop_daemon
	T_SOCK=$sock
	t_ok "as nobody: keys published across rotations, a new device attached"
fi

# ---- clean start and stop ----
write_conf true
t_start_daemon
fetch "http://[$LAB_SERVER6]/" || t_fail "last start: fetch"
links=$(fdinfo_ids $T_DAEMON_PID link_id)
progs=$(fdinfo_ids $T_DAEMON_PID prog_id)
maps=$(fdinfo_ids $T_DAEMON_PID map_id)
t_stop_daemon
t_wait 10 gone "$links" "$progs" "$maps" || t_fail "a link, program or map outlived the clean stop"
t_expect "clean stop: no XDP program on the server's devices" \
	"$(lab_exec server ip link show | grep -c 'prog/xdp')" = 0
t_expect "clean stop: no rule left" \
	"$({ lab_exec server iptables-save; lab_exec server ip6tables-save; } | grep -c SYNGUARD)" = 0
t_ok "clean stop: nothing left"
echo "PASS: $T_NAME"
