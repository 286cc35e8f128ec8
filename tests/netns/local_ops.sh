#!/bin/bash
# handoff "local", operations around the kernel fast path:
#  1. the kernel switches: with net.ipv4.tcp_timestamps = 0 in the server's
#     namespace and a policy granting timestamps, `synguardd -t` names the
#     listener, the policy key, the switch, its value and what to change, and
#     fails; the daemon starts with the same warning, and indeed a client
#     offering timestamps gets no connection (handoff_failed) while one
#     without gets through; a reload warns again. With timestamps = false in
#     the policy, -t is content. With net.ipv4.tcp_syncookies = 0 (every
#     handshake would fail) a reload is refused, the old configuration runs
#     on, and a start fails saying why.
#  2. a failed key publish (forced through the test builds' fault file) is
#     retried until it succeeds, well before the next rotation, counted and
#     logged; fetches fail while the keys are stale and work once they are
#     published.
#     A switch changed under the running daemon is reported at the next
#     rotation.
#  3. devices: new devices get a link and the links of deleted ones are
#     released when the daemon hears of it, and at the latest at the next
#     reload, so many more than 64 devices over time, 24 at a time, all get
#     a link.
#  4. listener slots: a reload replacing 255 of 256 listeners keeps the
#     counters of the one kept; a reload replacing all 256 works.
# Skips (77) where the fast path is not built.
. "$(dirname "$0")/lib.sh" "$@"
t_need curl python3

PORT=80
ROTATION=20 # seconds: long enough to tell a retry from the next rotation
export SYNGUARD_TEST_KEY_FAULT=$T_DIR/keyfault

t_local() { # NAME ADDRESS PORT
	printf '{ name = "%s"; address = "%s"; port = %s; handoff = "local"; }' "$1" "$2" "$3"
}
conf() { # LISTENERS [POLICIES]
	t_config "$1"
	sed -i "s/cookie_rotation = 30;/cookie_rotation = $ROTATION;/" "$T_CONF"
	[ -z "${2:-}" ] || echo "policies = { $2 };" >>"$T_CONF"
}
fetch_ok() { # URL
	local body
	body=$(lab_exec client curl -sS --max-time "${FETCH_TIMEOUT:-10}" "$1" 2>/dev/null) ||
		return 1
	case "$body" in "client=$LAB_CLIENT4:"*) return 0 ;; esac
	return 1
}
# starts the daemon without synguardd -t (which fails on a warning) and waits for it
start_unchecked() {
	lab_bg server "$T_DIR/synguardd.log" "$SYNGUARDD" -v -c "$T_CONF"
	T_DAEMON_PID=$LAB_LAST_PID
	t_wait 10 t_ctl status >/dev/null 2>&1 || t_fail "synguardd did not come up"
}
links() { grep -h "^link_id:" /proc/"$T_DAEMON_PID"/fdinfo/* 2>/dev/null | sort -u | grep -c .; }

lab_up || t_fail "lab up"
conf "$(t_local web4 $LAB_SERVER4 $PORT)"
why=$(lab_exec server "$SYNGUARDD" -t -c "$T_CONF" 2>&1 | grep "built without")
[ -z "$why" ] || t_skip "$why"
if command -v ethtool >/dev/null; then
	lab_exec client ethtool -K eth0 tx off >/dev/null 2>&1
fi
lab_bg server "$T_DIR/server4.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 $PORT
t_wait 10 eval "lab_exec server ss -Htln 'sport = :$PORT' | grep -q ." ||
	t_fail "the server did not start"

# ---- 1. kernel switches ----
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/t-ok.out" 2>&1 ||
	t_fail "-t with every switch on: $(cat "$T_DIR/t-ok.out")"
grep -q "tcp_window_scaling allow what the local listeners' policies grant" "$T_DIR/t-ok.out" ||
	t_fail "-t does not say the switches are fine: $(cat "$T_DIR/t-ok.out")"
lab_sysctl server net.ipv4.tcp_timestamps=0
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/t-ts.out" 2>&1 &&
	t_fail "-t passed with tcp_timestamps = 0 and a policy granting timestamps"
want="fast path: listener web4 (policy default, timestamps = true): net.ipv4.tcp_timestamps = 0: the kernel refuses the connection of every client that offers timestamps"
grep -qF "$want" "$T_DIR/t-ts.out" || t_fail "-t does not report the mismatch: $(cat "$T_DIR/t-ts.out")"
grep -qF "set net.ipv4.tcp_timestamps to 1, or timestamps = false in policy default" "$T_DIR/t-ts.out" ||
	t_fail "-t does not say what to change"
grep -qF "cannot work here, or not for every client" "$T_DIR/t-ts.out" || t_fail "-t: no verdict"
t_ok "-t reports the mismatch and fails: $(grep -F "$want" "$T_DIR/t-ts.out")"
conf "$(t_local web4 $LAB_SERVER4 $PORT)" 'default = { mode = "cookie"; timestamps = false; };'
lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/t-nots.out" 2>&1 ||
	t_fail "-t with timestamps = false in the policy: $(cat "$T_DIR/t-nots.out")"
t_ok "-t is content when the policy grants no timestamps"

conf "$(t_local web4 $LAB_SERVER4 $PORT)"
start_unchecked
grep -qF "$want" "$T_DIR/synguardd.log" || t_fail "no warning at start"
t_ok "the start warns: $(grep -cF "$want" "$T_DIR/synguardd.log") line"
# what the warning is about: a client offering timestamps hangs, one without gets through
FETCH_TIMEOUT=2 fetch_ok "http://$LAB_SERVER4/" && t_fail "a client offering timestamps got through"
t_expect "the kernel refused it: handoff_failed" "$(t_stat tc.web4.handoff_failed)" -ge 1
lab_sysctl client net.ipv4.tcp_timestamps=0
fetch_ok "http://$LAB_SERVER4/" || t_fail "a client without timestamps did not get through"
t_expect "without timestamps: a TC handoff" "$(t_stat tc.web4.handoffs)" -ge 1
lab_sysctl client net.ipv4.tcp_timestamps=1
out=$(t_ctl reload 2>&1) || t_fail "reload with the warning: $out"
t_expect "the reload warns again" "$(grep -cF "$want" "$T_DIR/synguardd.log")" = 2
lab_sysctl server net.ipv4.tcp_timestamps=1

lab_sysctl server net.ipv4.tcp_syncookies=0
out=$(t_ctl reload 2>&1) && t_fail "a reload under tcp_syncookies = 0 was applied: $out"
case $out in
*"listener web4 (handoff \"local\"): net.ipv4.tcp_syncookies = 0: the kernel takes no connection from the fast path, every handshake fails: set net.ipv4.tcp_syncookies to 1; configuration kept"*) ;;
*) t_fail "the refusal does not say why: $out" ;;
esac
t_ok "reload refused: $out"
kill -0 "$T_DAEMON_PID" || t_fail "the daemon died"
lab_sysctl server net.ipv4.tcp_syncookies=1
fetch_ok "http://$LAB_SERVER4/" || t_fail "no fetch after the refused reload"
h=$(t_stat tc.web4.handoffs)
t_expect "the old configuration runs on ($h handoffs)" $h -ge 2
t_stop_daemon
lab_sysctl server net.ipv4.tcp_syncookies=0
lab_exec server timeout 20 "$SYNGUARDD" -c "$T_CONF" >"$T_DIR/start-refused.out" 2>&1 &&
	t_fail "the daemon started under tcp_syncookies = 0"
grep -qF "net.ipv4.tcp_syncookies = 0: the kernel takes no connection from the fast path" \
	"$T_DIR/start-refused.out" || t_fail "the refused start does not say why: $(cat "$T_DIR/start-refused.out")"
t_ok "start refused: $(tail -n 1 "$T_DIR/start-refused.out")"
lab_exec server iptables-save | grep -q SYNGUARD && t_fail "the refused start left rules"
lab_sysctl server net.ipv4.tcp_syncookies=1

# ---- 2. a failed key publish ----
t_start_daemon
fetch_ok "http://$LAB_SERVER4/" || t_fail "keys: first fetch"
touch "$SYNGUARD_TEST_KEY_FAULT"
# and a switch changed under the running daemon, reported at the same tick
lab_sysctl server net.ipv4.tcp_sack=0
# a publish writes at the tick in the middle of each epoch, the next epoch's key; the start
# wrote the keys up to the next epoch's, so the first tick with a key to write is one or two
# ticks away (the start in the first or the second half of its epoch)
t_wait $((2 * ROTATION + 5)) grep -q "publishing the cookie keys of epoch" "$T_DIR/synguardd.log" ||
	t_fail "the forced key fault was not logged"
t_wait 2 grep -q "fast path: the net.ipv4 switches changed:" "$T_DIR/synguardd.log" ||
	t_fail "a switch changed under the daemon was not reported"
grep -qF "listener web4 (policy default, sack = true): net.ipv4.tcp_sack = 0" "$T_DIR/synguardd.log" ||
	t_fail "the changed switch's line is missing"
t_ok "a switch changed under the daemon: reported at the next rotation"
lab_sysctl server net.ipv4.tcp_sack=1
t_fail_at=$(date +%s%N)
grep "publishing the cookie keys of epoch" "$T_DIR/synguardd.log"
# stale keys: from the next epoch boundary on, the program has no key for the
# queue threads' new cookies (expired), half a rotation after the failed publish
refused() { echo $(($(t_stat tc.web4.ack_invalid) + $(t_stat tc.web4.ack_expired))); }
bad0=$(refused)
stale() {
	FETCH_TIMEOUT=1 fetch_ok "http://$LAB_SERVER4/" && return 1
	[ "$(refused)" -gt "$bad0" ]
}
t_wait $((ROTATION / 2 + 5)) stale || t_fail "fetches went on with stale keys"
t_ok "while the keys are stale, the program refuses the new cookies ($(($(refused) - bad0)) ACKs)"
rm -f "$SYNGUARD_TEST_KEY_FAULT"
# recovery by retry: well before the next publish at the next rotation
t_wait 5 grep -q "cookie keys of epoch .* published after" "$T_DIR/synguardd.log" ||
	t_fail "no recovery within 5 s of the fault's end"
took=$((($(date +%s%N) - t_fail_at) / 1000000))
t_expect "recovered before the next rotation ($took ms after the failure)" $took -lt $(((ROTATION - 5) * 1000))
line=$(grep "published after" "$T_DIR/synguardd.log")
case $line in *"published after "[0-9]*" failed attempts ("[0-9]*" failures in all)"*) ;;
*) t_fail "the recovery line does not count the failures: $line" ;; esac
t_ok "$line"
h=$(t_stat tc.web4.handoffs)
fetch_ok "http://$LAB_SERVER4/" || t_fail "no fetch after the keys were published"
t_expect "through the fast path again" "$(t_stat tc.web4.handoffs)" -ge $((h + 1))

# ---- 3. devices come and go ----
n0=$(links)
veths() { # ROUND PAIRS add|del
	local i
	for i in $(seq "$2"); do
		if [ "$3" = add ]; then
			lab_exec server ip link add "o${1}x${i}a" type veth peer name "o${1}x${i}b" &&
				lab_exec server ip link set "o${1}x${i}a" up &&
				lab_exec server ip link set "o${1}x${i}b" up || t_fail "veth o${1}x${i}"
		else
			lab_exec server ip link del "o${1}x${i}a" || t_fail "deleting o${1}x${i}a"
		fi
	done
}
links_are() { [ "$(links)" = "$1" ]; }
# noticed (link events), without a reload
veths 0 3 add
t_wait 5 links_are $((n0 + 6)) || t_fail "6 new devices: $(links) links, not $((n0 + 6))"
t_ok "6 new devices: 6 more links, without a reload"
veths 0 3 del
t_wait 5 links_are $n0 || t_fail "6 devices deleted: $(links) links, not $n0"
grep -q "fast path: device o0x1a (index [0-9]*) is gone: its link released" "$T_DIR/synguardd.log" ||
	t_fail "the release is not logged"
t_ok "the devices deleted: their links released, without a reload"
# and at reloads
for r in 1 2 3 4 5 6; do
	veths $r 12 add
	out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
	t_expect "round $r: 24 devices, 24 more links ($((6 + r * 24)) devices seen in all)" \
		"$(links)" = $((n0 + 24))
	veths $r 12 del
	out=$(t_ctl reload 2>&1) || t_fail "reload: $out"
	t_expect "round $r: released again" "$(links)" = $n0
done
grep -q "more than 64 devices" "$T_DIR/synguardd.log" && t_fail "the 64 places ran out"
fetch_ok "http://$LAB_SERVER4/" || t_fail "no fetch after the devices came and went"

# ---- 4. listener slots ----
PORT2=81 # the last listener of each set: new at every reload, its own server
lab_bg server "$T_DIR/server81.log" python3 "$T_TOP/tests/netns/peer_http.py" $LAB_SERVER4 $PORT2
t_wait 10 eval "lab_exec server ss -Htln 'sport = :$PORT2' | grep -q ." ||
	t_fail "the server on port $PORT2 did not start"
many() { # PREFIX FIRST-PORT [KEEP]: KEEP (or PREFIX0) on port 80, PREFIX255 on port 81
	local i first=${3:-$(t_local "${1}0" $LAB_SERVER4 $PORT)}
	echo "$first"
	for i in $(seq 1 254); do
		echo ", $(t_local "$1$i" $LAB_SERVER4 $(($2 + i)))"
	done
	echo ", $(t_local "${1}255" $LAB_SERVER4 $PORT2)"
}
conf "$(many a 1000 "$(t_local web4 $LAB_SERVER4 $PORT)")"
out=$(t_ctl reload 2>&1) || t_fail "reload to 256 listeners: $out"
h=$(t_stat tc.web4.handoffs)
fetch_ok "http://$LAB_SERVER4/" || t_fail "fetch with 256 listeners"
t_expect "256 listeners: web4 counts on" "$(t_stat tc.web4.handoffs)" -ge $((h + 1))
fetch_ok "http://$LAB_SERVER4:$PORT2/" || t_fail "fetch from a255"
t_expect "a255 hands off" "$(t_stat tc.a255.handoffs)" -ge 1
h=$(t_stat tc.web4.handoffs)
conf "$(many b 2000 "$(t_local web4 $LAB_SERVER4 $PORT)")"
out=$(t_ctl reload 2>&1) || t_fail "reload replacing 255 of 256: $out"
fetch_ok "http://$LAB_SERVER4/" || t_fail "fetch after replacing 255 of 256"
# a fetch may count 2 handoffs (its request's segment can meet the listener too),
# so the counter grows by 1 or 2 when it carries over, and starts at 1 or 2 when not
t_expect "255 of 256 replaced: the kept listener's counters carry over (from $h)" \
	"$(t_stat tc.web4.handoffs)" -ge $((h + 1))
fetch_ok "http://$LAB_SERVER4:$PORT2/" || t_fail "fetch from b255, which replaced a255"
t_expect "b255 hands off, counted from 0" "$(t_stat tc.b255.handoffs)" -ge 1
conf "$(many c 3000)"
out=$(t_ctl reload 2>&1) || t_fail "reload replacing all 256: $out"
fetch_ok "http://$LAB_SERVER4/" || t_fail "fetch after replacing all 256 listeners"
t_expect "all 256 replaced: c0 (port $PORT) hands off" "$(t_stat tc.c0.handoffs)" -ge 1
fetch_ok "http://$LAB_SERVER4:$PORT2/" || t_fail "fetch from c255"
t_expect "all 256 replaced: c255 (port $PORT2) hands off" "$(t_stat tc.c255.handoffs)" -ge 1
grep -E "fast path: listener [^ (]+: " "$T_DIR/synguardd.log" && t_fail "a listener map update failed"
t_stop_daemon
echo "PASS: $T_NAME"
