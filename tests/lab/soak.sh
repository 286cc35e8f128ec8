#!/bin/bash
# Soak: synguardd under a long spoofed SYN flood with legitimate load, in the
# lab's namespaces. Every 10 s it records the daemon's RSS, open files and
# threads, its counters and the kernel's NFQUEUE counters; at the end it says
# whether RSS and open files stayed flat and whether any legitimate failure
# is the daemon's doing.
#
#   tests/lab/soak.sh [-d SECONDS] [-r PPS] [-l CPS] [-F] [-A] [-o DIR] BUILD_DIR
#     -d SECONDS  flood length (default 300; at most 590)
#     -r PPS      flood rate; 0 (default) is as fast as sgflood goes
#     -l CPS      legitimate connections per second, IPv4 (default 50; IPv6 gets a fifth)
#     -F          fail_open = false (default: true)
#     -A          queue_full = "accept" (default: "drop")
#     -o DIR      keep the results there (default: a temporary directory, printed)
#
# Legitimate clients (sgload, an echo exchange per connection) start 5 s
# before the flood and stop 5 s after it. Their failures are split:
#   - the daemon's: early closes and corrupted echoes after the handshake,
#     and the daemon's own repair_failed / handoff_failed counters;
#   - overload's: connect timeouts, refusals and resets while the NFQUEUE
#     queue was overflowing. With queue_full = "drop", the kernel counts the
#     drops in /proc/net/netfilter/nfnetlink_queue; with "accept", it counts
#     nothing there and hands the overflow to its own TCP, which answers a SYN or a
#     handshake ACK for the protected port with a reset (nobody listens
#     there): the server's TcpOutRsts counts them. A client can then be
#     reset while the daemon, which saw its next segment, hands the
#     connection off anyway: it stays open until the idle timeout.
#   - stalls (a connection up but not done within sgload's --timeout) and
#     resets count as the daemon's when there was no overload at all: on an
#     overloaded machine they cannot be told apart from CPU starvation.
# Exit status: 0 when RSS grew by less than 10% (or 4 MB) between the first
# and the last sample of the flood, the open file count is the same before
# and after (both idle, less six per connection still open), and the daemon
# caused no failure; 1 otherwise; 2 on set-up errors.
#
# Runs as root; not part of ctest (too long): tests/netns/robust_soak.sh is
# its 30-second version. Namespaces are named SGLAB_PREFIX (default sgsoak).
set -u
here=$(cd "$(dirname "$0")" && pwd)
dur=300 rate=0 legit=50 fail_open=true queue_full=drop out=""
while getopts d:r:l:FAo: opt; do
	case $opt in
	d) dur=$OPTARG ;;
	r) rate=$OPTARG ;;
	l) legit=$OPTARG ;;
	F) fail_open=false ;;
	A) queue_full=accept ;;
	o) out=$OPTARG ;;
	*) sed -n '2,28p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 1 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "soak: needs root" >&2; exit 2; }
[ "$dur" -ge 20 ] && [ "$dur" -le 590 ] || { echo "soak: -d must be 20..590" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
for t in daemon/synguardd daemon/synguardctl tests/lab/sgflood tests/lab/sgbackend tests/lab/sgload; do
	[ -x "$build/$t" ] || { echo "soak: $build/$t not built" >&2; exit 2; }
done

export SGLAB_PREFIX=${SGLAB_PREFIX:-sgsoak}
# shellcheck source=lab.sh
. "$here/lab.sh"
work=$(mktemp -d -t sgsoak.XXXXXX)
[ -n "$out" ] || out=$work/results
mkdir -p "$out"
cleanup() {
	trap - EXIT INT TERM
	lab_cleanup
	rm -rf "$work/run"
	echo "soak: results in $out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/run"
sock=$work/run/control.sock
ctl() { "$build/daemon/synguardctl" -s "$sock" "$@"; }

lab_up || exit 2
cat >"$work/run/synguard.conf" <<EOF
daemon: {
	queue = "0:1";
	firewall = "iptables";
	fail_open = $fail_open;
	queue_full = "$queue_full";
	control_socket = "$sock";
	cookie_rotation = 30;
	user = "root";
};
listeners = (
	{ name = "web4"; address = "$LAB_SERVER4"; port = 80; handoff = "proxy"; backend = "127.0.0.1:8080"; },
	{ name = "web6"; address = "$LAB_SERVER6"; port = 80; handoff = "proxy"; backend = "127.0.0.1:8080"; }
);
EOF
lab_bg server "$out/backend.log" "$build/tests/lab/sgbackend" --quiet --listen 127.0.0.1:8080 echo
lab_wait_tcp server 127.0.0.1 8080 || exit 2
lab_bg server "$out/synguardd.log" "$build/daemon/synguardd" -c "$work/run/synguard.conf"
pid=$LAB_LAST_PID
for _ in $(seq 100); do
	ctl status >/dev/null 2>&1 && lab_exec server ip6tables-save | grep -q NFQUEUE && break
	kill -0 "$pid" 2>/dev/null || { cat "$out/synguardd.log"; exit 2; }
	sleep 0.1
done
ctl status >/dev/null || exit 2

sample() { # T: one line of samples
	local q d=0 u=0 tot=0 rsts
	while read -r q _ t _ _ dq uq _; do
		[ "$q" = 0 ] || [ "$q" = 1 ] || continue
		d=$((d + dq)) u=$((u + uq)) tot=$((tot + t))
	done < <(lab_exec server cat /proc/net/netfilter/nfnetlink_queue)
	rsts=$(lab_exec server awk '/^Tcp:/ { if (h) { for (i = 1; i <= NF; i++) if (n[i] == "OutRsts") print $i } else { for (i = 1; i <= NF; i++) n[i] = $i; h = 1 } }' /proc/net/snmp)
	ctl stats --json >"$work/run/s.json" || return
	printf '%s %s %s %s %s\n' "$1" \
		"$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")" \
		"$(ls "/proc/$pid/fd" | wc -l)" \
		"$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")" \
		"$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["total"]
print(" ".join(str(t[k]) for k in ("syn_received", "synack_sent", "ack_valid", "handoffs",
    "active_connections", "repair_failed", "handoff_failed", "synack_send_failed")))' "$work/run/s.json") $tot $d $u $rsts"
}

echo "t rss_kb fds threads syn_received synack_sent ack_valid handoffs active repair_failed handoff_failed synack_send_failed nfq_queued nfq_dropped nfq_user_dropped kernel_rsts" >"$out/samples.txt"
sample idle >>"$out/samples.txt"
ls -l "/proc/$pid/fd" >"$out/fds-before.txt"
ldur=$((dur + 10))
lab_bg client "$out/load4.log" "$build/tests/lab/sgload" --rate "$legit" --duration "$ldur" \
	--window "5:$((dur + 5))" --json "$out/load4.json" --records "$out/load4.csv" "$LAB_SERVER4" 80
l4=$LAB_LAST_PID
lab_bg client "$out/load6.log" "$build/tests/lab/sgload" --rate "$(((legit + 4) / 5))" \
	--duration "$ldur" --window "5:$((dur + 5))" --json "$out/load6.json" "$LAB_SERVER6" 80
l6=$LAB_LAST_PID
sleep 5
sample 0 >>"$out/samples.txt"
lab_bg attacker "$out/flood.log" "$build/tests/lab/sgflood" --iface eth0 \
	--dst-mac "$LAB_MAC_SERVER_ATT" --dst "$LAB_SERVER4" --dport 80 --kind syn \
	--rate "$rate" --duration "$dur" --quiet
fl=$LAB_LAST_PID
start=$(date +%s)
echo "soak: flood for $dur s (rate ${rate:-0}, 0 = as fast as possible), legit $legit/s IPv4 + $(((legit + 4) / 5))/s IPv6, fail_open = $fail_open, queue_full = $queue_full"
while kill -0 "$fl" 2>/dev/null; do
	sleep 10
	s=$(sample $(($(date +%s) - start)))
	echo "$s" >>"$out/samples.txt"
	echo "  $s"
done
wait "$fl"
last_flood=$(tail -n 1 "$out/samples.txt")
wait "$l4"
wait "$l6"
for _ in $(seq 50); do
	[ "$(ctl stats --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"]["active_connections"])')" = 0 ] && break
	sleep 0.2
done
sample idle >>"$out/samples.txt"
ls -l "/proc/$pid/fd" >"$out/fds-after.txt"
lab_exec server ss -tanp >"$out/sockets-after.txt"
kill -0 "$pid" 2>/dev/null || { echo "soak: FAIL: synguardd died"; exit 1; }
cat "$out/flood.log"
ctl stats >"$out/stats.txt"

python3 - "$out" "$(sed -n 2p "$out/samples.txt")" "$(sed -n 3p "$out/samples.txt")" "$last_flood" \
	"$(tail -n 1 "$out/samples.txt")" <<'EOF'
import json, sys
out, s0, s1, sl, se = sys.argv[1:]
names = open(out + "/samples.txt").readline().split()
def row(s):
    return dict(zip(names, s.split()))
# idle before the load, flood start, flood end, idle after
pre, first, last, end = row(s0), row(s1), row(sl), row(se)
loads = {f: json.load(open(f"{out}/{f}.json")) for f in ("load4", "load6")}
daemon_kinds = ("early_eof", "mismatch")
overload_kinds = ("connect_timeout", "refused", "connect_error", "reset", "timeout")
att = sum(l["all"]["attempts"] for l in loads.values())
ok = sum(l["all"]["ok"] for l in loads.values())
res = {k: sum(l["all"]["results"][k] for l in loads.values()) for k in daemon_kinds + overload_kinds}
n = lambda r, k: int(r[k])
drops = n(end, "nfq_dropped") - n(pre, "nfq_dropped") + n(end, "nfq_user_dropped") - n(pre, "nfq_user_dropped")
rsts = n(end, "kernel_rsts") - n(pre, "kernel_rsts")
syn = n(end, "syn_received") - n(pre, "syn_received")
rss_growth = n(last, "rss_kb") - n(first, "rss_kb")
summary = {
    "rss_kb": {"before": n(pre, "rss_kb"), "flood_start": n(first, "rss_kb"), "flood_end": n(last, "rss_kb"), "after": n(end, "rss_kb")},
    "fds": {"before": n(pre, "fds"), "flood_start": n(first, "fds"), "flood_end": n(last, "fds"), "after": n(end, "fds")},
    "threads": {"flood_start": n(first, "threads"), "flood_end": n(last, "threads")},
    "syn_received": syn, "nfqueue_drops": drops, "kernel_resets": rsts,
    "legit": {"attempts": att, "ok": ok, "failures": res},
    "daemon_counters": {k: n(end, k) for k in ("repair_failed", "handoff_failed", "synack_send_failed")},
}
daemon_failures = sum(res[k] for k in daemon_kinds) + n(end, "repair_failed") + n(end, "handoff_failed")
overload_failures = sum(res[k] for k in overload_kinds)
verdict = []
if rss_growth * 10 > n(first, "rss_kb") and rss_growth > 4096:
    verdict.append(f"RSS grew by {rss_growth} kB during the flood")
# a relayed connection holds six files (two sockets, two pipes); one still
# open at the end (see active) is not a leak
if n(end, "fds") - 6 * n(end, "active") != n(pre, "fds"):
    verdict.append(f"open files {n(pre, 'fds')} before, {n(end, 'fds')} after "
                   f"with {n(end, 'active')} connection(s) open")
if daemon_failures:
    verdict.append(f"{daemon_failures} failures are the daemon's")
if overload_failures and drops == 0 and rsts == 0:
    verdict.append(f"{overload_failures} connect failures or resets without any overload")
summary["verdict"] = verdict or ["PASS"]
json.dump(summary, open(out + "/summary.json", "w"), indent=1)
print(f"RSS kB: idle {summary['rss_kb']['before']}, flood start {summary['rss_kb']['flood_start']}, "
      f"flood end {summary['rss_kb']['flood_end']}, idle after {summary['rss_kb']['after']}")
print(f"open files: idle {summary['fds']['before']}, flood start {summary['fds']['flood_start']}, "
      f"flood end {summary['fds']['flood_end']}, idle after {summary['fds']['after']} "
      f"({n(end, 'active')} connection(s) still open)")
print(f"SYNs seen by the daemon: {syn}; NFQUEUE drops (overflow, queue_full drop): {drops}; "
      f"kernel resets (overflow, queue_full accept): {rsts}")
print(f"legitimate connections: {ok} of {att} ok; failures: " +
      ", ".join(f"{k} {v}" for k, v in res.items() if v) + (" none" if not any(res.values()) else ""))
print(f"daemon counters: {summary['daemon_counters']}")
print("soak: " + ("PASS" if not verdict else "FAIL: " + "; ".join(verdict)))
sys.exit(1 if verdict else 0)
EOF
