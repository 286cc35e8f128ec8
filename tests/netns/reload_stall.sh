#!/bin/bash
# Reloads never stall the relayed traffic. A client reads a bulk download
# relayed by the daemon (proxy handoff, sgbackend source) and records the
# largest gap between two reads, while the configuration is reloaded 20
# times, each reload changing a policy value so that it runs to the end
# (handoff, queue generation, both families' firewall rules). Every reload is
# waited for through its answer. The largest gap must stay under 150 ms:
# below the 200 ms a daemon waiting for the slowed firewall tools (below)
# would stall at least, above what a busy machine's scheduler adds (61 ms
# seen under a concurrent flood test; 6-46 ms on a quiet machine).
#
# The source is paced (50 MB/s) and the client reads at once, so no buffer
# after the relay fills: a stall of the relay shows whole in the gap. At full
# speed the gap measured the machine's scheduler as much (the programs never
# sleep, and on a busy machine lost their CPU for tens of milliseconds). For
# the same reason the source, the daemon's main thread and the reader run at
# nice -10; they use little CPU at this pace.
#
# The firewall tools are made slow on purpose (200 ms per iptables-restore,
# as on a host with a big ruleset or a busy netlink): a daemon that waited
# for them on its main loop would stall the relay by at least that much on
# every reload, whatever the speed of this machine.
#
# Also: a reload requested while another is in its firewall step is queued
# and answered after it, with its own outcome.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need sgbackend

RELOADS=20
STALL_MAX_MS=150
FW_DELAY=0.2
PACE=50000000 # bytes/s

lab_up || t_fail "lab up"
T_QUEUES="0:1"
write_conf() { # N: policy value N
	pc_config "$(pc_listener bulk4 $LAB_SERVER4 80 proxy 127.0.0.1:9002 p),
$(pc_listener bulk6 $LAB_SERVER6 80 proxy 127.0.0.1:9002 p)" "
	p = { mode = \"stateful\"; half_open_max = $((1000 + $1)); };"
}
write_conf 0

# slow iptables-restore / ip6tables-restore for the daemon: a marker file while one runs
mkdir "$T_DIR/bin"
for tool in iptables-restore ip6tables-restore; do
	real=$(command -v $tool) || t_skip "no $tool"
	cat >"$T_DIR/bin/$tool" <<WRAP
#!/bin/sh
touch "$T_DIR/fw-running"
sleep \$(cat "$T_DIR/fw-delay" 2>/dev/null || echo 0)
rm -f "$T_DIR/fw-running"
exec "$real" "\$@"
WRAP
	chmod +x "$T_DIR/bin/$tool"
done

t_backend source --listen 127.0.0.1:9002 --pace $PACE source $((1000 * 1000 * 1000 * 1000))
renice -n -10 -p $LAB_LAST_PID >/dev/null
lab_wait_tcp server 127.0.0.1 9002 || t_fail "backend did not start"
PATH=$T_DIR/bin:$PATH t_start_daemon
# the relay runs on the daemon's main thread: the pid's own
renice -n -10 -p "$T_DAEMON_PID" >/dev/null
echo $FW_DELAY >"$T_DIR/fw-delay"

cat >"$T_DIR/reader.py" <<'PYEOF'
import os, socket, sys, time
addr, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((addr, port), timeout=10)
buf = bytearray(1 << 20)
total, gaps, last, t0 = 0, [], None, time.monotonic()
flowing = False
while True:
    n = s.recv_into(buf)
    now = time.monotonic()
    if n == 0:
        print("eof after", total, flush=True)
        sys.exit(1)
    total += n
    if flowing:
        gaps.append((now - last, time.time()))
        if len(gaps) % 256 == 0 and os.path.exists(stop):
            break
    elif total >= 8 << 20:
        flowing = True
        print("flowing", flush=True)
    last = now
gaps.sort(reverse=True)
secs = now - t0
print("bytes=%d seconds=%.1f reads=%d max_gap_ms=%.1f next=%s" % (
    total, secs, len(gaps), gaps[0][0] * 1000,
    ",".join("%.1f" % (g * 1000) for g, _ in gaps[1:5])), flush=True)
for g, at in gaps[:5]:
    print("gap %.1f ms ending at %s.%03d" % (g * 1000, time.strftime("%H:%M:%S", time.gmtime(at)),
                                        int(at * 1000) % 1000), flush=True)
PYEOF
lab_bg client "$T_DIR/reader.log" nice -n -10 $PY "$T_DIR/reader.py" $LAB_SERVER4 80 "$T_DIR/stop"
rpid=$LAB_LAST_PID
pc_wait 10 grep -q flowing "$T_DIR/reader.log" || t_fail "the download did not start"

t0=$(date +%s%N)
for i in $(seq $RELOADS); do
	write_conf $i
	out=$(t_ctl reload 2>&1) || t_fail "reload $i: $out"
	case $out in
	"reloaded $T_CONF: 2 listener(s);") ;;
	*) t_fail "reload $i: unexpected answer: $out" ;;
	esac
	t_expect "reload $i applied" \
		"$(t_ctl policy p | grep -c "^	half_open_max = $((1000 + i));$")" = 1
done
t1=$(date +%s%N)
touch "$T_DIR/stop"
wait $rpid || t_fail "reader: $(cat "$T_DIR/reader.log")"
cat "$T_DIR/reader.log"
echo "$RELOADS reloads in $(((t1 - t0) / 1000000)) ms"
kill -0 "$T_DAEMON_PID" || t_fail "the daemon died"
t_expect "every reload refilled both families' rules" \
	"$(grep -c 'ip6tables: rules updated' "$T_DIR/synguardd.log")" -ge $RELOADS
# SYNs, handshake ACKs and, the policy being stateful, RSTs that meet no socket
t_expect "the rules are in" "$(lab_exec server iptables-save | grep -c -- '--dport 80 .*NFQUEUE')" = 3
gap=$(sed -n 's/.*max_gap_ms=\([0-9.]*\).*/\1/p' "$T_DIR/reader.log")
t_expect "largest gap between reads ${gap} ms < $STALL_MAX_MS ms" \
	"$(awk -v g="$gap" -v m=$STALL_MAX_MS 'BEGIN { print (g < m) }')" = 1

# a second reload while the first one is in its firewall step (held there 1 s per family,
# far longer than sending a request takes): queued, both answered, each with its own outcome
write_conf 100
echo 1 >"$T_DIR/fw-delay"
rm -f "$T_DIR/fw-running"
t_ctl reload >"$T_DIR/first.out" 2>&1 &
first=$!
pc_wait 5 test -e "$T_DIR/fw-running" || t_fail "the first reload never reached its firewall step"
write_conf 101
second=$(t_ctl reload 2>&1) || t_fail "second reload: $second"
wait $first || t_fail "first reload: $(cat "$T_DIR/first.out")"
t_expect "first reload answered" "$(cat "$T_DIR/first.out")" = "reloaded $T_CONF: 2 listener(s);"
t_expect "the queued reload answered" "$second" = "reloaded $T_CONF: 2 listener(s);"
t_expect "the second reload was queued" \
	"$(grep -c 'control reload: queued behind the reload under way' "$T_DIR/synguardd.log")" = 1
t_expect "the queued reload read the newer file" \
	"$(t_ctl policy p | grep -c '^	half_open_max = 1101;$')" = 1
t_stop_daemon
echo "PASS: $T_NAME"
