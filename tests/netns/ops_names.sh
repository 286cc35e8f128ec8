#!/bin/bash
# The Grafana dashboard (conf/grafana/synguard.json) loads as JSON, and it and
# the Prometheus alert rules (conf/prometheus/synguard-alerts.yml) name only
# metrics that a live daemon exports: scraped after real fetches and a bounded
# flood, with two queue threads (so the NFQUEUE table's series are there).
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood curl

T_QUEUES=0:1
lab_up || t_fail "lab up"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"
t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
t_start_daemon
t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch (IPv4)"
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch (IPv6)"
out=$(lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst "$LAB_SERVER4" --dport 80 --kind syn --count 200 --rate 20000 --quiet) ||
	t_fail "sgflood: $out"

lab_exec server curl -sS --max-time 5 -o "$T_DIR/metrics.txt" http://127.0.0.1:9477/metrics ||
	t_fail "scrape"
grep -q '^synguard_nfqueue_length{queue="1"}' "$T_DIR/metrics.txt" ||
	t_fail "the scrape lacks the NFQUEUE table"
t_ok "scraped $(grep -vc '^#' "$T_DIR/metrics.txt") samples"

$PY "$(dirname "$0")/promql_names.py" "$T_DIR/metrics.txt" "$T_TOP/conf/grafana/synguard.json" \
	"$T_TOP/conf/prometheus/synguard-alerts.yml" || t_fail "dashboard or rules name unknown metrics"
t_ok "every metric of the dashboard and the rules is exported"

# the check can fail: a name the daemon does not export is caught
sed 's/synguard_handoffs_total/synguard_handoffs_made_total/' \
	"$T_TOP/conf/prometheus/synguard-alerts.yml" >"$T_DIR/bad.yml"
sed -i '0,/synguard_handoff_failed_total/s//synguard_handoff_failures_total/' "$T_DIR/bad.yml"
if $PY "$(dirname "$0")/promql_names.py" "$T_DIR/metrics.txt" \
	"$T_TOP/conf/grafana/synguard.json" "$T_DIR/bad.yml" >"$T_DIR/bad.out"; then
	t_fail "an unknown metric passed: $(cat "$T_DIR/bad.out")"
fi
grep -q "synguard_handoff_failures_total is not exported" "$T_DIR/bad.out" ||
	t_fail "unknown metric not named: $(cat "$T_DIR/bad.out")"
t_ok "an unknown metric is caught"
t_stop_daemon
echo "PASS: $T_NAME"
