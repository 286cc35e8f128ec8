# Shared by the namespace integration tests; source it first:
#   . "$(dirname "$0")/lib.sh" "$@"
# $1 is the build directory. Skips (exit 77) unless root and the daemon is built.
# Every test gets its own namespaces (SGLAB_PREFIX), its own temporary
# directory, and a cleanup trap that stops what it started and removes both.

set -u

T_NAME=$(basename "$0" .sh)
T_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

t_skip() {
	echo "SKIP: $*"
	exit 77
}

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || t_skip "needs root (network namespaces, NFQUEUE, TCP_REPAIR)"
T_BUILD=$(cd "$1" && pwd) || exit 2

SYNGUARDD=$T_BUILD/daemon/synguardd
SYNGUARDCTL=$T_BUILD/daemon/synguardctl
SGFLOOD=$T_BUILD/tests/lab/sgflood
SGBACKEND=$T_BUILD/tests/lab/sgbackend
SGCLIENT=$T_BUILD/tests/lab/sgclient
PY=/usr/bin/python3

[ -x "$SYNGUARDD" ] || t_skip "no synguardd in $T_BUILD"
[ -x "$SYNGUARDCTL" ] || t_skip "no synguardctl in $T_BUILD"

# t_need sgbackend|sgflood...: skip when a lab tool is not built.
t_need() {
	local t
	for t in "$@"; do
		case $t in
		sgbackend) [ -x "$SGBACKEND" ] || t_skip "sgbackend not built" ;;
		sgflood) [ -x "$SGFLOOD" ] || t_skip "sgflood not built" ;;
		sgclient) [ -x "$SGCLIENT" ] || t_skip "sgclient not built" ;;
		*) command -v "$t" >/dev/null || t_skip "$t not installed (tests/deps.sh)" ;;
		esac
	done
}
[ -x $PY ] || t_skip "no $PY (tests/deps.sh installs it)"
command -v iptables-save >/dev/null || t_skip "no iptables (tests/deps.sh installs it)"
command -v ethtool >/dev/null || t_skip "no ethtool (tests/deps.sh installs it; the lab's peers send full checksums)"

# Names distinct per test run, so concurrent runs and a developer's lab coexist.
export SGLAB_PREFIX=sgt$$-${T_NAME}
# shellcheck source=../lab/lab.sh
. "$T_TOP/tests/lab/lab.sh"

# A sanitizer build (CMAKE_BUILD_TYPE=ASan, UBSan or TSan) reports into the
# programs' logs; t_cleanup fails the test on any report, and a daemon that
# exits nonzero fails t_stop_daemon. Leaks are checked at the daemon's exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=66:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=66}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=66}
export TSAN_OPTIONS=${TSAN_OPTIONS:-exitcode=66:second_deadlock_stack=1}
T_SAN_PATTERN='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|LeakSanitizer has encountered a fatal error|WARNING: ThreadSanitizer|ThreadSanitizer: '

T_DIR=$(mktemp -d -t "sgt-$T_NAME.XXXXXX")
T_SOCK=$T_DIR/control.sock
T_CONF=$T_DIR/synguard.conf
T_DAEMON_PID=
T_OK=0

t_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ $rc != 0 ] && [ $rc != 77 ]; then
		if [ -n "$T_DAEMON_PID" ] && kill -0 "$T_DAEMON_PID" 2>/dev/null; then
			echo "---- synguardctl stats at failure"
			t_ctl stats 2>&1 | awk '$2 != 0'
		fi
		for f in "$T_DIR"/*.log; do
			[ -s "$f" ] || continue
			echo "---- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f"
		done
	fi
	lab_cleanup
	# after lab_cleanup: the programs have exited, leak reports are written
	if grep -lE "$T_SAN_PATTERN" "$T_DIR"/*.log >/dev/null 2>&1; then
		for f in $(grep -lE "$T_SAN_PATTERN" "$T_DIR"/*.log); do
			echo "---- sanitizer report in $(basename "$f")"
			grep -E -A40 "$T_SAN_PATTERN" "$f" | head -80
		done
		echo "FAIL: sanitizer report"
		if [ $rc = 0 ] || [ $rc = 77 ]; then rc=1; fi
	fi
	rm -rf "$T_DIR"
	exit $rc
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

t_fail() {
	echo "FAIL: $*"
	exit 1
}

# t_dump_sockets: every TCP socket of the server and the client namespaces, with timers
# and socket ids (for a failure about a connection's state)
t_dump_sockets() {
	echo "---- server sockets"
	lab_exec server ss -tanoe
	echo "---- client sockets"
	lab_exec client ss -tanoe
}

t_ok() {
	echo "ok: $*"
}

# t_wait SECONDS CMD...: polls CMD every 0.1 s until it succeeds; 1 on timeout.
# Wait for the condition itself, never for a fixed time.
t_wait() {
	local secs=$1
	shift
	for _ in $(seq $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# t_queued: packets waiting for a verdict in the server's NFQUEUE queues now.
t_queued() {
	lab_exec server awk '{ n += $3 } END { print n + 0 }' /proc/net/netfilter/nfnetlink_queue
}

# t_stat_ge KEY VALUE: the counter is at least VALUE (for t_wait).
t_stat_ge() {
	[ "$(t_stat "$1")" -ge "$2" ]
}

# t_stat_eq KEY VALUE
t_stat_eq() {
	[ "$(t_stat "$1")" = "$2" ]
}

# t_drained: no packet waits in the server's queues (each was counted before its verdict).
t_drained() {
	[ "$(t_queued)" = 0 ]
}

# t_expect DESCRIPTION TEST-ARGS...: `test` must hold.
t_expect() {
	local what=$1
	shift
	if test "$@"; then
		t_ok "$what"
	else
		t_fail "$what (test $*)"
	fi
}

# t_config LISTENERS: writes the configuration with the given listener
# entries (libconfig text, comma separated) and the test's control socket.
t_config() {
	cat >"$T_CONF" <<EOF
daemon: {
	queue = "${T_QUEUES:-0}";
	firewall = "iptables";
	fail_open = true;
	control_socket = "$T_SOCK";
	cookie_rotation = 30;
	user = "root"; # root's temporary directory; privdrop.sh tests the drop
	${T_DAEMON_EXTRA:-}
};
listeners = (
$1
);
EOF
}

# t_listener NAME ADDRESS PORT HANDOFF BACKEND [PROXY_PROTOCOL]
t_listener() {
	printf '{ name = "%s"; address = "%s"; port = %s; handoff = "%s"; backend = "%s"; proxy_protocol = %s; }' \
		"$1" "$2" "$3" "$4" "$5" "${6:-0}"
}

t_ctl() {
	"$SYNGUARDCTL" -s "$T_SOCK" "$@"
}

# t_stat KEY.PATH: one counter from `stats --json` (e.g. total.handoffs).
t_stat() {
	t_ctl stats --json | lab_json_get "$1"
}

# Starts synguardd in the server namespace and waits until its control socket
# answers and its rules are in.
t_start_daemon() {
	# in the server's namespace: with handoff "local" the check attaches to its devices
	lab_exec server "$SYNGUARDD" -t -c "$T_CONF" >"$T_DIR/conf-check.log" 2>&1 ||
		t_fail "configuration rejected: $(cat "$T_DIR/conf-check.log")"
	lab_bg server "$T_DIR/synguardd.log" "$SYNGUARDD" -v -c "$T_CONF"
	T_DAEMON_PID=$LAB_LAST_PID
	local i
	for i in $(seq 100); do
		kill -0 "$T_DAEMON_PID" 2>/dev/null || t_fail "synguardd exited at start"
		if t_ctl status >/dev/null 2>&1 &&
			lab_exec server iptables-save 2>/dev/null | grep -q NFQUEUE &&
			{ ! grep -q 'address = "[0-9a-f:]*:' "$T_CONF" ||
				lab_exec server ip6tables-save 2>/dev/null | grep -q NFQUEUE; }; then
			return 0
		fi
		sleep 0.1
	done
	t_fail "synguardd did not come up in 10 s"
}

# Stops the daemon with SIGTERM and waits (bounded) for it to exit.
t_stop_daemon() {
	local i st
	kill -TERM "$T_DAEMON_PID" 2>/dev/null
	for i in $(seq 100); do
		if ! kill -0 "$T_DAEMON_PID" 2>/dev/null; then
			wait "$T_DAEMON_PID" 2>/dev/null
			st=$?
			[ $st = 0 ] || t_fail "synguardd exited with status $st after SIGTERM"
			return 0
		fi
		sleep 0.1
	done
	t_fail "synguardd did not exit within 10 s of SIGTERM"
}

# t_backend NAME ARGS...: starts sgbackend in the server namespace.
t_backend() {
	local name=$1
	shift
	lab_bg server "$T_DIR/backend-$name.log" "$SGBACKEND" "$@"
}

# t_client ARGS...: sgclient in the client namespace.
t_client() {
	lab_exec client "$SGCLIENT" "$@"
}

t_curl() {
	lab_exec client curl -sS --max-time 10 "$@"
}
