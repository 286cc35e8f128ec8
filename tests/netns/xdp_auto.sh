#!/bin/bash
# Mode "auto" with datapath "xdp": stateful answers on the NFQUEUE path while
# calm; when a spoofed SYN flood passes syn_rate_trigger the queue threads
# switch to cookies and set the XDP program's switch, so that the flood is
# answered in XDP (syn_answered grows, the queue threads' syn_received barely
# does). The SYNs XDP answers count toward the threads' SYN rate: the mode
# stays cookie for the whole flood (one switch each way, counted and logged),
# and goes back to stateful auto_calm_time after it, when SYNs reach the
# queue threads again. Fetches succeed throughout, and a reload during the
# flood changes none of it. Two queue threads, each
# with its share of the trigger and of XDP's answers. Skips (77) where the
# BPF parts are not built.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend sgflood curl

export SGLAB_XDPPASS=$T_BUILD/tests/lab/sgxdppass
[ -x "$SGLAB_XDPPASS" ] || t_skip "sgxdppass not built (no BPF parts)"
export SGLAB_XDP_PEERS=1

lab_up || t_fail "lab up"
T_QUEUES="0:1"
T_DAEMON_EXTRA='datapath = "xdp";'
pc_config "$(pc_listener web $LAB_SERVER4 80 proxy 127.0.0.1:8080 adaptive)" '
	adaptive = { mode = "auto"; syn_rate_trigger = 2000; auto_calm_time = 2;
	             half_open_max = 100000; };'
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/check.log" 2>&1 ||
	t_fail "synguardd -t: $(cat "$T_DIR/check.log")"
grep -q "xdp: listener web: SYNs on the NFQUEUE path but while it answers with cookies (then in XDP)" \
	"$T_DIR/check.log" || t_fail "synguardd -t does not tell auto mode's answer: $(cat "$T_DIR/check.log")"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

queued() { # SYNs the queue threads received
	echo $(($(t_stat queues.0.syn_received) + $(t_stat queues.1.syn_received)))
}
fetch() {
	lab_exec client curl -sSf -o /dev/null --connect-timeout 3 --max-time 5 "http://$LAB_SERVER4/"
}

fetch || t_fail "fetch before the flood"
t_expect "quiet: answered statefully" "$(t_stat listeners.web.synack_stateful)" = 1
t_expect "quiet: the SYN reached a queue thread" "$(queued)" = 1
t_expect "quiet: nothing answered in XDP" "$(t_stat xdp.listeners.web.syn_answered)" = 0
t_expect "quiet: XDP passed the SYN" "$(t_stat xdp.listeners.web.syn_passed)" = 1
t_expect "quiet: listeners says auto:stateful" "$(pc_mode web)" = auto:stateful

# ---- the flood: 5 s, longer than the rate window and auto_calm_time together ----
lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 80 --kind syn --rate 20000 --duration 5 --quiet
fpid=$LAB_LAST_PID
pc_wait 3 pc_stat_ge listeners.web.mode_to_cookie 1 || t_fail "no switch to cookies under the flood"
t_wait 5 t_stat_ge xdp.listeners.web.syn_answered 1000 || t_fail "the flood is not answered in XDP"
t_ok "switched to cookies under the flood, answered in XDP"
# a reload keeps the listener, its mode and XDP's answer
out=$(t_ctl reload) || t_fail "reload during the flood: $out"
b0=$(t_stat xdp.listeners.web.syn_answered)
t_wait 5 t_stat_ge xdp.listeners.web.syn_answered $((b0 + 1000)) ||
	t_fail "after a reload, the flood is no longer answered in XDP"
t_ok "a reload during the flood: still answered in XDP"
q0=$(queued)
a0=$(t_stat xdp.listeners.web.syn_answered)
ok=0 n=0
while kill -0 $fpid 2>/dev/null; do
	fetch && ok=$((ok + 1))
	n=$((n + 1))
	t_expect "during the flood: no switch back" "$(t_stat listeners.web.mode_to_stateful)" = 0
	sleep 0.2
done
wait $fpid || t_fail "sgflood: $(cat "$T_DIR/flood.log")"
cat "$T_DIR/flood.log"
# calm takes auto_calm_time after the rate window empties: seconds, not the moments since
t_expect "to the flood's end: one switch to cookies, none back" \
	"$(t_stat listeners.web.mode_to_cookie)/$(t_stat listeners.web.mode_to_stateful)" = 1/0
a=$(($(t_stat xdp.listeners.web.syn_answered) - a0))
q=$(($(queued) - q0))
echo "during the flood: $a SYNs answered in XDP, $q received by the queue threads; fetches $ok of $n"
t_expect "fetches during the flood all succeeded" $ok = $n
t_expect "some fetches during the flood" $n -ge 5
t_expect "during the flood, XDP answered" $a -ge 20000
t_expect "during the flood, the queue threads barely saw SYNs" $q -le $((a / 100))
t_expect "listeners: cookies ($(pc_mode web))" "$(pc_mode web | sed 's/(.*//')" = auto:cookie

# ---- and back ----
pc_wait 8 pc_stat_ge listeners.web.mode_to_stateful 1 || t_fail "no switch back after the flood"
t_ok "back to stateful after the flood"
t_expect "listeners: auto:stateful again" "$(pc_mode web)" = auto:stateful
t_expect "one switch each way (counted)" \
	"$(t_stat listeners.web.mode_to_cookie)/$(t_stat listeners.web.mode_to_stateful)" = 1/1
t_expect "one switch each way (logged)" \
	"$(grep -c 'listener web: answering new SYNs with cookies: the SYN rate reached' "$T_DIR/synguardd.log")/$(grep -c 'listener web: back to stateful' "$T_DIR/synguardd.log")" = 1/1
t_expect "no queue thread answers with cookies" "$(t_stat listeners.web.cookie_threads)" = 0
q0=$(queued)
a0=$(t_stat xdp.listeners.web.syn_answered)
st0=$(t_stat listeners.web.synack_stateful)
fetch || t_fail "fetch after the flood"
t_expect "after it, the fetch's SYN reached a queue thread" $(($(queued) - q0)) -ge 1
t_expect "after it, answered statefully" $(($(t_stat listeners.web.synack_stateful) - st0)) -ge 1
t_expect "after it, nothing answered in XDP" $(($(t_stat xdp.listeners.web.syn_answered) - a0)) = 0
t_stop_daemon
echo "PASS: $T_NAME"
