# Helpers of the policy_*.sh namespace tests; source after lib.sh.

# pc_listener NAME ADDRESS PORT HANDOFF BACKEND POLICY: one listener entry.
pc_listener() {
	printf '{ name = "%s"; address = "%s"; port = %s; handoff = "%s"; backend = "%s"; policy = "%s"; }' \
		"$1" "$2" "$3" "$4" "$5" "$6"
}

# pc_config LISTENERS POLICIES: the test's configuration with a policies group.
pc_config() {
	t_config "$1"
	printf 'policies = {\n%s\n};\n' "$2" >>"$T_CONF"
}

# pc_wait SECONDS CMD...: polls CMD every 0.1 s until it succeeds; 1 on timeout.
pc_wait() {
	local secs=$1 i
	shift
	for i in $(seq $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# pc_stat_ge KEY VALUE: the counter is at least VALUE.
pc_stat_ge() {
	[ "$(t_stat "$1")" -ge "$2" ]
}

# pc_stat_eq KEY VALUE
pc_stat_eq() {
	[ "$(t_stat "$1")" = "$2" ]
}

# pc_settle KEY: waits until the daemon's queues are drained (each packet is counted before
# its verdict) and then (up to 6 s) until the counter stops moving; prints it.
pc_settle() {
	local prev=-1 cur i
	# in $(...): a failure here shows in the caller's assertions
	t_wait 10 t_drained || echo "pc_settle: the daemon did not drain its queues" >&2
	for i in $(seq 30); do
		cur=$(t_stat "$1")
		[ "$cur" = "$prev" ] && break
		prev=$cur
		sleep 0.2
	done
	echo "$cur"
}

# pc_flood ARGS...: a bounded sgflood run from the attacker toward the server; prints the
# number of packets sent.
pc_flood() {
	local out
	out=$(lab_exec attacker "$SGFLOOD" --iface eth0 --dst-mac "$LAB_MAC_SERVER_ATT" --quiet "$@") ||
		t_fail "sgflood $*: $out"
	echo "$out" | sed -n 's/.* sent \([0-9]*\) packets.*/\1/p'
}

# pc_mode LISTENER: the listener's mode now, from `synguardctl listeners --json`.
pc_mode() {
	t_ctl listeners --json | lab_json_get "$1.mode"
}
