#!/bin/bash
# Prometheus endpoint of a live daemon: GET /metrics on the default
# 127.0.0.1:9477 passes `promtool check metrics` without a single complaint,
# its counters agree with `synguardctl stats --json` after real fetches and
# a bounded spoofed SYN flood, the NFQUEUE table of both queues is there,
# other paths and methods get 404 and 405, and the loopback endpoint cannot
# be reached from another host. A non-loopback metrics_listen is served and
# warned about; "none" serves nothing.
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood curl promtool

T_QUEUES=0:1
lab_up || t_fail "lab up"
t_backend http --listen 127.0.0.1:8080 http
lab_wait_tcp server 127.0.0.1 8080 || t_fail "backend did not start"

with_metrics() { # VALUE: t_config's file plus a metrics_listen key
	t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 80 proxy 127.0.0.1:8080)"
	[ $# = 0 ] || sed -i "s|^\\tuser = .*|&\\n\\tmetrics_listen = \"$1\";|" "$T_CONF"
}

scrape() { # NODE URL [CURL ARGS]
	local node=$1 url=$2
	shift 2
	lab_exec "$node" curl -sS --max-time 5 "$@" "$url"
}

# ---- the default endpoint ----
with_metrics
t_start_daemon
for i in 1 2 3; do
	t_curl -o /dev/null "http://$LAB_SERVER4/" || t_fail "fetch $i (IPv4)"
done
t_curl -o /dev/null "http://[$LAB_SERVER6]/" || t_fail "fetch (IPv6)"
out=$(lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst "$LAB_SERVER4" --dport 80 --kind syn --count 2000 --rate 20000 --quiet) ||
	t_fail "sgflood: $out"
# wait for the counters to settle
prev=
for i in $(seq 50); do
	cur=$(t_stat total.syn_received)
	[ "$cur" = "$prev" ] && [ "$cur" -ge 2004 ] && break
	prev=$cur
	sleep 0.2
done

url=http://127.0.0.1:9477/metrics
scrape server "$url" -D "$T_DIR/headers" -o "$T_DIR/metrics.txt" || t_fail "GET $url"
grep -q '^HTTP/1.0 200 OK' "$T_DIR/headers" || t_fail "not 200: $(cat "$T_DIR/headers")"
grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$T_DIR/headers" ||
	t_fail "wrong content type: $(cat "$T_DIR/headers")"
t_ok "GET /metrics: 200, text format 0.0.4 ($(wc -l <"$T_DIR/metrics.txt") lines)"

lint=$(promtool check metrics <"$T_DIR/metrics.txt" 2>&1)
rc=$?
if [ $rc != 0 ] || [ -n "$lint" ]; then
	echo "$lint"
	t_fail "promtool check metrics (exit $rc)"
fi
t_ok "promtool check metrics: no complaint"

metric() { # NAME{LABELS}: its value (labels hold no blanks)
	local v
	v=$(awk -v k="$1" '$1 == k { print $2 }' "$T_DIR/metrics.txt")
	[ -n "$v" ] || t_fail "no sample $1"
	echo "$v"
}
json=$(t_ctl stats --json)
for l in web4 web6; do
	for c in syn_received ack_valid handoffs synack_sent; do
		want=$(echo "$json" | lab_json_get "listeners.$l.$c")
		t_expect "$l $c: metrics = stats ($want)" "$(metric "synguard_${c}_total{listener=\"$l\"}")" = "$want"
	done
done
t_expect "web4: 3 handoffs" "$(metric 'synguard_handoffs_total{listener="web4"}')" = 3
t_expect "web4: flood counted" "$(metric 'synguard_syn_received_total{listener="web4"}')" -ge 2003
q0=$(metric 'synguard_queue_syn_received_total{queue="0"}')
q1=$(metric 'synguard_queue_syn_received_total{queue="1"}')
t_expect "per-queue SYNs add up to the total" $((q0 + q1)) = "$(echo "$json" | lab_json_get total.syn_received)"
t_expect "the flood spread over both queues" "$q0" -gt 0
t_expect "the flood spread over both queues (1)" "$q1" -gt 0
for q in 0 1; do
	for f in synguard_nfqueue_dropped_total synguard_nfqueue_user_dropped_total synguard_nfqueue_length; do
		metric "$f{queue=\"$q\"}" >/dev/null
	done
done
t_ok "NFQUEUE table of queues 0 and 1: $(grep '^synguard_nfqueue' "$T_DIR/metrics.txt" | tr '\n' ' ')"

code() { # NODE URL [CURL ARGS]: the status code only
	scrape "$@" -o /dev/null -w '%{http_code}'
}
t_expect "GET / is 404" "$(code server http://127.0.0.1:9477/)" = 404
t_expect "POST /metrics is 405" "$(code server "$url" -X POST)" = 405
t_expect "HEAD /metrics is 405" "$(code server "$url" -I)" = 405
if lab_exec client curl -sS --max-time 3 -o /dev/null "http://$LAB_SERVER4:9477/metrics" 2>/dev/null; then
	t_fail "the loopback endpoint answered another host"
fi
t_ok "the loopback endpoint is not reachable from the client"
t_stop_daemon

# ---- explicitly elsewhere: served and warned about ----
with_metrics "$LAB_SERVER4:9478"
t_start_daemon
grep -q "metrics: $LAB_SERVER4:9478 is not a loopback address" "$T_DIR/synguardd.log" ||
	t_fail "no warning for a non-loopback metrics address"
t_expect "client scrapes $LAB_SERVER4:9478" \
	"$(code client "http://$LAB_SERVER4:9478/metrics")" = 200
t_stop_daemon

# ---- none ----
with_metrics none
t_start_daemon
grep -q "metrics:" "$T_DIR/synguardd.log" && t_fail "metrics mentioned though disabled"
t_expect "nothing listens on 9477 or 9478" \
	"$(lab_exec server ss -Htln '( sport = :9477 or sport = :9478 )' | wc -l)" = 0
t_stop_daemon
echo "PASS: $T_NAME"
