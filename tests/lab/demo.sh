#!/bin/bash
# synguard demo: a spoofed SYN flood against a protected web server while a
# legitimate client keeps fetching pages. As root on Debian 12:
#
#   tests/lab/demo.sh [--duration S] [--rate PPS] [--kind syn|mix|ack|...] [--ipv6]
#                     [--handoff proxy|local] [--datapath nfqueue|xdp]
#                     [--no-deps] [--no-build] [--build-dir DIR]
#
# It installs the packages (tests/deps.sh), builds into build/, brings up the
# lab (client, attacker, server namespaces; see lab.sh), starts an HTTP
# backend and synguardd in front of it (192.0.2.1:80 and [2001:db8::1]:80),
# floods from the attacker with spoofed sources (198.18.0.0/15), prints live
# counters every second and a summary, and removes everything on exit.
# Exit status 0 when at least 95% of the legitimate fetches during the flood
# succeeded.
#
# --handoff proxy (the default): the backend listens on 127.0.0.1:8080 and
#   synguardd relays each validated connection to it.
# --handoff local: the HTTP server itself listens on 192.0.2.1:80 and
#   [2001:db8::1]:80, unchanged; synguardd answers the SYNs and its TC program
#   checks each handshake ACK and hands the connection to the server's socket
#   (no relay; the server sees the client's own address). Needs a synguardd
#   built with BPF (tests/deps.sh installs what the build needs) and a kernel
#   with tcx (6.6 or later); `synguardd -t` says what is missing.
# --datapath xdp: daemon.datapath = "xdp" on the server's devices: an XDP
#   program answers the SYNs and drops ACKs with an invalid cookie in the
#   driver; valid ACKs go on to the NFQUEUE path (proxy) or TC (local). The
#   client's and attacker's veths get an XDP_PASS program (lab.sh
#   --xdp-peers) so the SYN-ACKs sent back with XDP_TX reach them. Needs a
#   synguardd built with BPF.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
duration=20
rate=200000
kind=syn
ipv6=0
handoff=proxy
datapath=nfqueue
deps=1
build=1
build_dir=$top/build

usage() {
	sed -n '2,30s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--duration) duration=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--kind) kind=$2; shift 2 ;;
	--ipv6) ipv6=1; shift ;;
	--handoff) handoff=${2:-}; shift 2 ;;
	--datapath) datapath=${2:-}; shift 2 ;;
	--no-deps) deps=0; shift ;;
	--no-build) build=0; shift ;;
	--build-dir) build_dir=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "demo: unknown option $1" >&2; usage 2 ;;
	esac
done
case "$handoff" in proxy | local) ;; *)
	echo "demo: --handoff takes proxy or local" >&2; exit 2 ;;
esac
case "$datapath" in nfqueue | xdp) ;; *)
	echo "demo: --datapath takes nfqueue or xdp" >&2; exit 2 ;;
esac
case "$duration" in '' | *[!0-9]*) echo "demo: --duration takes whole seconds" >&2; exit 2 ;; esac
case "$rate" in '' | *[!0-9]*) echo "demo: --rate takes packets per second" >&2; exit 2 ;; esac
if [ "$duration" -lt 1 ] || [ "$duration" -gt 600 ]; then
	echo "demo: --duration must be 1..600 seconds" >&2
	exit 2
fi
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, NFQUEUE, TCP_REPAIR)" >&2; exit 1; }

say() { printf '\n== %s\n' "$*"; }

if [ $deps = 1 ]; then
	say "installing packages (tests/deps.sh)"
	"$top/tests/deps.sh"
fi
if [ $build = 1 ]; then
	say "building into $build_dir"
	cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$build_dir" -j "$(nproc)" --target synguardd synguardctl sgflood sgbackend \
		$([ "$datapath" = xdp ] && echo sgxdppass)
fi
SYNGUARDD=$build_dir/daemon/synguardd
SYNGUARDCTL=$build_dir/daemon/synguardctl
SGFLOOD=$build_dir/tests/lab/sgflood
SGBACKEND=$build_dir/tests/lab/sgbackend
for b in "$SYNGUARDD" "$SYNGUARDCTL" "$SGFLOOD" "$SGBACKEND"; do
	[ -x "$b" ] || { echo "demo: $b is missing (build failed?)" >&2; exit 1; }
done
if [ "$datapath" = xdp ]; then
	# the lab's veth peers in NAPI mode, so XDP_TX frames reach them
	export SGLAB_XDPPASS=$build_dir/tests/lab/sgxdppass SGLAB_XDP_PEERS=1
	[ -x "$SGLAB_XDPPASS" ] || {
		echo "demo: $SGLAB_XDPPASS is missing: --datapath xdp needs a build with BPF" >&2
		exit 1
	}
fi

export SGLAB_PREFIX=${SGLAB_PREFIX:-sgdemo}
# shellcheck source=lab.sh
. "$top/tests/lab/lab.sh"
lab_lock || exit 1

work=$(mktemp -d -t synguard-demo.XXXXXX)
sock=$work/control.sock
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -e "$work/stop" ] || touch "$work/stop" 2>/dev/null || true
	lab_cleanup
	if [ $rc != 0 ] && [ -s "$work/synguardd.log" ]; then
		echo "---- synguardd log (last 20 lines)"
		tail -n 20 "$work/synguardd.log"
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "lab up: namespaces $SGLAB_PREFIX-{client,attacker,server}"
lab_up
lab_status | sed 's/^/   /'

if [ "$handoff" = proxy ]; then
	to='handoff = "proxy"; backend = "127.0.0.1:8080";'
else
	to='handoff = "local";'
fi
dp=
[ "$datapath" = xdp ] && dp='datapath = "xdp"; devices = ["cli0", "att0"];'
cat >"$work/synguard.conf" <<EOF
daemon: {
	queue = "0:1";
	$dp
	firewall = "iptables";
	fail_open = true;
	control_socket = "$sock";
	user = "root";
};
listeners = (
	{ name = "web4"; address = "$LAB_SERVER4"; port = 80; $to },
	{ name = "web6"; address = "$LAB_SERVER6"; port = 80; $to }
);
EOF
if ! lab_exec server "$SYNGUARDD" -t -c "$work/synguard.conf" >"$work/conf-check.log" 2>&1; then
	cat "$work/conf-check.log" >&2
	echo >&2
	if [ "$handoff" = local ]; then
		echo "demo: this synguardd cannot run handoff = \"local\" (it needs the local handoff," \
			"a build with BPF and a kernel with tcx); try --handoff proxy" >&2
	fi
	if [ "$datapath" = xdp ]; then
		echo "demo: this synguardd cannot run datapath = \"xdp\" (it needs the XDP datapath," \
			"a build with BPF and a kernel with XDP links); try --datapath nfqueue" >&2
	fi
	exit 1
fi

if [ "$handoff" = proxy ]; then
	say "starting the backend (sgbackend http on 127.0.0.1:8080) and synguardd (proxy handoff)"
	lab_bg server "$work/backend.log" "$SGBACKEND" --listen 127.0.0.1:8080 http
	lab_wait_tcp server 127.0.0.1 8080 10
else
	say "starting the web server (sgbackend http on $LAB_SERVER4:80 and [$LAB_SERVER6]:80) and synguardd (local handoff)"
	lab_bg server "$work/backend4.log" "$SGBACKEND" --listen "$LAB_SERVER4:80" http
	lab_bg server "$work/backend6.log" "$SGBACKEND" --listen "[$LAB_SERVER6]:80" http
	for i in $(seq 100); do
		[ "$(lab_exec server ss -Htln 'sport = :80' | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(lab_exec server ss -Htln 'sport = :80' | wc -l)" -ge 2 ] ||
		{ echo "demo: the web server does not listen on both addresses" >&2; exit 1; }
fi
lab_bg server "$work/synguardd.log" "$SYNGUARDD" -c "$work/synguard.conf"
daemon_pid=$LAB_LAST_PID
for i in $(seq 100); do
	kill -0 "$daemon_pid" 2>/dev/null || { echo "demo: synguardd exited" >&2; exit 1; }
	"$SYNGUARDCTL" -s "$sock" status >/dev/null 2>&1 && break
	sleep 0.1
done
"$SYNGUARDCTL" -s "$sock" status | sed 's/^/   /'

for url in "http://$LAB_SERVER4/" "http://[$LAB_SERVER6]/"; do
	if ! body=$(lab_exec client curl -sS --max-time 5 "$url"); then
		echo "demo: $url does not answer before the flood" >&2
		exit 1
	fi
	# the local handoff gives the server the client's own connection
	if [ "$handoff" = local ]; then echo "   $url: the server sees $body"; fi
done
# With the local handoff the server listens on the protected port itself: a
# fetch the kernel answered without synguardd would prove nothing.
sent=$("$SYNGUARDCTL" -s "$sock" stats --json | lab_json_get total.synack_sent)
if [ "$sent" -lt 2 ]; then
	echo "demo: synguardd sent $sent SYN-ACKs for the 2 fetches: it is not in the path" >&2
	exit 1
fi
if [ "$datapath" = xdp ]; then
	# the SYNs must have been answered in XDP, not on the NFQUEUE path
	xsent=$("$SYNGUARDCTL" -s "$sock" stats --json | /usr/bin/python3 -c '
import json, sys
x = json.load(sys.stdin).get("xdp", {}).get("listeners", {})
print(sum(r.get("syn_answered", 0) for r in x.values()))')
	if [ "$xsent" -lt 2 ]; then
		echo "demo: the XDP program answered $xsent SYNs for the 2 fetches: it is not in the path" >&2
		exit 1
	fi
fi
echo "   both families answer through synguard ($handoff handoff, $datapath datapath)"

# The legitimate client: one fetch after another, alternating families,
# one line per fetch (ok/fail) until told to stop.
fetch_loop() {
	local n=0 url
	while [ ! -e "$work/stop" ]; do
		if [ $((n % 2)) = 0 ]; then url="http://$LAB_SERVER4/"; else url="http://[$LAB_SERVER6]/"; fi
		if lab_exec client curl -s -o /dev/null --connect-timeout 3 --max-time 5 "$url"; then
			echo ok
		else
			echo fail
		fi
		n=$((n + 1))
		sleep 0.05
	done >>"$work/fetches"
}
: >"$work/fetches"

say "flood: $kind from $LAB_SPOOF4 at ${rate} pps for ${duration}s$([ $ipv6 = 1 ] && echo " (and $LAB_SPOOF6)")"
fetch_loop &
fetch_pid=$!
LAB_PIDS+=("$fetch_pid")
lab_bg attacker "$work/flood4.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
	--dst "$LAB_SERVER4" --dport 80 --kind "$kind" --rate "$rate" --duration "$duration"
flood_pids=("$LAB_LAST_PID")
if [ $ipv6 = 1 ]; then
	lab_bg attacker "$work/flood6.log" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
		--dst "$LAB_SERVER6" --dport 80 --kind "$kind" --rate "$rate" --duration "$duration"
	flood_pids+=("$LAB_LAST_PID")
fi

# Live counters, one line a second, from `synguardctl stats --json`.
stats_json() { "$SYNGUARDCTL" -s "$sock" stats --json 2>/dev/null || echo '{}'; }
live() {
	/usr/bin/python3 -c '
import json, sys
P, C = json.loads(sys.argv[1]), json.loads(sys.argv[2])
prev, cur = P.get("total", {}), C.get("total", {})
ok, fail = int(sys.argv[4]), int(sys.argv[5])
d = lambda k: cur.get(k, 0) - prev.get(k, 0)
# SYN-ACKs sent by the XDP program (counted in SYN-ACK/s too)
x = lambda doc: sum(r.get("syn_answered", 0)
                    for r in doc.get("xdp", {}).get("listeners", {}).values())
print("%4ss %11d %11d %9d %9d %10d %9d %6d/%-6d" % (sys.argv[3], d("syn_received"), d("synack_sent"),
      x(C) - x(P), cur.get("ack_valid", 0), cur.get("ack_invalid", 0), cur.get("handoffs", 0),
      ok, ok + fail))
' "$@"
}
printf '%5s %11s %11s %9s %9s %10s %9s %13s\n' time "SYN/s" "SYN-ACK/s" "in XDP/s" "valid ACK" "bad ACK" handoffs "legit ok/all"
prev=$(stats_json)
t=0
while :; do
	sleep 1
	t=$((t + 1))
	cur=$(stats_json)
	ok=$(grep -c '^ok$' "$work/fetches" || true)
	fail=$(grep -c '^fail$' "$work/fetches" || true)
	live "$prev" "$cur" "$t" "$ok" "$fail"
	prev=$cur
	alive=0
	for p in "${flood_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive = 1 ] || break
	[ $t -lt $((duration + 10)) ] || break
done
touch "$work/stop"
wait "$fetch_pid" 2>/dev/null || true
for p in "${flood_pids[@]}"; do wait "$p" 2>/dev/null || true; done

final=$(stats_json)
ok=$(grep -c '^ok$' "$work/fetches" || true)
fail=$(grep -c '^fail$' "$work/fetches" || true)
total=$((ok + fail))
say "summary"
cat "$work"/flood*.log | sed 's/^/   /'
/usr/bin/python3 -c '
import json, sys
t = json.loads(sys.argv[1]).get("total", {})
for k in ("syn_received", "synack_sent", "ack_valid", "ack_invalid", "handoffs",
          "handoff_failed", "repair_failed"):
    print("   %-16s %12d" % (k, t.get(k, 0)))
x = json.loads(sys.argv[1]).get("xdp")
if x:
    rows = list(x.get("listeners", {}).values()) + [x.get("unmatched", {})]
    for k in ("syn_answered", "ack_valid", "ack_invalid", "ack_expired", "passed_unparsed",
              "passed_csum", "passed_noroom"):
        print("   %-16s %12d" % ("xdp." + k, sum(r.get(k, 0) for r in rows)))
' "$final"
pct=$(( total > 0 ? ok * 100 / total : 0 ))
echo "   legitimate fetches during the flood: $ok of $total succeeded ($pct%)"
if [ "$total" -gt 0 ] && [ $((ok * 100)) -ge $((total * 95)) ]; then
	echo "   result: the server stayed reachable under the flood"
	exit 0
fi
echo "   result: legitimate clients were hurt by the flood"
exit 1
