#!/bin/bash
# handoff "local": an unmodified HTTP server (peer_http.py) listens on the
# protected addresses and port itself; synguardd answers the SYNs from the
# NFQUEUE path and its TC program (kernel fast path) hands each handshake ACK
# to the server's socket. curl over IPv4 and IPv6, with the client's defaults
# and with timestamps, window scaling and SACK each off: the server sees the
# client's own address, the TC path counts each handoff, the queue sees no
# ACK. ECN on and off: while a client holds a connection open, ss shows ECN on
# both ends or on neither (on both only with the client's ECN and timestamps
# on and the server's net.ipv4.tcp_ecn != 0, re-read on reload). 10,000
# forged ACKs per family make no connection and are counted invalid in the
# TC path. After a clean exit no program, link or map of the
# daemon is left. Skips (77) where the fast path is not built.
. "$(dirname "$0")/lib.sh" "$@"
t_need curl python3 bpftool sgflood

N=3
FORGED=10000
PORT=80

t_local() { # NAME ADDRESS PORT [POLICY]
	printf '{ name = "%s"; address = "%s"; port = %s; handoff = "local"; }' "$1" "$2" "$3"
}

ROTATION=2 # seconds: the test's fetches cross several key rotations

lab_up || t_fail "lab up"
conf_both() {
	t_config "$(t_local web4 $LAB_SERVER4 $PORT),
$(t_local web6 $LAB_SERVER6 $PORT)"
	sed -i "s/cookie_rotation = 30;/cookie_rotation = $ROTATION;/" "$T_CONF"
	sed -i 's|^\tuser = .*|&\n\tmetrics_listen = "127.0.0.1:9477";|' "$T_CONF"
}
conf_both
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"
# real NICs hand over full checksums; a veth sender would leave them partial
if command -v ethtool >/dev/null; then
	lab_exec client ethtool -K eth0 tx off >/dev/null 2>&1
	lab_exec attacker ethtool -K eth0 tx off >/dev/null 2>&1
fi

lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/check.log" 2>&1 ||
	t_fail "synguardd -t: $(cat "$T_DIR/check.log")"
cat "$T_DIR/check.log"
grep -q "fast path: device cli0: tcx ingress attach OK" "$T_DIR/check.log" ||
	t_fail "synguardd -t does not report the client device as usable"
grep -q "fast path: device lo: skipped" "$T_DIR/check.log" ||
	t_fail "synguardd -t does not say why loopback is skipped"

lab_bg server "$T_DIR/server4.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 $PORT
lab_bg server "$T_DIR/server6.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER6 $PORT
t_wait 10 eval "[ \$(lab_exec server ss -Htln 'sport = :$PORT' | wc -l) = 2 ]" ||
	t_fail "the servers did not start"
# the kernel's default, which accepts ECN on incoming connections; said here because
# the ECN runs below depend on it
lab_sysctl server net.ipv4.tcp_ecn=2
t_start_daemon
grep -q "fast path: TC ingress program attached to" "$T_DIR/synguardd.log" ||
	t_fail "the daemon did not say where the program is attached"

# What the daemon holds: its links (tcx), programs and maps, by id.
fdinfo_ids() { # KEY: the ids the daemon's fds name
	grep -h "^$1:" /proc/"$T_DAEMON_PID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u
}
links=$(fdinfo_ids link_id)
progs=$(fdinfo_ids prog_id)
maps=$(fdinfo_ids map_id)
t_expect "the daemon holds tcx links (2 devices)" "$(echo "$links" | grep -c .)" -ge 2
t_expect "the daemon holds maps" "$(echo "$maps" | grep -c .)" -ge 4
grep -qh "^link_type:.*tcx" /proc/"$T_DAEMON_PID"/fdinfo/* 2>/dev/null ||
	echo "note: this kernel's fdinfo does not name the link type"

# Each fetch comes from a client port no earlier fetch used (below the
# client's ephemeral ports): a port that meets the server's TIME_WAIT of an
# earlier fetch has its SYN answered by the kernel, rightly (see TIME_WAIT
# reuse below), and no handoff would count for it.
fetch_port=31000
fetch() { # NAME URL WANT-PREFIX WHAT
	local name=$1 url=$2 want=$3 what=$4 i body h0
	h0=$(t_stat "tc.$name.handoffs")
	for i in $(seq $N); do
		fetch_port=$((fetch_port + 1))
		body=$(t_curl -f --local-port $fetch_port "$url") || t_fail "$name ($what): fetch $i of $url"
		case "$body" in
		"client=$want:"*) ;;
		*) t_fail "$name ($what): body '$body', expected client=$want:..." ;;
		esac
	done
	t_ok "$name ($what): $N fetches, the server saw ${body%$'\n'}"
	# at least one per fetch: the ACK and a data segment of the same handshake
	# racing on two CPUs are both handed over (the kernel keeps one, as for its
	# own syncookies)
	h1=$(t_stat "tc.$name.handoffs")
	t_expect "$name ($what): $N handoffs in the TC path ($((h1 - h0)))" \
		$((h1 - h0)) -ge $N -a $((h1 - h0)) -le $((2 * N))
}

check_all() { # WHAT
	fetch web4 "http://$LAB_SERVER4/" "$LAB_CLIENT4" "$1"
	fetch web6 "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" "$1"
}

check_all "client defaults"
for opt in tcp_timestamps tcp_window_scaling tcp_sack; do
	lab_sysctl client net.ipv4.$opt=0
	check_all "no ${opt#tcp_}"
	lab_sysctl client net.ipv4.$opt=1
done

# ECN. A client that connects and then waits, sending nothing, keeps its
# connection established on purpose; both ends are asked while it is, then the
# client goes (its kernel closes with a FIN: nothing is in flight, so no stray
# segment meets the TC program after the server's socket is gone). "ecn" in ss -io (iproute2 prints the options only with -o): the
# connection uses ECN (RFC 3168) on that end; "ts" shows the options are printed.
reload_ok() {
	local out
	out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
	case "$out" in reloaded*) ;; *) t_fail "reload: $out" ;; esac
}
ECN_HOLD='import signal, socket, sys
a, port, lport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET)
s.bind(("::" if ":" in a else "", lport))
s.connect((a, port))
print("connected", flush=True)
signal.pause()'
ecn_port=30200 # below the client's ephemeral ports: each run its own
ecn_run() { # WHAT FAMILY yes|no [no-ts]
	local what=$1 fam=$2 want=$3 ts=${4:-ts} addr pid srv cli s c
	ecn_port=$((ecn_port + 1))
	if [ "$fam" = 4 ]; then addr=$LAB_SERVER4; else addr=$LAB_SERVER6; fi
	srv="( sport = :$PORT and dport = :$ecn_port )"
	cli="( dport = :$PORT and sport = :$ecn_port )"
	lab_bg client "$T_DIR/ecn-hold-$ecn_port.log" python3 -c "$ECN_HOLD" "$addr" $PORT $ecn_port
	pid=$LAB_LAST_PID
	t_wait 10 eval "lab_exec server ss -Htn state established '$srv' | grep -q . &&
		lab_exec client ss -Htn state established '$cli' | grep -q ." ||
		t_fail "ECN ($what, IPv$fam): no established connection from port $ecn_port"
	s=$(lab_exec server ss -Htino state established "$srv")
	c=$(lab_exec client ss -Htino state established "$cli")
	kill -0 "$pid" 2>/dev/null || t_fail "ECN ($what, IPv$fam): the client ended early: $(cat "$T_DIR/ecn-hold-$ecn_port.log")"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "server:" $s
	echo "client:" $c
	if [ "$ts" = ts ]; then
		echo "$s" | grep -qw ts && echo "$c" | grep -qw ts ||
			t_fail "ECN ($what, IPv$fam): ss shows no timestamps: it prints no options here"
	fi
	if [ "$want" = yes ]; then
		echo "$s" | grep -qw ecn || t_fail "ECN ($what, IPv$fam): the server's connection has no ECN"
		echo "$c" | grep -qw ecn || t_fail "ECN ($what, IPv$fam): the client's connection has no ECN"
		t_ok "ECN ($what, IPv$fam): ECN on both ends"
	else
		echo "$s" | grep -qw ecn && t_fail "ECN ($what, IPv$fam): the server's connection has ECN"
		echo "$c" | grep -qw ecn && t_fail "ECN ($what, IPv$fam): the client's connection has ECN"
		t_ok "ECN ($what, IPv$fam): ECN on neither end"
	fi
}
lab_sysctl client net.ipv4.tcp_ecn=1
ecn_run "ECN on" 4 yes
ecn_run "ECN on" 6 yes
lab_sysctl client net.ipv4.tcp_timestamps=0
ecn_run "ECN on, no timestamps" 4 no no-ts
ecn_run "ECN on, no timestamps" 6 no no-ts
lab_sysctl client net.ipv4.tcp_timestamps=1
# the server's namespace refuses ECN: the daemon reads it again on reload
lab_sysctl server net.ipv4.tcp_ecn=0
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep -q "net.ipv4.tcp_ecn is 0" ||
	t_fail "synguardd -t does not say that tcp_ecn 0 means no ECN"
reload_ok
ecn_run "ECN on, server tcp_ecn=0" 4 no
lab_sysctl server net.ipv4.tcp_ecn=2
reload_ok
ecn_run "ECN on, server tcp_ecn back to 2" 4 yes
lab_sysctl client net.ipv4.tcp_ecn=0
ecn_run "ECN off" 4 no
ecn_run "ECN off" 6 no
lab_sysctl client net.ipv4.tcp_ecn=2

for name in web4 web6; do
	t_expect "$name: no invalid ACK" "$(t_stat "tc.$name.ack_invalid")" = 0
	t_expect "$name: no failed handoff" "$(t_stat "tc.$name.handoff_failed")" = 0
	t_expect "$name: every valid ACK handed off" \
		"$(t_stat "tc.$name.ack_valid")" = "$(t_stat "tc.$name.handoffs")"
	t_expect "$name: the listener total includes the TC path" \
		"$(t_stat "listeners.$name.handoffs")" = "$(t_stat "tc.$name.handoffs")"
done
t_expect "the SYNs were answered by the queue" "$(t_stat total.synack_sent)" -ge $((8 * N))
t_expect "no ACK reached the queue: nothing relayed" "$(t_stat total.active_connections)" = 0
t_ctl stats | grep -q "^tc.handoffs" || t_fail "the stats table has no TC rows"
t_ctl listeners | grep -q "^web4 .* local " || t_fail "synguardctl listeners does not say local"
lab_exec server curl -sS --max-time 5 -o "$T_DIR/metrics.txt" http://127.0.0.1:9477/metrics ||
	t_fail "GET /metrics"
m=$(sed -n 's/^synguard_tc_handoffs_total{listener="web4"} //p' "$T_DIR/metrics.txt")
t_expect "metrics: synguard_tc_handoffs_total of web4" "$m" = "$(t_stat tc.web4.handoffs)"
m=$(sed -n 's/^synguard_handoffs_total{listener="web4"} //p' "$T_DIR/metrics.txt")
t_expect "metrics: the listener family includes the TC path" "$m" = "$(t_stat tc.web4.handoffs)"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T_DIR/metrics.txt" >"$T_DIR/promtool.log" 2>&1 ||
		t_fail "promtool check metrics: $(cat "$T_DIR/promtool.log")"
	t_ok "promtool accepts the metrics with the TC families"
fi

# The client reuses its port while the server holds the old connection in
# TIME_WAIT (the server closed first): the program marks that SYN, the
# firewall leaves it to the kernel, which recycles the TIME_WAIT.
tw_port=30123 # below the client's ephemeral ports: no later fetch meets its TIME_WAIT
body=$(t_curl -f --local-port $tw_port "http://$LAB_SERVER4/eof") || t_fail "first fetch from port $tw_port"
t_wait 5 eval "lab_exec server ss -Htan state time-wait '( dport = :$tw_port )' | grep -q ." ||
	t_fail "the server holds no TIME_WAIT for port $tw_port"
s0=$(t_stat listeners.web4.synack_sent)
f0=$(t_stat tc.web4.ack_flow_passed)
body=$(t_curl -f --local-port $tw_port "http://$LAB_SERVER4/eof") ||
	t_fail "fetch from port $tw_port while the server's TIME_WAIT holds it"
t_expect "TIME_WAIT reuse: the server saw the client's port" "${body%$'\n'}" = "client=$LAB_CLIENT4:$tw_port"
t_expect "TIME_WAIT reuse: the kernel answered that SYN, not the daemon" \
	"$(t_stat listeners.web4.synack_sent)" = "$s0"
t_expect "TIME_WAIT reuse: counted as passed in the TC path" "$(t_stat tc.web4.ack_flow_passed)" -gt "$f0"

# Handshakes across key rotations: the program's keys follow the queue's.
# Bounded by time, not by a count of fetches: a fast machine makes many more
# fetches in three epochs than a slow one.
e0=$(($(date +%s) / ROTATION))
deadline=$(($(date +%s) + 3 * ROTATION + 10))
i=0
while [ $(($(date +%s) / ROTATION)) -lt $((e0 + 3)) ] && [ "$(date +%s)" -lt $deadline ]; do
	body=$(t_curl -f "http://$LAB_SERVER4/") || t_fail "fetch $i across the rotations"
	i=$((i + 1))
done
t_expect "fetches through three key epochs ($i)" $(($(date +%s) / ROTATION)) -ge $((e0 + 3))
t_expect "no ACK expired or invalid across the rotations" \
	"$(t_stat tc.web4.ack_expired)$(t_stat tc.web4.ack_invalid)" = 00

# Reload: the maps follow without detaching. web6 goes (its port is the
# kernel's alone), then comes back under the fast path.
h4=$(t_stat tc.web4.handoffs)
t_config "$(t_local web4 $LAB_SERVER4 $PORT)"
sed -i "s/cookie_rotation = 30;/cookie_rotation = $ROTATION;/" "$T_CONF"
# a device that came up since the start is covered from this reload on
lab_exec server ip link add extra0 type veth peer name extra1 || t_fail "adding a device"
lab_exec server ip link set extra0 up && lab_exec server ip link set extra1 up
reload_ok
now=$(fdinfo_ids link_id)
for id in $links; do
	echo "$now" | grep -qx "$id" || t_fail "reload: link $id of the start is gone"
done
t_expect "reload: the links of the start stay, the new devices got one each" \
	"$(echo "$now" | grep -c .)" = $(($(echo "$links" | grep -c .) + 2))
grep -q "fast path: TC ingress program attached to extra0 too" "$T_DIR/synguardd.log" ||
	t_fail "the new device's link is not logged"
links=$now
t_expect "reload: web6 is gone from the TC counters" "$(t_stat tc.web6.handoffs)" = ""
body=$(t_curl -f "http://[$LAB_SERVER6]/") || t_fail "IPv6 fetch without synguard"
t_ok "web6 removed: the server answers directly (${body%$'\n'})"
fetch web4 "http://$LAB_SERVER4/" "$LAB_CLIENT4" "after a reload"
t_expect "reload: web4's TC counters carried over" "$(t_stat tc.web4.handoffs)" -ge $((h4 + N))
conf_both
reload_ok
t_expect "reload back: the same links" "$(fdinfo_ids link_id | tr '\n' ' ')" = "$(echo "$links" | tr '\n' ' ')"
progs=$(fdinfo_ids prog_id)
maps=$(fdinfo_ids map_id)
fetch web6 "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" "back after a reload"

# Forged ACKs: random acknowledgment numbers from spoofed sources.
for fam in 4 6; do
	if [ $fam = 4 ]; then dst=$LAB_SERVER4 name=web4; else dst=$LAB_SERVER6 name=web6; fi
	a0=$(t_stat "tc.$name.ack_invalid")
	h0=$(t_stat "tc.$name.handoffs")
	v0=$(t_stat "tc.$name.ack_valid")
	out=$(lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst "$dst" --dport $PORT --kind ack --count $FORGED --rate 20000 --quiet) ||
		t_fail "sgflood: $out"
	echo "$out"
	# the program counts before the packet goes anywhere: wait for the count to settle
	t_wait 10 eval '[ "$(t_stat tc.'$name'.ack_invalid)" -ge '$((a0 + FORGED))' ]'
	a1=$(t_stat "tc.$name.ack_invalid")
	d=$((a1 - a0))
	echo "IPv$fam: tc ack_invalid grew by $d"
	t_expect "IPv$fam: the TC path counted the forged ACKs invalid (>= 99%)" \
		$d -ge $((FORGED * 99 / 100))
	t_expect "IPv$fam: no more than sent" $d -le $FORGED
	t_expect "IPv$fam: no valid ACK among them" "$(t_stat "tc.$name.ack_valid")" = "$v0"
	t_expect "IPv$fam: no handoff from them" "$(t_stat "tc.$name.handoffs")" = "$h0"
	est=$(lab_exec server ss -Htn state established "( sport = :$PORT )" | wc -l)
	t_expect "IPv$fam: no established socket on port $PORT" "$est" = 0
done
# 100 MB through the fast path, checksummed (the connection is the server's own)
BULK=$((100 * 1024 * 1024))
want=$(python3 -c "import hashlib,sys; n=$BULK; c=bytes(range(256))*4096; h=hashlib.sha256()
while n>0: h.update(c[:min(n,len(c))]); n-=min(n,len(c))
print(h.hexdigest())")
bulk() { # URL: "SHA256 BYTES-PER-SECOND"
	lab_exec client sh -c "curl -sS -f --max-time 60 -w '%{speed_download}\n' -o '$T_DIR/bulk' '$1' &&
		sha256sum '$T_DIR/bulk' | cut -d' ' -f1; rm -f '$T_DIR/bulk'"
}
out=$(bulk "http://$LAB_SERVER4/bulk/$BULK") || t_fail "100 MB fetch"
t_expect "100 MB through handoff local: sha256 matches" "$(echo "$out" | sed -n 2p)" = "$want"
echo "100 MB through handoff local: $(echo "$out" | sed -n 1p | awk '{ printf "%.0f MB/s", $1 / 1e6 }')"

fetch web4 "http://$LAB_SERVER4/" "$LAB_CLIENT4" "after the flood"
fetch web6 "http://[$LAB_SERVER6]/" "$LAB_CLIENT6" "after the flood"

# Clean exit: nothing of the daemon's stays in the kernel.
t_stop_daemon
gone() { # none of the daemon's ids exists any more (the kernel frees them after RCU)
	local id
	for id in $links; do bpftool link show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $progs; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done
	for id in $maps; do bpftool map show id "$id" >/dev/null 2>&1 && return 1; done
	return 0
}
t_wait 10 gone || t_fail "a link, program or map outlived the daemon: links $links, programs $progs, maps $maps"
t_ok "no link, program or map of the daemon left ($(echo $links | wc -w) links, $(echo $progs | wc -w) programs, $(echo $maps | wc -w) maps)"
for dev in cli0 att0; do
	q=$(lab_exec server tc qdisc show dev $dev | grep -c clsact)
	t_expect "$dev: no clsact qdisc" "$q" = 0
done
t_expect "no firewall rule left" "$(lab_exec server iptables-save | grep -c SYNGUARD)" = 0
# the port is the server's alone again: the kernel answers it directly
body=$(t_curl -f "http://$LAB_SERVER4/") || t_fail "direct fetch after exit"
t_ok "direct fetch after the daemon's exit: ${body%$'\n'}"
out=$(bulk "http://$LAB_SERVER4/bulk/$BULK") || t_fail "100 MB fetch, direct"
t_expect "100 MB direct: sha256 matches" "$(echo "$out" | sed -n 2p)" = "$want"
echo "100 MB direct, for comparison: $(echo "$out" | sed -n 1p | awk '{ printf "%.0f MB/s", $1 / 1e6 }')"
echo "PASS: $T_NAME"
