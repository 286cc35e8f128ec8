#!/bin/bash
# Mode "auto": stateful answers until a spoofed SYN flood passes
# syn_rate_trigger, cookies during the flood (legitimate fetches still work),
# stateful again auto_calm_time after it. The switches show in `synguardctl
# listeners`, in the counters and in the log, once each way.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend sgflood curl

lab_up || t_fail "lab up"
T_QUEUES="0:1"
pc_config "$(pc_listener web $LAB_SERVER4 80 proxy 127.0.0.1:8080 adaptive)" '
	adaptive = { mode = "auto"; syn_rate_trigger = 2000; auto_calm_time = 2;
	             half_open_max = 100000; };'
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_start_daemon

t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch before the flood"
t_expect "quiet: answered statefully" "$(t_stat listeners.web.synack_stateful)" = 1
t_expect "quiet: listeners says auto:stateful" "$(pc_mode web)" = auto:stateful
pol=$(t_ctl policy adaptive) || t_fail "synguardctl policy adaptive"
echo "$pol" | head -3
t_expect "policy: the listener and its mode now" "$(echo "$pol" | head -1)" = \
	"# listeners: web (auto:stateful)"
t_expect "policy: the effective mode key" "$(echo "$pol" | grep -c '^	mode = "auto";$')" = 1
t_expect "policy: the trigger" "$(echo "$pol" | grep -c '^	syn_rate_trigger = 2000;$')" = 1

# ---- the flood ----
lab_bg attacker "$T_DIR/flood.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst $LAB_SERVER4 --dport 80 --kind syn --rate 20000 --duration 4 --quiet
fpid=$LAB_LAST_PID
pc_wait 3 pc_stat_ge listeners.web.mode_to_cookie 1 || t_fail "no switch to cookies under the flood"
t_ok "switched to cookies under the flood"
mode=$(pc_mode web)
t_expect "listeners: cookies now ($mode)" "${mode%%(*}" = auto:cookie
k0=$(t_stat listeners.web.synack_sent)
st0=$(t_stat listeners.web.synack_stateful)
ok=0 n=0
while kill -0 $fpid 2>/dev/null; do
	lab_exec client curl -s -o /dev/null --connect-timeout 2 --max-time 4 "http://$LAB_SERVER4/" &&
		ok=$((ok + 1))
	n=$((n + 1))
	sleep 0.2
done
wait $fpid || t_fail "sgflood: $(cat "$T_DIR/flood.log")"
cat "$T_DIR/flood.log"
k1=$(t_stat listeners.web.synack_sent)
st1=$(t_stat listeners.web.synack_stateful)
echo "during the flood: $((k1 - k0)) SYN-ACKs, $((st1 - st0)) of them stateful; fetches $ok of $n"
t_expect "fetches during the flood all succeeded" $ok = $n
t_expect "some fetches during the flood" $n -ge 5
t_expect "during the flood, SYN-ACKs were cookies" $((st1 - st0)) -le $(((k1 - k0) / 100))
t_expect "during the flood, many SYN-ACKs" $((k1 - k0)) -ge 10000

# ---- and back ----
pc_wait 8 pc_stat_ge listeners.web.mode_to_stateful 1 || t_fail "no switch back after the flood"
t_ok "back to stateful after the flood"
t_expect "listeners: auto:stateful again" "$(pc_mode web)" = auto:stateful
t_expect "one switch each way (counted)" \
	"$(t_stat listeners.web.mode_to_cookie)/$(t_stat listeners.web.mode_to_stateful)" = 1/1
t_expect "one switch each way (logged)" \
	"$(grep -c 'listener web: answering new SYNs with cookies: the SYN rate reached' "$T_DIR/synguardd.log")/$(grep -c 'listener web: back to stateful' "$T_DIR/synguardd.log")" = 1/1
t_expect "no queue thread answers with cookies" "$(t_stat listeners.web.cookie_threads)" = 0
st0=$(t_stat listeners.web.synack_stateful)
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch after the flood"
t_expect "a fetch after it is answered statefully again" \
	$(($(t_stat listeners.web.synack_stateful) - st0)) -ge 1
t_stop_daemon
echo "PASS: $T_NAME"
