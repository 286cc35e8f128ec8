#!/bin/bash
# synguard performance figures, each against its peer in the same run, in a
# fresh lab (see lab.sh). As root on Debian 12:
#
#   tests/lab/perf.sh [--build-dir DIR] [--out DIR] [--no-build] [--no-local] [--no-xdp] MODE...
#
# The local handoff (synguard-local: handoff = "local", the backend itself on
# the protected address and port, handshake ACKs checked in TC) is measured
# next to the others in latency, relay and max-rate. It needs a synguardd
# with BPF: when synguardd refuses it, the other figures are still taken,
# perf.sh says why and exits 1 at the end; --no-local leaves it out.
#
# The XDP datapath (synguard-xdp: daemon.datapath = "xdp" on the server's
# devices, the proxy handoff as synguard's; the client's veth with XDP_PASS so
# XDP_TX frames arrive, the attacker's with sgxdpsink, which drops them there)
# is measured in max-rate and flood-size, with the generator-only phase (the
# flood dropped by XDP_DROP at the server's att0, unanswered: what the
# generator costs by itself). It too needs a synguardd with BPF (and the
# lab's sgxdppass, sgxdpdrop, sgxdpsink and sgflood --xdp): when it
# is refused, perf.sh says why and exits 1 at the end; --no-xdp leaves it out.
# When max-rate ran with it, perf.sh ends with the XDP datapath's target lines
# (synguard-xdp against SYNPROXY, same run).
#
# Modes (default: latency relay flood-size max-rate):
#   max-rate    the max-rate scenario of bench.sh: sgflood as fast as it goes
#               against kernel SYNPROXY, synguard and synguard-local;
#               SYN-ACKs/s, NFQUEUE drops, CPU per answered SYN, legit
#               success, connect p99, ratios;
#               four times: synguard as the scenario configures it (two queue
#               threads), with one real-time queue thread (queue = "0",
#               daemon.queue_priority = 10), one at nice -20 with each party
#               pinned to its own CPU, and that at the flood rate SYNPROXY
#               reached (see mode_max_rate below); PERF_MAX_RATE_VARIANTS
#               picks some of them ("default realtime pinned equal");
#               with synguard-xdp, then: a SYN flood and an ACK flood
#               (random acknowledgment numbers) from the XDP generator
#               (GENERATOR=xdp, sgflood --xdp), each against the
#               generator-only phase, SYNPROXY and synguard-xdp, and the
#               default scenario at its 100k SYN/s (SYNPROXY, synguard,
#               synguard-xdp: connect p99 at equal offered load; then
#               PERF_LATENCY_RUNS - 1 more times without synguard, 3 runs in
#               all by default, the target judged on the median ratio)
#   flood-size  synguardd's RSS after 1 M and after 20 M spoofed SYNs
#               (PERF_FLOOD_BIG=N changes the second figure), and with
#               synguard-xdp that of synguardd with datapath "xdp"
#   latency     no flood: connect latency p50/p99 of 2000 connections straight
#               to the backend, through synguard (proxy) and through the local
#               handoff, in interleaved rounds (PERF_LATENCY_ROUNDS, 5 by
#               default); added median
#   relay       bulk download (sgbackend source) over 1 and 32 streams: direct,
#               through synguard proxy mode, through pass-fd, through the
#               local handoff; throughput ratios (PERF_RELAY_TRIALS
#               interleaved trials, 5 by default: medians)
#
# Every figure line starts with "perf:"; a summary is written to DIR/perf.txt.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
lab=$top/tests/lab
build_dir=$top/build
out=
build=1
modes=
local_handoff=1
xdp=1

while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) build_dir=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--no-local) local_handoff=0; shift ;;
	--no-xdp) xdp=0; shift ;;
	-h | --help) sed -n '2,52s/^# \{0,1\}//p' "$0"; exit 0 ;;
	max-rate | flood-size | latency | relay) modes="$modes $1"; shift ;;
	*) echo "perf: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$modes" ] || modes="latency relay flood-size max-rate"
[ "$(id -u)" = 0 ] || { echo "perf: run as root (namespaces, iptables, NFQUEUE)" >&2; exit 1; }

build_dir=$(cd "$build_dir" 2>/dev/null && pwd || echo "$build_dir")
if [ $build = 1 ]; then
	cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$build_dir" -j "$(nproc)" \
		--target synguardd synguardctl sgflood sgreplay sgload sgbackend >/dev/null
	# the lab's XDP programs exist with the BPF parts only
	if [ $xdp = 1 ]; then
		cmake --build "$build_dir" --target sgxdppass sgxdpdrop sgxdpsink >/dev/null 2>&1 || true
	fi
fi
SYNGUARDD=$build_dir/daemon/synguardd
SYNGUARDCTL=$build_dir/daemon/synguardctl
SGFLOOD=$build_dir/tests/lab/sgflood
SGLOAD=$build_dir/tests/lab/sgload
SGBACKEND=$build_dir/tests/lab/sgbackend
SGXDPDROP=$build_dir/tests/lab/sgxdpdrop
export SGLAB_XDPPASS=$build_dir/tests/lab/sgxdppass
PY=/usr/bin/python3
for b in "$SYNGUARDD" "$SYNGUARDCTL" "$SGFLOOD" "$SGLOAD" "$SGBACKEND"; do
	[ -x "$b" ] || { echo "perf: $b is missing" >&2; exit 1; }
done
command -v socat >/dev/null || { echo "perf: socat missing (tests/deps.sh)" >&2; exit 1; }

[ -n "$out" ] || out=$build_dir/perf/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=$out/perf.txt
: >"$summary"

export SGLAB_PREFIX=${SGLAB_PREFIX:-sgperf}
# shellcheck source=lab.sh
. "$lab/lab.sh"
lab_lock || exit 1
cleanup() {
	local rc=$?
	trap - EXIT
	lab_cleanup
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

S=$LAB_SERVER4
fig() { # one figure: printed and kept
	echo "perf: $*" | tee -a "$summary"
}
load() { awk '{print $1}' /proc/loadavg; }

# The local handoff is measured when asked for and when synguardd takes it;
# otherwise it is said once, loudly, and perf.sh fails at the end. synguardd
# -t checks the devices of its namespace (and attaches to them for a
# moment): it runs in the lab's server namespace, as the daemon will.
local_missing=
if [ $local_handoff = 1 ]; then
	cat >"$out/local-check.conf" <<EOF
daemon: { queue = "0"; firewall = "iptables"; control_socket = "$out/local-check.sock"; user = "root"; };
listeners = ( { name = "l"; address = "$S"; port = 82; handoff = "local"; } );
EOF
	lab_up
	if ! lab_exec server "$SYNGUARDD" -t -c "$out/local-check.conf" >"$out/local-check.log" 2>&1; then
		local_handoff=0
		local_missing=$(tr '\n' ' ' <"$out/local-check.log")
		fig "synguard-local: NOT MEASURED: synguardd refuses handoff = \"local\": $local_missing"
	fi
	lab_cleanup
fi

# The XDP datapath likewise: synguardd -t tries the program on the server's
# devices; the lab's XDP programs must be there.
xdp_missing=
if [ $xdp = 1 ]; then
	for b in "$SGLAB_XDPPASS" "$SGXDPDROP" "$build_dir/tests/lab/sgxdpsink"; do
		[ -x "$b" ] || xdp_missing="$b is missing (the lab's XDP programs are built with the BPF parts)"
	done
	if [ -z "$xdp_missing" ]; then
		cat >"$out/xdp-check.conf" <<EOF
daemon: { queue = "0"; firewall = "iptables"; datapath = "xdp"; devices = ["cli0", "att0"];
	control_socket = "$out/xdp-check.sock"; user = "root"; };
listeners = ( { name = "p"; address = "$S"; port = 80; handoff = "proxy"; backend = "$S:8081"; } );
EOF
		lab_up
		if ! lab_exec server "$SYNGUARDD" -t -c "$out/xdp-check.conf" >"$out/xdp-check.log" 2>&1; then
			xdp_missing="synguardd refuses daemon.datapath = \"xdp\": $(tr '\n' ' ' <"$out/xdp-check.log")"
		fi
		lab_cleanup
	fi
	if [ -n "$xdp_missing" ]; then
		xdp=0
		fig "synguard-xdp: NOT MEASURED: $xdp_missing"
	fi
fi

# synguard on the server: listener "p" (port 80, proxy to $S:8081), "f"
# (port 81, pass-fd on $1/passfd.sock) and, when measured, "l" (port 82,
# local handoff to whatever listens on $S:82). start_synguard DIR [QUEUES
# [DAEMON_KEYS [WITH-LOCAL]]]: DAEMON_KEYS go into the daemon section (a
# max-rate variant's; no local listener then unless WITH-LOCAL is given).
start_synguard() {
	local d=$1 queues=${2:-0:1} extra=${3:-} l=
	# EXTRA tunes a max-rate variant, which has no local listener; WITH-LOCAL: one all the same
	if [ $local_handoff = 1 ] && { [ -z "$extra" ] || [ -n "${4:-}" ]; }; then
		l=', { name = "l"; address = "'$S'"; port = 82; handoff = "local"; }'
	fi
	cat >"$d/synguard.conf" <<EOF
daemon: {
	queue = "$queues";
	$extra
	firewall = "iptables";
	fail_open = true;
	control_socket = "$d/control.sock";
	user = "root";
};
listeners = (
	{ name = "p"; address = "$S"; port = 80; handoff = "proxy"; backend = "$S:8081"; },
	{ name = "f"; address = "$S"; port = 81; handoff = "pass-fd"; backend = "unix:$d/passfd.sock"; }$l
);
EOF
	lab_bg server "$d/synguardd.log" "$SYNGUARDD" -c "$d/synguard.conf"
	sgd_pid=$LAB_LAST_PID
	local _
	for _ in $(seq 100); do
		kill -0 "$sgd_pid" 2>/dev/null || { cat "$d/synguardd.log" >&2; return 1; }
		lab_exec server iptables-save 2>/dev/null | grep -q NFQUEUE && return 0
		sleep 0.1
	done
	echo "perf: synguardd did not come up" >&2
	return 1
}

# sgload LOG JSON PORT RATE SECONDS: prints "p50 p99 success_pct"
run_load() {
	lab_exec client "$SGLOAD" --quiet --rate "$4" --duration "$5" --requests 1 \
		--json "$2" "$S" "$3" >"$1" 2>&1
	$PY -c '
import json, sys
a = json.load(open(sys.argv[1]))["all"]
print(a["connect_ms"]["p50"], a["connect_ms"]["p99"], a["success_pct"])' "$2"
}

# local_handoffs DIR: connections the TC program has handed to the local
# listener "l" so far (DIR: the run's directory); a valid ACK carries
# synguardd's cookie, so each one was answered by synguardd too: proof that
# the local handoff's connections went through synguard, not straight to the
# kernel's listener behind it.
local_handoffs() {
	local_tc "$1" handoffs
}

# local_tc DIR COUNTER: one of the TC path's counters of listener "l"
local_tc() {
	"$SYNGUARDCTL" -s "$1/control.sock" stats --json 2>/dev/null |
		$PY -c 'import json, sys; print(json.load(sys.stdin)["tc"]["l"][sys.argv[1]])' "$2" 2>/dev/null || echo 0
}

# local_recycled DIR: SYNs the TC program left to the kernel because the
# server's TIME_WAIT held their tuple (a client reusing its port: the kernel
# recycles the TIME_WAIT itself, as designed), plus ACKs that met such a
# socket; a bulk download closes from the server's side, so its later
# connections meet these
local_recycled() {
	local_tc "$1" ack_flow_passed
}

# added_us BASE VIA: the difference of two "p50 p99 success" medians in us
added_us() {
	$PY -c 'import sys; print("%.0f us" % ((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "${1%% *}" "${2%% *}"
}

# pooled CSV...: "p50 p99 success_pct" over the connections of sgload's
# --records files (connect latency of those that connected)
pooled() {
	$PY -c '
import csv, math, sys
lat, n, ok = [], 0, 0
for path in sys.argv[1:]:
    for row in csv.DictReader(open(path)):
        n += 1
        if row["result"] == "ok":
            ok += 1
        if float(row["connect_ms"]) >= 0:  # <0: never connected
            lat.append(float(row["connect_ms"]))
lat.sort()
# the rank sgload uses: the ceil(p * n)-th smallest
q = lambda p: lat[max(math.ceil(p * len(lat)), 1) - 1] if lat else float("nan")
print("%.3f %.3f %.1f" % (q(0.50), q(0.99), 100.0 * ok / n if n else 0.0))' "$@"
}

# Rounds of 2 s per path, the paths taking turns: other jobs on the machine
# come and go, and each path sees them alike (PERF_LATENCY_ROUNDS, 5 by
# default: 2000 connects per path at 200/s).
# latency_pass DIR DATAPATH: one lab, synguardd on DATAPATH ("nfqueue", or "xdp"
# with the lab's peers in XDP mode, as synguard-xdp), the paths in interleaved
# rounds; prints the figures
latency_pass() {
	local d=$1 datapath=$2 direct via loc n0 n1 lok r rounds=${PERF_LATENCY_ROUNDS:-5} tag=
	local dl=() pl=() ll=() extra=
	mkdir -p "$d"
	if [ "$datapath" = xdp ]; then
		tag=" (datapath xdp: SYNs answered in XDP; the lab's peers in XDP mode, direct too)"
		extra='datapath = "xdp";'
	fi
	SGLAB_XDP_PEERS=$([ "$datapath" = xdp ] && echo 1 || echo 0) lab_up
	lab_bg server "$d/backend.log" "$SGBACKEND" --quiet --listen "$S:8081" echo
	lab_wait_tcp server "$S" 8081 10
	if [ $local_handoff = 1 ]; then
		lab_bg server "$d/backend-local.log" "$SGBACKEND" --quiet --listen "$S:82" echo
		lab_wait_tcp server "$S" 82 10
	fi
	start_synguard "$d" 0:1 "$extra" with-local || { lab_cleanup; return 1; }
	run_load "$d/warm.log" "$d/warm.json" 80 50 0.5 >/dev/null
	if [ $local_handoff = 1 ]; then
		run_load "$d/warm-local.log" "$d/warm-local.json" 82 50 0.5 >/dev/null
		n0=$(local_handoffs "$d")
	fi
	# the paths' order turns each round: none always follows the same one
	local order=(direct synguard) path port
	if [ $local_handoff = 1 ]; then order+=(local); fi
	for r in $(seq "$rounds"); do
		for path in "${order[@]}"; do
			case $path in direct) port=8081 ;; synguard) port=80 ;; local) port=82 ;; esac
			lab_exec client "$SGLOAD" --quiet --rate 200 --duration 2 --requests 1 \
				--records "$d/$path-$r.csv" "$S" $port >"$d/$path-$r.log" 2>&1
			case $path in
			direct) dl+=("$d/$path-$r.csv") ;;
			synguard) pl+=("$d/$path-$r.csv") ;;
			local) ll+=("$d/$path-$r.csv") ;;
			esac
		done
		order=("${order[@]:1}" "${order[0]}")
	done
	direct=$(pooled "${dl[@]}")
	via=$(pooled "${pl[@]}")
	fig "latency (load $(load))$tag: $((rounds * 400)) connects per path at 200/s in $rounds interleaved rounds, no flood; connect ms p50 p99 success%"
	fig "  direct   $direct"
	fig "  synguard $via"
	fig "  added median: $(added_us "$direct" "$via") (target <= 100 us)"
	if [ $local_handoff = 1 ]; then
		n1=$(local_handoffs "$d")
		loc=$(pooled "${ll[@]}")
		lok=$(cat "${ll[@]}" | grep -c ',ok$' || true)
		fig "  local    $loc  (handed over by TC: $((n1 - n0)))"
		fig "  local added median: $(added_us "$direct" "$loc") (target <= 20 us)"
		if [ $((n1 - n0)) -lt "$lok" ]; then
			fig "  local: FAILED: TC handed over $((n1 - n0)) of the $lok connections: not a measurement of the local handoff"
			local_missing="the local listener's connections did not go through synguard"
		fi
	fi
	lab_cleanup
}

# No flood: the connect latency each path adds, on the NFQUEUE path and, where
# synguardd has it, with SYNs answered in XDP
mode_latency() {
	latency_pass "$out/latency" nfqueue
	if [ $xdp = 1 ] && [ -z "$xdp_missing" ]; then
		latency_pass "$out/latency-xdp" xdp || fig "  latency with datapath xdp: synguardd did not start"
	fi
}

# streams N, total bytes B, port P: wall seconds for N parallel downloads of B/N bytes
bulk() {
	local n=$1 bytes=$2 port=$3 per t0 t1 i pids=()
	per=$((bytes / n))
	t0=$(date +%s.%N)
	for i in $(seq "$n"); do
		lab_exec client socat -T 10 -b 262144 -u "TCP4:$S:$port" /dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	t1=$(date +%s.%N)
	$PY -c 'import sys; print("%.0f" % (float(sys.argv[1]) * 8 / 1e6 / (float(sys.argv[3]) - float(sys.argv[2]))))' \
		"$((per * n))" "$t0" "$t1"
}

median() {
	printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

mode_relay() {
	local d=$out/relay n bytes=${PERF_RELAY_BYTES:-2000000000} trials=${PERF_RELAY_TRIALS:-5}
	local direct proxy passfd loc n0 n1 r0 r1 b3=()
	mkdir -p "$d"
	lab_up
	start_synguard "$d"
	fig "relay (load $(load)): bulk download of $bytes bytes in total, Mbit/s, median of $trials trials"
	for n in 1 32; do
		lab_bg server "$d/backend-$n.log" "$SGBACKEND" --quiet --listen "$S:8081" source $((bytes / n))
		b1=$LAB_LAST_PID
		lab_bg server "$d/backend-passfd-$n.log" "$SGBACKEND" --quiet --passfd "$d/passfd.sock" \
			source $((bytes / n))
		b2=$LAB_LAST_PID
		b3=()
		if [ $local_handoff = 1 ]; then
			# the same server, listening on the protected port itself
			lab_bg server "$d/backend-local-$n.log" "$SGBACKEND" --quiet --listen "$S:82" source $((bytes / n))
			b3=("$LAB_LAST_PID")
			lab_wait_tcp server "$S" 82 10
		fi
		lab_wait_tcp server "$S" 8081 10
		sleep 0.5
		# interleaved trials, the median of each: other jobs come and go
		local dl=() pl=() fl=() ll=() _
		if [ $local_handoff = 1 ]; then
			n0=$(local_handoffs "$d")
			r0=$(local_recycled "$d")
		fi
		for _ in $(seq "$trials"); do
			dl+=("$(bulk "$n" "$bytes" 8081)")
			pl+=("$(bulk "$n" "$bytes" 80)")
			fl+=("$(bulk "$n" "$bytes" 81)")
			if [ $local_handoff = 1 ]; then ll+=("$(bulk "$n" "$bytes" 82)"); fi
		done
		echo "  $n stream(s) trials: direct ${dl[*]} / proxy ${pl[*]} / pass-fd ${fl[*]}${ll:+ / local ${ll[*]}}" >>"$summary"
		direct=$(median "${dl[@]}")
		proxy=$(median "${pl[@]}")
		passfd=$(median "${fl[@]}")
		fig "  $n stream(s): direct $direct  proxy $proxy ($($PY -c "print('%.2f' % ($proxy / $direct))")x, target >= 0.9)  pass-fd $passfd ($($PY -c "print('%.2f' % ($passfd / $direct))")x)"
		if [ $local_handoff = 1 ]; then
			n1=$(local_handoffs "$d")
			r1=$(local_recycled "$d")
			loc=$(median "${ll[@]}")
			fig "  $n stream(s): direct $direct  local $loc ($($PY -c "print('%.2f' % ($loc / $direct))")x, target >= 0.98; handed over by TC: $((n1 - n0)), TIME_WAIT recycled by the kernel: $((r1 - r0)))"
			if [ $((n1 - n0 + r1 - r0)) -lt $((n * trials)) ]; then
				fig "  local: FAILED: TC handed over $((n1 - n0)) of $((n * trials)) connections: not a measurement of the local handoff"
				local_missing="the local listener's connections did not go through synguard"
			fi
		fi
		kill "$b1" "$b2" "${b3[@]}" 2>/dev/null || true
		wait "$b1" "$b2" "${b3[@]}" 2>/dev/null || true
	done
	lab_cleanup
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# xdp_stat DIR COUNTER: one of the XDP program's counters of listener "p"
xdp_stat() {
	"$SYNGUARDCTL" -s "$1/control.sock" stats --json 2>/dev/null |
		lab_json_get "xdp.listeners.p.$2" 2>/dev/null || echo 0
}

rss_xdp=
mode_flood_size() {
	flood_size synguard
	if [ $xdp = 1 ]; then flood_size synguard-xdp; fi
}

# flood_size synguard|synguard-xdp
flood_size() {
	local d=$out/flood-size big=${PERF_FLOOD_BIG:-20000000} r0 r1 r2 t0 t1 x0 x1 name=$1 gen=()
	# the XDP datapath takes the XDP generator's rate: 20 M SYNs in a fraction of the time
	[ "$name" = synguard-xdp ] && d=$out/flood-size-xdp && gen=(--xdp)
	mkdir -p "$d"
	if [ "$name" = synguard-xdp ]; then SGLAB_XDP_PEERS=1; else SGLAB_XDP_PEERS=0; fi
	lab_up
	lab_bg server "$d/backend.log" "$SGBACKEND" --quiet --listen "$S:8081" echo
	lab_wait_tcp server "$S" 8081 10
	if [ "$name" = synguard-xdp ]; then
		start_synguard "$d" 0:1 'datapath = "xdp"; devices = ["cli0", "att0"];'
	else
		start_synguard "$d"
	fi
	x0=$(xdp_stat "$d" syn_answered)
	r0=$(rss_kb "$sgd_pid")
	t0=$(date +%s)
	lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --dst "$S" \
		--dport 80 --kind syn --count 1000000 --duration 120 "${gen[@]}" --quiet >"$d/flood1.log" 2>&1
	sleep 1
	r1=$(rss_kb "$sgd_pid")
	lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --dst "$S" \
		--dport 80 --kind syn --count $((big - 1000000)) --duration 290 "${gen[@]}" --quiet >"$d/flood2.log" 2>&1
	sleep 1
	r2=$(rss_kb "$sgd_pid")
	t1=$(date +%s)
	if [ "$name" = synguard-xdp ]; then
		x1=$(xdp_stat "$d" syn_answered)
		fig "flood-size synguard-xdp (load $(load)): synguardd VmRSS at start $r0 kB, after 1 M SYNs $r1 kB, after $((big / 1000000)) M SYNs $r2 kB ($((t1 - t0)) s of flood; XDP answered $((x1 - x0)) SYNs)"
		rss_xdp="$r1 $r2 $((x1 - x0))"
	else
		fig "flood-size (load $(load)): synguardd VmRSS at start $r0 kB, after 1 M SYNs $r1 kB, after $((big / 1000000)) M SYNs $r2 kB ($((t1 - t0)) s of flood)"
	fi
	fig "  $(cat "$d/flood1.log") / $(cat "$d/flood2.log")"
	lab_cleanup
	SGLAB_XDP_PEERS=0
}

# bench.sh's max-rate scenario four ways:
#   default   as configured (two queue threads at normal priority)
#   realtime  one real-time queue thread (two would leave the generator, on the
#             same two CPUs, only what they do not take)
#   pinned    one queue thread at nice -20 (not real-time: a real-time thread
#             that keeps its CPU busy holds that CPU's kernel threads back until
#             the scheduler's fair-share reserve runs them in one go, stalls of
#             tens of milliseconds), and each party on its own CPU: the generator on CPU 1
#             with the server's processes (backend, synguardd's main thread),
#             the legitimate client on CPU 0 with the queue thread. Unpinned, the
#             client's wake-up often lands on the generator's CPU and waits there
#             behind the softirq that feeds NFQUEUE (this kernel does not preempt
#             kernel code), and the backend's turns on the queue thread's CPU hold
#             the queue thread back. SYNPROXY never shows the first: it answers
#             inside the client's own connect(), so the client never sleeps.
#   equal     pinned, with the flood rate capped at what the generator reached
#             under SYNPROXY in the pinned run: SYNPROXY's work runs in the
#             generator's softirq and slows it down, synguard's runs on another
#             CPU, so at full speed synguard faces a heavier flood than SYNPROXY
max_rate_dirs=
mode_max_rate() {
	local v scen d base=$lab/scenarios/max-rate.conf peer_pps="" defs=""
	# the local handoff answers SYNs as the proxy handoff does (NFQUEUE, the
	# same queue settings): it runs in every variant next to the other two
	if [ $local_handoff = 1 ]; then defs='DEFENSES="synproxy synguard synguard-local"'; fi
	for v in ${PERF_MAX_RATE_VARIANTS:-default realtime pinned equal}; do
		d=$out/max-rate-$v
		scen=$base
		case $v in
		default) if [ -n "$defs" ]; then
				scen=$out/max-rate-default.conf
				{ cat "$base"; echo "$defs"; } >"$scen"
			fi ;;
		realtime) scen=$out/max-rate-realtime.conf
			{ cat "$base"; echo 'NAME=max-rate-realtime'; echo 'SYNGUARD_QUEUES=0'
			  echo 'SYNGUARD_DAEMON="queue_priority = 10;"'; echo "$defs"; } >"$scen" ;;
		pinned | equal) scen=$out/max-rate-$v.conf
			{ cat "$base"; echo "NAME=max-rate-$v"; echo 'SYNGUARD_QUEUES=0'
			  echo 'SYNGUARD_DAEMON="queue_nice = -20; queue_cpus = [0];"'
			  echo 'FLOOD_CPUS=1'; echo 'SERVER_CPUS=1'; echo 'LEGIT_CPUS=0'
			  echo "$defs"
			  if [ $v = equal ]; then echo "RATE=$peer_pps"; fi; } >"$scen" ;;
		esac
		if [ $v != default ] && [ $v != realtime ] && [ "$(nproc)" -lt 2 ]; then
			echo "perf: max-rate $v: needs two CPUs" | tee -a "$summary"
			continue
		fi
		if [ $v = equal ] && [ -z "$peer_pps" ]; then
			echo "perf: max-rate equal: no SYNPROXY flood rate from the pinned run" | tee -a "$summary"
			continue
		fi
		echo "perf: max-rate, synguard $v (load $(load)): tests/lab/bench.sh --scenario $scen" |
			tee -a "$summary"
		SGLAB_PREFIX=${SGLAB_PREFIX}b "$lab/bench.sh" --scenario "$scen" --no-deps --no-build \
			--build-dir "$build_dir" --out "$d" >"$d.log" 2>&1 ||
			{ echo "perf: bench.sh failed, see $d.log" >&2; return 1; }
		sed -n '/^defense/,$p' "$d/table.txt" | tee -a "$summary"
		if [ $v = pinned ]; then
			peer_pps=$($PY -c 'import json, sys
r = [x for x in json.load(open(sys.argv[1]))["results"] if x["defense"] == "synproxy"]
print(r[0]["flood"]["pps"] if r and r[0]["flood"]["pps"] else "")' "$d/results.json")
		fi
	done
	[ $xdp = 1 ] || return 0
	# The XDP datapath against SYNPROXY, each after the generator-only phase:
	# SYN and ACK floods from the XDP generator (GENERATOR=xdp), which costs
	# the machine about a tenth of sgflood's AF_PACKET sender per packet and
	# outruns every defense here, so that the CPU measured is the defense's;
	# then the default scenario (sgflood at 100k SYN/s) for connect latency
	# at equal offered load, PERF_LATENCY_RUNS times (3 by default: the p99 of
	# 2,000 connections moves severalfold from run to run, for both; the
	# target is judged on the median ratio). The NFQUEUE path's figures are
	# the variants above: at the XDP generator's rate its queue overflows.
	local lat_runs=${PERF_LATENCY_RUNS:-3} i
	latency_dirs=()
	for v in xdp ack latency $(for ((i = 2; i <= lat_runs; i++)); do echo "latency-$i"; done); do
		d=$out/max-rate-$v
		scen=$out/max-rate-$v.conf
		case $v in
		xdp) { cat "$base"; echo 'NAME=max-rate-xdp'
		       echo 'DESCRIPTION="spoofed SYN flood (IPv4) from the XDP generator at full speed"'
		       echo 'GENERATOR=xdp'; echo 'DEFENSES="generator synproxy synguard-xdp"'; } >"$scen" ;;
		ack) { cat "$base"; echo 'NAME=max-rate-ack'
		       echo 'DESCRIPTION="spoofed ACK flood (random acknowledgment numbers) from the XDP generator at full speed"'
		       echo 'ATTACK=ack'; echo 'GENERATOR=xdp'
		       echo 'DEFENSES="generator synproxy synguard-xdp"'; } >"$scen" ;;
		latency) { cat "$lab/scenarios/default.conf"; echo 'NAME=default-xdp'
		       echo 'DEFENSES="synproxy synguard synguard-xdp"'; } >"$scen" ;;
		latency-*) { cat "$lab/scenarios/default.conf"; echo "NAME=default-xdp-${v#latency-}"
		       echo 'DEFENSES="synproxy synguard-xdp"'; } >"$scen" ;;
		esac
		case $v in latency*) latency_dirs+=(--latency "$d") ;; esac
		echo "perf: max-rate, $v (load $(load)): tests/lab/bench.sh --scenario $scen" | tee -a "$summary"
		SGLAB_PREFIX=${SGLAB_PREFIX}b "$lab/bench.sh" --scenario "$scen" --no-deps --no-build \
			--build-dir "$build_dir" --out "$d" >"$d.log" 2>&1 ||
			{ echo "perf: bench.sh failed, see $d.log" >&2; return 1; }
		sed -n '/^defense/,$p' "$d/table.txt" | tee -a "$summary"
	done
	max_rate_dirs=1
}

for m in $modes; do
	case "$m" in
	latency) mode_latency ;;
	relay) mode_relay ;;
	flood-size) mode_flood_size ;;
	max-rate) mode_max_rate ;;
	esac
done
# the XDP datapath's targets, side by side, from this run's figures
if [ $xdp = 1 ] && { [ -n "$max_rate_dirs" ] || [ -n "$rss_xdp" ]; }; then
	echo | tee -a "$summary"
	if [ -n "$max_rate_dirs" ]; then
		a=()
		[ -f "$out/max-rate-xdp/results.json" ] && a+=(--syn "$out/max-rate-xdp")
		a+=(--ack "$out/max-rate-ack" "${latency_dirs[@]}")
		$PY "$lab/benchreport.py" targets "${a[@]}" | sed 's/^/perf: /' | tee -a "$summary"
	fi
	if [ -n "$rss_xdp" ]; then
		read -r x1 x2 x3 <<<"$rss_xdp"
		fig "  RSS of synguardd with datapath \"xdp\": $x1 kB after 1 M SYNs, $x2 kB after $((${PERF_FLOOD_BIG:-20000000} / 1000000)) M ($((x2 - x1)) kB more; XDP answered $x3) (target flat: $([ $((x2 - x1)) -le 1024 ] && echo met || echo 'NOT met'))"
	fi
fi
echo "perf: summary in $summary"
rc=0
if [ -n "$local_missing" ]; then
	echo "perf: synguard-local was not measured: $local_missing" | tee -a "$summary" >&2
	rc=1
fi
if [ -n "$xdp_missing" ]; then
	echo "perf: synguard-xdp was not measured: $xdp_missing" | tee -a "$summary" >&2
	rc=1
fi
exit $rc
