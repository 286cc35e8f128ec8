#!/bin/bash
# synguard comparative benchmark: the same spoofed flood and the same
# legitimate load against four defenses, one after another, each in a fresh
# lab (client, attacker, server namespaces; see lab.sh). As root on Debian 12:
#
#   tests/lab/bench.sh [--scenario NAME|FILE] [--defenses "none syncookies synproxy synguard"]
#                      [--rate PPS] [--duration S] [--cps N] [--out DIR]
#                      [--no-deps] [--no-build] [--build-dir DIR]
#
# Defenses: none (tcp_syncookies=0, the backend listens on the protected
# address with its normal backlog), syncookies (tcp_syncookies=1, the kernel
# default: cookies only when the SYN queue overflows), synproxy (kernel
# SYNPROXY through iptables, conntrack loose pickup off), synguard (synguardd
# in front of the backend, proxy handoff), synguard-local (not in the default
# list: synguardd with handoff = "local", the backend itself listening on the
# protected address and port, handshake ACKs checked in TC and handed to its
# socket; needs a synguardd built with BPF), synguard-xdp (not in the default
# list: synguardd with daemon.datapath = "xdp" on the server's devices and the
# proxy handoff: SYNs answered and invalid ACKs dropped in XDP; the client's
# veth gets an XDP_PASS program so XDP_TX frames reach it, the attacker's
# sgxdpsink, which counts and drops them at its XDP hook),
# generator (not a defense: the flood dropped by an XDP program on the server's
# attacker-facing veth, no answer; the machine's CPU per packet sent is what
# the generator costs by itself, the base of the others' own cost per packet).
# Scenarios are tests/lab/scenarios/
# NAME.conf (KEY=VALUE lines; default.conf says what each key means).
# Prints a table (legit success, connect latency p50/p99/p99.9, flood rate,
# SYN-ACKs/s seen by the attacker, invalid ACKs dropped, CPU, synguardd RSS,
# NFQUEUE drops) and synguard's ratios to each peer; writes results.json,
# table.txt and chart.png into DIR (default BUILD_DIR/bench/NAME-DATE).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
lab=$top/tests/lab
scenario=default
defenses=
o_rate='' o_duration='' o_cps=''
out=
deps=1
build=1
build_dir=$top/build

usage() {
	sed -n '2,31s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) scenario=$2; shift 2 ;;
	--defenses) defenses=$2; shift 2 ;;
	--rate) o_rate=$2; shift 2 ;;
	--duration) o_duration=$2; shift 2 ;;
	--cps) o_cps=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-deps) deps=0; shift ;;
	--no-build) build=0; shift ;;
	--build-dir) build_dir=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "bench: unknown option $1" >&2; usage 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "bench: run as root (namespaces, iptables, NFQUEUE)" >&2; exit 1; }

# ---- scenario -----------------------------------------------------------------
case "$scenario" in
*/* | *.conf) scen_file=$scenario ;;
*) scen_file=$lab/scenarios/$scenario.conf ;;
esac
[ -f "$scen_file" ] || { echo "bench: no scenario file $scen_file" >&2; exit 2; }

NAME=$(basename "$scen_file" .conf)
DESCRIPTION=
FAMILY=4
ATTACK=syn
RATE=100000
DURATION=20
PRE=3
POST=4
LEGIT_CPS=100
LEGIT_REQUESTS=3
LEGIT_SIZE=64
LEGIT_CONNECT_TIMEOUT=3
LEGIT_TIMEOUT=10
LEGIT_PRIORITY=20
LEGIT_CPUS=
FLOOD_CPUS=
SERVER_CPUS=
DEFENSES="none syncookies synproxy synguard"
PORT=80
SYNGUARD_QUEUES=0:1
SYNGUARD_DAEMON=
GENERATOR=sgflood
KEYS="NAME DESCRIPTION FAMILY ATTACK RATE DURATION PRE POST LEGIT_CPS LEGIT_REQUESTS LEGIT_SIZE"
KEYS="$KEYS LEGIT_CONNECT_TIMEOUT LEGIT_TIMEOUT LEGIT_PRIORITY LEGIT_CPUS FLOOD_CPUS SERVER_CPUS DEFENSES PORT SYNGUARD_QUEUES SYNGUARD_DAEMON GENERATOR"

# KEY=VALUE lines, values optionally quoted; read, never executed.
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	case "$line" in '' | \#*) continue ;; esac
	if [[ ! "$line" =~ ^([A-Z_0-9]+)=(.*)$ ]]; then
		echo "bench: $scen_file:$lineno: not KEY=VALUE: $line" >&2
		exit 2
	fi
	key=${BASH_REMATCH[1]}
	val=${BASH_REMATCH[2]}
	val=${val%%[[:space:]]#*}
	if [[ "$val" =~ ^\"(.*)\"$ ]] || [[ "$val" =~ ^\'(.*)\'$ ]]; then val=${BASH_REMATCH[1]}; fi
	case " $KEYS " in *" $key "*) ;; *)
		echo "bench: $scen_file:$lineno: unknown key $key (one of: $KEYS)" >&2
		exit 2 ;;
	esac
	printf -v "$key" '%s' "$val"
done <"$scen_file"
[ -n "$o_rate" ] && RATE=$o_rate
[ -n "$o_duration" ] && DURATION=$o_duration
[ -n "$o_cps" ] && LEGIT_CPS=$o_cps
[ -n "$defenses" ] && DEFENSES=$defenses

need_uint() { # KEY MIN MAX
	local v=${!1}
	if [[ ! "$v" =~ ^[0-9]+$ ]] || [ "$v" -lt "$2" ] || [ "$v" -gt "$3" ]; then
		echo "bench: $1=$v: must be an integer $2..$3" >&2
		exit 2
	fi
}
need_uint RATE 1 2000000
need_uint DURATION 1 300
need_uint PRE 1 60
need_uint POST 0 60
need_uint LEGIT_CPS 1 5000
need_uint LEGIT_REQUESTS 0 1000
need_uint LEGIT_SIZE 1 65536
need_uint LEGIT_CONNECT_TIMEOUT 1 60
need_uint LEGIT_TIMEOUT 1 120
need_uint LEGIT_PRIORITY 0 99
need_uint PORT 1 65535
need_cpus() { # KEY: empty, or a CPU list for taskset -c
	local v=${!1}
	[ -z "$v" ] && return 0
	if [[ ! "$v" =~ ^[0-9]+([-,][0-9]+)*$ ]]; then
		echo "bench: $1=$v: must be a CPU list (e.g. 0 or 0-1 or 0,2)" >&2
		exit 2
	fi
}
need_cpus LEGIT_CPUS
need_cpus FLOOD_CPUS
need_cpus SERVER_CPUS
server_pin=()
[ -n "$SERVER_CPUS" ] && server_pin=(taskset -c "$SERVER_CPUS")
case "$FAMILY" in 4 | 6) ;; *) echo "bench: FAMILY must be 4 or 6" >&2; exit 2 ;; esac
for d in $DEFENSES; do
	case "$d" in none | syncookies | synproxy | synguard | synguard-local | synguard-xdp | generator) ;; *)
		echo "bench: unknown defense $d (none, syncookies, synproxy, synguard, synguard-local," \
			"synguard-xdp, generator)" >&2; exit 2 ;;
	esac
done
capture=
case "$ATTACK" in
capture:*)
	capture=${ATTACK#capture:}
	case "$capture" in /*) ;; *)
		if [ -f "$(dirname "$scen_file")/$capture" ]; then capture=$(dirname "$scen_file")/$capture
		else capture=$lab/captures/$capture; fi ;;
	esac
	[ -f "$capture" ] || { echo "bench: no capture $capture" >&2; exit 2; } ;;
syn | ack | synopts | syndata | junk | mix) ;;
*) echo "bench: ATTACK must be an sgflood kind or capture:FILE" >&2; exit 2 ;;
esac
case "$GENERATOR" in
sgflood) ;;
xdp)
	case "$ATTACK" in syn | ack) ;; *)
		echo "bench: GENERATOR=xdp sends ATTACK syn or ack only" >&2; exit 2 ;;
	esac ;;
*) echo "bench: GENERATOR must be sgflood or xdp" >&2; exit 2 ;;
esac

say() { printf '\n== %s\n' "$*"; }

# ---- tools --------------------------------------------------------------------
if [ $deps = 1 ]; then
	say "installing packages (tests/deps.sh)"
	"$top/tests/deps.sh"
fi
targets="synguardd synguardctl sgflood sgreplay sgload sgbackend"
# the XDP programs of the lab (built with the BPF parts only)
xdp_lab=0
case " $DEFENSES " in *" synguard-xdp "* | *" generator "*) xdp_lab=1 ;; esac
[ "$GENERATOR" = xdp ] && xdp_lab=1
[ $xdp_lab = 1 ] && targets="$targets sgxdppass sgxdpdrop sgxdpsink"
if [ $build = 1 ]; then
	say "building into $build_dir"
	cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	# shellcheck disable=SC2086
	cmake --build "$build_dir" -j "$(nproc)" --target $targets
fi
SYNGUARDD=$build_dir/daemon/synguardd
SYNGUARDCTL=$build_dir/daemon/synguardctl
SGFLOOD=$build_dir/tests/lab/sgflood
SGREPLAY=$build_dir/tests/lab/sgreplay
SGLOAD=$build_dir/tests/lab/sgload
SGBACKEND=$build_dir/tests/lab/sgbackend
SGXDPDROP=$build_dir/tests/lab/sgxdpdrop
SGXDPSINK=$build_dir/tests/lab/sgxdpsink
export SGLAB_XDPPASS=$build_dir/tests/lab/sgxdppass
REPORT=$lab/benchreport.py
PY=/usr/bin/python3
for b in "$SYNGUARDD" "$SYNGUARDCTL" "$SGFLOOD" "$SGREPLAY" "$SGLOAD" "$SGBACKEND"; do
	[ -x "$b" ] || { echo "bench: $b is missing (build failed?)" >&2; exit 1; }
done
if [ $xdp_lab = 1 ]; then
	for b in "$SGLAB_XDPPASS" "$SGXDPDROP" "$SGXDPSINK"; do
		[ -x "$b" ] || { echo "bench: $b is missing: synguard-xdp and generator need the lab's XDP programs, built with the BPF parts (libbpf, clang, bpftool)" >&2; exit 1; }
	done
fi
command -v gnuplot >/dev/null || echo "bench: gnuplot missing: no chart (tests/deps.sh installs it)" >&2

export SGLAB_PREFIX=${SGLAB_PREFIX:-sgbench}
# shellcheck source=lab.sh
. "$lab/lab.sh"
lab_lock || exit 1

[ -n "$out" ] || out=$build_dir/bench/$NAME-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "${run_dir:-}" ] && touch "$run_dir/stop" 2>/dev/null
	lab_cleanup
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$FAMILY" = 4 ]; then
	SERVER=$LAB_SERVER4 BACKEND_LISTEN=$LAB_SERVER4:$PORT IPT=iptables
else
	SERVER=$LAB_SERVER6 BACKEND_LISTEN=[$LAB_SERVER6]:$PORT IPT=ip6tables
fi
load_seconds=$((PRE + DURATION + POST))

export NAME DESCRIPTION FAMILY ATTACK RATE DURATION PRE POST LEGIT_CPS LEGIT_REQUESTS LEGIT_SIZE \
	LEGIT_CONNECT_TIMEOUT LEGIT_TIMEOUT LEGIT_PRIORITY LEGIT_CPUS FLOOD_CPUS SERVER_CPUS DEFENSES PORT SYNGUARD_QUEUES SYNGUARD_DAEMON GENERATOR
$PY -c '
import json, os, sys
keys = sys.argv[2].split()
json.dump({k: os.environ[k] for k in keys}, open(sys.argv[1], "w"), indent=1)
' "$out/scenario.json" "$KEYS"
$PY -c '
import json, os, platform, sys, time
mem = [l for l in open("/proc/meminfo") if l.startswith("MemTotal")][0].split()[1]
model = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
json.dump({"date": time.strftime("%Y-%m-%d %H:%M %Z"), "kernel": platform.release(),
           "cpus": os.cpu_count(), "cpu_model": model[0] if model else "?",
           "mem_mb": int(mem) // 1024, "loadavg_at_start": open("/proc/loadavg").read().split()[:3]},
          open(sys.argv[1], "w"), indent=1)
' "$out/host.json"

# ---- one defense -------------------------------------------------------------

# snapshot DIR: the counters the report compares between flood start and end.
snapshot() {
	local d=$1
	mkdir -p "$d"
	date +%s.%N >"$d/time.txt"
	head -n 1 /proc/stat >"$d/stat.txt"
	[ -n "${daemon_pid:-}" ] && cat "/proc/$daemon_pid/stat" >"$d/synguardd.stat" 2>/dev/null
	lab_exec attacker nft list table netdev sgsink >"$d/att_sink.txt" 2>&1 || true
	[ "$SGLAB_XDP_PEERS" = 1 ] && lab_exec attacker "$SGXDPSINK" --read eth0 >"$d/att_xdpsink.txt" 2>&1
	lab_exec attacker cat /sys/class/net/eth0/statistics/rx_packets >"$d/att_rx.txt"
	# the veths' XDP counters: frames a full ring refused, each way
	lab_exec attacker ethtool -S eth0 >"$d/att_ethtool.txt" 2>&1 || true
	lab_exec server ethtool -S att0 >"$d/srv_att_ethtool.txt" 2>&1 || true
	lab_exec server cat /proc/net/netstat >"$d/srv_netstat.txt"
	lab_exec server cat /proc/net/snmp >"$d/srv_snmp.txt"
	lab_exec server iptables -nvxL INPUT >"$d/srv_filter4.txt" 2>&1 || true
	lab_exec server ip6tables -nvxL INPUT >"$d/srv_filter6.txt" 2>&1 || true
	lab_exec server cat /proc/net/netfilter/nfnetlink_queue >"$d/srv_nfq.txt" 2>/dev/null || true
	lab_exec server cat /proc/net/stat/synproxy >"$d/srv_synproxy.txt" 2>/dev/null || true
	if [ -n "${daemon_pid:-}" ]; then
		"$SYNGUARDCTL" -s "$run_dir/control.sock" stats --json >"$d/synguard.json" 2>/dev/null || true
	fi
}

# synguard_conf LISTENER_KEYS [DAEMON_KEYS]: writes $run_dir/synguard.conf with
# the scenario's daemon settings (and DAEMON_KEYS) and one listener "bench" on
# the protected address and port.
synguard_conf() {
	cat >"$run_dir/synguard.conf" <<EOF
daemon: {
	queue = "$SYNGUARD_QUEUES";
	$SYNGUARD_DAEMON
	${2:-}
	firewall = "iptables";
	fail_open = true;
	control_socket = "$run_dir/control.sock";
	user = "root";
};
listeners = (
	{ name = "bench"; address = "$SERVER"; port = $PORT; $1 }
);
EOF
}

# start_synguardd: checks $run_dir/synguard.conf, starts synguardd on it and
# waits until it answers on its control socket with its queue rules in place.
# The check runs where the daemon will: with handoff = "local" it looks at the
# namespace's devices (and attaches to them for a moment).
start_synguardd() {
	lab_exec server "$SYNGUARDD" -t -c "$run_dir/synguard.conf" >"$run_dir/conf-check.log" 2>&1 || {
		cat "$run_dir/conf-check.log" >&2
		echo >&2
		return 1
	}
	lab_bg server "$run_dir/synguardd.log" "${server_pin[@]}" "$SYNGUARDD" -c "$run_dir/synguard.conf"
	daemon_pid=$LAB_LAST_PID
	echo "$daemon_pid" >"$run_dir/synguardd.pid"
	local _
	for _ in $(seq 100); do
		kill -0 "$daemon_pid" 2>/dev/null || { echo "bench: synguardd exited" >&2; return 1; }
		if "$SYNGUARDCTL" -s "$run_dir/control.sock" status >/dev/null 2>&1 &&
			lab_exec server $IPT-save 2>/dev/null | grep -q NFQUEUE; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench: synguardd did not come up" >&2
	return 1
}

setup_defense() {
	local d=$1
	# The lab has one client address. Without this, the kernel would remember
	# it (TCP metrics) as a proven peer and, with syncookies off, keep the last
	# quarter of the SYN backlog for it: real legitimate clients are mostly
	# addresses the server has not seen yet.
	lab_sysctl server net.ipv4.tcp_no_metrics_save=1
	case "$d" in
	none) lab_sysctl server net.ipv4.tcp_syncookies=0 ;;
	*) lab_sysctl server net.ipv4.tcp_syncookies=1 ;;
	esac
	case "$d" in
	none | syncookies)
		lab_bg server "$run_dir/backend.log" "${server_pin[@]}" "$SGBACKEND" --quiet --listen "$BACKEND_LISTEN" echo
		lab_wait_tcp server "$SERVER" "$PORT" 10 ;;
	synproxy)
		lab_exec server modprobe -q nf_conntrack 2>/dev/null || true
		lab_sysctl server net.netfilter.nf_conntrack_tcp_loose=0
		lab_exec server $IPT -t raw -A PREROUTING -p tcp --dport "$PORT" --syn -j CT --notrack
		lab_exec server $IPT -A INPUT -p tcp --dport "$PORT" -m conntrack --ctstate INVALID,UNTRACKED \
			-j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460
		lab_exec server $IPT -A INPUT -p tcp --dport "$PORT" -m conntrack --ctstate INVALID -j DROP
		lab_bg server "$run_dir/backend.log" "${server_pin[@]}" "$SGBACKEND" --quiet --listen "$BACKEND_LISTEN" echo
		lab_wait_tcp server "$SERVER" "$PORT" 10 ;;
	synguard)
		lab_bg server "$run_dir/backend.log" "${server_pin[@]}" "$SGBACKEND" --quiet --listen 127.0.0.1:8080 echo
		lab_wait_tcp server 127.0.0.1 8080 10
		synguard_conf 'handoff = "proxy"; backend = "127.0.0.1:8080";'
		start_synguardd ;;
	synguard-local)
		# No relay and no other port: the service listens on the protected
		# address and port itself, as it would with no defense at all.
		lab_bg server "$run_dir/backend.log" "${server_pin[@]}" "$SGBACKEND" --quiet --listen "$BACKEND_LISTEN" echo
		lab_wait_tcp server "$SERVER" "$PORT" 10
		synguard_conf 'handoff = "local";'
		start_synguardd || {
			if [ ! -s "$run_dir/synguardd.pid" ]; then
				echo "bench: synguard-local: $SYNGUARDD refuses the configuration above" \
					"(handoff = \"local\" needs a synguardd that has the local handoff and was" \
					"built with BPF, on a kernel with tcx and bpf_sk_assign_tcp_reqsk; see" \
					"\`synguardd -t\`); nothing was measured" >&2
			else
				echo "bench: synguard-local: synguardd did not come up with handoff = \"local\";" \
					"its log ends:" >&2
				tail -n 10 "$run_dir/synguardd.log" >&2
			fi
			return 1
		} ;;
	synguard-xdp)
		# the synguard defense's proxy handoff, only the path changes
		lab_bg server "$run_dir/backend.log" "${server_pin[@]}" "$SGBACKEND" --quiet --listen 127.0.0.1:8080 echo
		lab_wait_tcp server 127.0.0.1 8080 10
		synguard_conf 'handoff = "proxy"; backend = "127.0.0.1:8080";' \
			'datapath = "xdp"; devices = ["cli0", "att0"];'
		start_synguardd || {
			if [ ! -s "$run_dir/synguardd.pid" ]; then
				echo "bench: synguard-xdp: $SYNGUARDD refuses the configuration above" \
					"(daemon.datapath = \"xdp\" needs a synguardd that has the XDP datapath and was" \
					"built with BPF, on a kernel with XDP links; see \`synguardd -t\`); nothing was" \
					"measured" >&2
			else
				echo "bench: synguard-xdp: synguardd did not come up with datapath = \"xdp\";" \
					"its log ends:" >&2
				tail -n 10 "$run_dir/synguardd.log" >&2
			fi
			return 1
		} ;;
	generator)
		# the legitimate clients get a plain server; the flood ends at att0's XDP hook
		lab_bg server "$run_dir/backend.log" "${server_pin[@]}" "$SGBACKEND" --quiet --listen "$BACKEND_LISTEN" echo
		lab_wait_tcp server "$SERVER" "$PORT" 10
		lab_exec server "$SGXDPDROP" att0 || { echo "bench: generator: sgxdpdrop att0 failed" >&2; return 1; }
		lab_exec server ip link show att0 | grep -q 'prog/xdp' ||
			{ echo "bench: generator: no XDP program on att0" >&2; return 1; } ;;
	esac
}

# xdp_answered PRECHECK_JSON: the pre-flood connections' SYNs were answered by
# the XDP program (xdp syn_answered of listener "bench" grew by at least as many
# as connected), not on the NFQUEUE path: else this is no measurement of the
# XDP path.
xdp_answered() {
	local ok stats answered
	ok=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["all"]["ok"])' "$1")
	stats=$("$SYNGUARDCTL" -s "$run_dir/control.sock" stats --json 2>/dev/null) || stats='{}'
	answered=$(lab_json_get xdp.listeners.bench.syn_answered <<<"$stats" 2>/dev/null) || answered=0
	if [ "${answered:-0}" -lt "$ok" ]; then
		echo "bench: $d: of $ok connections before the flood, the XDP program answered" \
			"${answered:-0} SYNs: the NFQUEUE path did, not XDP; nothing to measure" >&2
		return 1
	fi
	echo "   precheck: $ok connections, xdp syn_answered $answered"
}

# synguard_answered PRECHECK_JSON: the pre-flood connections were answered by
# synguardd and handed over by its TC program, not served by the kernel
# behind it. With handoff = "local" the service listens on the protected port
# itself: were the daemon's queue rules or its TC program missing, the kernel
# would serve the clients directly and the benchmark would measure no defense.
synguard_answered() {
	local ok stats sent handed
	ok=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["all"]["ok"])' "$1")
	stats=$("$SYNGUARDCTL" -s "$run_dir/control.sock" stats --json 2>/dev/null) || stats='{}'
	sent=$(lab_json_get total.synack_sent <<<"$stats" 2>/dev/null) || sent=0
	handed=$(lab_json_get tc.bench.handoffs <<<"$stats" 2>/dev/null) || handed=0
	if [ "${sent:-0}" -lt "$ok" ] || [ "${handed:-0}" -lt "$ok" ]; then
		echo "bench: $d: of $ok connections before the flood, synguardd sent ${sent:-0} SYN-ACKs" \
			"and its TC program handed over ${handed:-0}: the kernel served them, not synguard;" \
			"nothing to measure" >&2
		return 1
	fi
}

describe_defense() {
	case "$1" in
	none) echo "tcp_syncookies=0 (tcp_max_syn_backlog $(lab_exec server sysctl -n net.ipv4.tcp_max_syn_backlog)); sgbackend echo listening on $BACKEND_LISTEN (backlog 4096)" ;;
	syncookies) echo "tcp_syncookies=1 (kernel default); sgbackend echo listening on $BACKEND_LISTEN" ;;
	synproxy) echo "tcp_syncookies=1; $IPT SYNPROXY (raw CT --notrack on SYNs; INVALID,UNTRACKED -> SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460; INVALID -> DROP), nf_conntrack_tcp_loose=0; sgbackend on $BACKEND_LISTEN" ;;
	synguard) echo "synguardd (queues $SYNGUARD_QUEUES${SYNGUARD_DAEMON:+, $SYNGUARD_DAEMON} proxy handoff) on $SERVER:$PORT -> sgbackend echo on 127.0.0.1:8080" ;;
	synguard-local) echo "synguardd (queues $SYNGUARD_QUEUES${SYNGUARD_DAEMON:+, $SYNGUARD_DAEMON} local handoff: ACKs checked in TC) on $SERVER:$PORT; sgbackend echo listening on $BACKEND_LISTEN itself" ;;
	synguard-xdp) echo "synguardd (datapath xdp on cli0 and att0: SYNs answered and invalid ACKs dropped in XDP; queues $SYNGUARD_QUEUES${SYNGUARD_DAEMON:+, $SYNGUARD_DAEMON} proxy handoff) on $SERVER:$PORT -> sgbackend echo on 127.0.0.1:8080; client's veth with XDP_PASS (NAPI mode), attacker's with sgxdpsink (answers to spoofed sources dropped at its XDP hook)" ;;
	generator) echo "no defense: the flood dropped by XDP_DROP on the server's att0, unanswered (the generator's own cost); sgbackend echo on $BACKEND_LISTEN, tcp_syncookies=1; client's veth with XDP_PASS (NAPI mode), attacker's with sgxdpsink" ;;
	esac
}

start_flood() {
	local log=$1 pin=()
	[ -n "$FLOOD_CPUS" ] && pin=(taskset -c "$FLOOD_CPUS")
	if [ "$GENERATOR" = xdp ]; then
		# unpaced: RATE * DURATION only bounds the count
		lab_bg attacker "$log" "${pin[@]}" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
			--dst "$SERVER" --dport "$PORT" --kind "$ATTACK" --xdp \
			--duration "$DURATION" --count $((RATE * DURATION)) --quiet
	elif [ -n "$capture" ]; then
		lab_bg attacker "$log" "${pin[@]}" "$SGREPLAY" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
			--dst "$SERVER" --dport "$PORT" --pps "$RATE" --loop --duration "$DURATION" \
			--count $((RATE * DURATION)) --quiet "$capture"
	else
		lab_bg attacker "$log" "${pin[@]}" "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" \
			--dst "$SERVER" --dport "$PORT" --kind "$ATTACK" --rate "$RATE" \
			--duration "$DURATION" --count $((RATE * DURATION)) --quiet
	fi
	flood_pid=$LAB_LAST_PID
	echo "$flood_pid" >"$run_dir/flood.pid"
}

run_defense() {
	local d=$1 load_pid sampler_pid t_load t_flood0 t_flood1
	run_dir=$out/$d
	daemon_pid=
	rm -rf "$run_dir"
	mkdir -p "$run_dir"
	case "$d" in synguard-xdp | generator) SGLAB_XDP_PEERS=1 ;; *) SGLAB_XDP_PEERS=0 ;; esac
	lab_up
	if [ "$SGLAB_XDP_PEERS" = 1 ]; then
		# answers that come back as XDP frames end at the attacker's XDP hook
		lab_exec attacker "$SGXDPSINK" eth0 ||
			{ echo "bench: $d: sgxdpsink on the attacker's eth0 failed" >&2; return 1; }
	fi
	say "$d: $(describe_defense "$d")"
	setup_defense "$d" || return 1
	if [ "$GENERATOR" = xdp ] && ! lab_exec server ip link show att0 | grep -q 'prog/xdp'; then
		# a veth passes the XDP generator's frames only to a peer in NAPI mode
		lab_exec server "$SGLAB_XDPPASS" att0 ||
			{ echo "bench: $d: sgxdppass att0 failed" >&2; return 1; }
	fi
	# The attacker counts what comes back and drops what goes to the spoofed
	# sources, at its device's ingress hook: the internet absorbs those answers.
	# (With XDP peers, answers sent as XDP frames end before this hook, at
	# sgxdpsink on the attacker's XDP hook, without an sk_buff.)
	# A veth delivers in the sender's context, so whatever the attacker does
	# with them is charged to synguard's queue thread, or to the generator's
	# softirq under SYNPROXY. In profiles of synguard's queue thread at full
	# speed, routing each one and building an ICMP error took a fifth of it;
	# the IP receive path with iptables rules in the raw table, a third; this
	# hook, before the IP layer, about a tenth.
	lab_exec attacker nft -f - <<-EOF || { echo "bench: attacker sink: nft failed" >&2; return 1; }
		table netdev sgsink {
			chain in {
				type filter hook ingress device "eth0" priority -500; policy accept;
				tcp flags & (syn | ack | rst) == syn | ack counter comment "sg-synack"
				tcp flags & rst == rst counter comment "sg-rst"
				ip daddr $LAB_SPOOF4 drop
				ip6 daddr $LAB_SPOOF6 drop
			}
		}
	EOF
	# one legitimate connection must work before the flood
	lab_exec client "$SGLOAD" --quiet --rate 20 --duration 0.25 --requests 1 \
		--json "$run_dir/precheck.json" "$SERVER" "$PORT" ||
		{ echo "bench: $d: pre-flood check failed to run" >&2; return 1; }
	if [ "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["all"]["ok"])' \
		"$run_dir/precheck.json")" -lt 5 ]; then
		echo "bench: $d: the server does not answer before the flood" >&2
		return 1
	fi
	if [ "$d" = synguard-local ]; then synguard_answered "$run_dir/precheck.json" || return 1; fi
	if [ "$d" = synguard-xdp ]; then xdp_answered "$run_dir/precheck.json" || return 1; fi

	lab_bg attacker "$run_dir/sampler.log" "$PY" "$REPORT" sample --out "$run_dir/samples.jsonl" \
		--stop "$run_dir/stop" --max-seconds $((load_seconds + LEGIT_TIMEOUT + 30)) \
		--pidfile "synguardd=$run_dir/synguardd.pid" --pidfile "flood=$run_dir/flood.pid"
	sampler_pid=$LAB_LAST_PID
	t_load=$(date +%s.%N)
	local prio=()
	[ "$LEGIT_PRIORITY" -gt 0 ] && prio=(chrt -f "$LEGIT_PRIORITY")
	[ -n "$LEGIT_CPUS" ] && prio=(taskset -c "$LEGIT_CPUS" "${prio[@]}")
	lab_bg client "$run_dir/load.log" "${prio[@]}" "$SGLOAD" --rate "$LEGIT_CPS" --duration "$load_seconds" \
		--requests "$LEGIT_REQUESTS" --size "$LEGIT_SIZE" \
		--connect-timeout "$LEGIT_CONNECT_TIMEOUT" --timeout "$LEGIT_TIMEOUT" \
		--window "$PRE:$((PRE + DURATION))" --json "$run_dir/load.json" \
		--records "$run_dir/connections.csv" "$SERVER" "$PORT"
	load_pid=$LAB_LAST_PID
	sleep "$PRE"
	snapshot "$run_dir/before"
	t_flood0=$(date +%s.%N)
	start_flood "$run_dir/flood.log"
	wait "$flood_pid" || { echo "bench: $d: the flood failed: $(cat "$run_dir/flood.log")" >&2; return 1; }
	t_flood1=$(date +%s.%N)
	snapshot "$run_dir/after"
	sed 's/^/   /' "$run_dir/flood.log"
	# the load ends by itself: its duration, then at most one connection timeout
	for _ in $(seq $(((POST + LEGIT_TIMEOUT + 10) * 10))); do
		kill -0 "$load_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$load_pid" || { echo "bench: $d: sgload failed: $(cat "$run_dir/load.log")" >&2; return 1; }
	sed 's/^/   /' "$run_dir/load.log"
	local hwm=null
	if [ -n "$daemon_pid" ]; then
		hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon_pid/status" 2>/dev/null || echo null)
		[ -n "$hwm" ] || hwm=null
	fi
	touch "$run_dir/stop"
	wait "$sampler_pid" 2>/dev/null || true
	local sent
	sent=$(sed -n 's/.* \(sent\|wrote\) \([0-9]*\) packets.*/\2/p' "$run_dir/flood.log")
	$PY -c '
import json, sys
json.dump({"defense": sys.argv[2], "setup": sys.argv[3], "load_start": float(sys.argv[4]),
           "flood_sent": int(sys.argv[5]) if sys.argv[5] else None,
           "flood_log": open(sys.argv[6]).read().strip(),
           "vmhwm_kb": None if sys.argv[7] == "null" else int(sys.argv[7]),
           "flood_start": float(sys.argv[8]), "flood_end": float(sys.argv[9])},
          open(sys.argv[1], "w"), indent=1)
' "$run_dir/meta.json" "$d" "$(describe_defense "$d")" "$t_load" "$sent" "$run_dir/flood.log" "$hwm" \
		"$t_flood0" "$t_flood1"
	if [ -n "$daemon_pid" ]; then
		"$SYNGUARDCTL" -s "$run_dir/control.sock" stats >"$run_dir/synguard-stats.txt" 2>&1 || true
	fi
	lab_cleanup
	daemon_pid=
}

say "scenario $NAME ($scen_file): attack $ATTACK, IPv$FAMILY, $RATE pps for $DURATION s;" \
	"legit $LEGIT_CPS conn/s x $LEGIT_REQUESTS requests; defenses: $DEFENSES"
for d in $DEFENSES; do
	run_defense "$d" || { echo "bench: $d failed; see $out/$d" >&2; exit 1; }
done

say "results ($out)"
$PY "$REPORT" report "$out"
echo
echo "results: $out/results.json  table: $out/table.txt  chart: $out/chart.png"
