#!/bin/bash
# The nftables ruleset that `synguardd -P` prints, for hosts that use nft
# instead of iptables, is accepted by nft and the kernel (`nft -c`) for
# addressed and wildcard listeners, IPv4 and IPv6, one queue or several,
# fail-open or not. A kernel without the nft queue statement (CONFIG_NFT_QUEUE)
# rejects every queue rule: there the queue statements are checked for their
# number and form and replaced by counters for the kernel's check.
. "$(dirname "$0")/lib.sh" "$@"
. "$(dirname "$0")/policy_common.sh"
t_need nft

lab_up || t_fail "lab up"

# nft_of: the commented ruleset at the end of `synguardd -P`, uncommented
nft_of() {
	"$SYNGUARDD" -P -c "$T_CONF" | sed -n '/^# table inet synguard {/,/^# }/p' | sed 's/^# \{0,1\}//'
}

probe=$T_DIR/probe.nft
printf 'table inet sgprobe {\n\tchain c {\n\t\ttype filter hook input priority 0;\n\t\ttcp dport 1 queue num 0 bypass\n\t}\n}\n' >"$probe"
if lab_exec server nft -c -f "$probe" 2>/dev/null; then has_queue=1; else has_queue=0; fi
echo "kernel has the nft queue statement: $has_queue"

check() { # WHAT LISTENERS QUEUE-STATEMENT [STATEFUL [LOCAL]]: the printed ruleset for this config
	local what=$1 n=$2 want=$3 r=${4:-0} l=${5:-0} rs=$T_DIR/ruleset.nft
	nft_of >"$rs"
	[ -s "$rs" ] || t_fail "$what: no nftables ruleset printed"
	# a local listener's handshake ACKs are the kernel fast path's: its SYNs only
	t_expect "$what: two queue rules per listener, a third (RSTs) for the $r stateful, one for the $l local" \
		"$(grep -c ' queue num ' "$rs")" = $((2 * n + r - l))
	t_expect "$what: a RST rule for each stateful listener" \
		"$(grep -c ' tcp flags & rst == rst meta mark != 0x5348 queue num ' "$rs")" = "$r"
	t_expect "$what: every queue rule reads '$want'" \
		"$(grep ' queue num ' "$rs" | grep -vc -- "$want\$")" = 0
	if [ $has_queue = 0 ]; then
		sed -i 's/queue num [0-9-]*\( bypass\)\{0,1\}$/counter/' "$rs"
	fi
	lab_exec server nft -c -f "$rs" >"$T_DIR/nft.log" 2>&1 ||
		t_fail "$what: nft rejects the ruleset: $(cat "$T_DIR/nft.log")"
	t_ok "$what: nft accepts the ruleset"
}

t_config "$(t_listener web4 $LAB_SERVER4 80 proxy 127.0.0.1:8080),
$(t_listener web6 $LAB_SERVER6 443 pass-fd unix:/run/sg-test.sock)"
check "addressed, one queue, fail-open" 2 "queue num 0 bypass"

T_QUEUES=2:5
t_config "$(t_listener any4 0.0.0.0 80 proxy 127.0.0.1:8080),
$(t_listener any6 :: 8443 proxy 127.0.0.1:8443),
$(t_listener web4 $LAB_SERVER4 25 proxy 127.0.0.1:2525)"
sed -i 's/fail_open = true/fail_open = false/' "$T_CONF"
check "wildcard and addressed, four queues, fail-closed" 3 "queue num 2-5"

# Listeners whose policy keeps half-open entries also queue RSTs that met no socket.
T_QUEUES=0
pc_config "$(pc_listener any4 0.0.0.0 80 proxy 127.0.0.1:8080 st),
$(pc_listener web6 $LAB_SERVER6 443 proxy 127.0.0.1:8443 au),
$(pc_listener web4 $LAB_SERVER4 25 proxy 127.0.0.1:2525 default)" '
	default = { mode = "cookie"; };
	st = { mode = "stateful"; };
	au = { mode = "auto"; };'
check "stateful and auto listeners, one queue" 3 "queue num 0 bypass" 2

# handoff "local": only SYNs are queued, in both the nft and the iptables rules.
printf '%s\n' 'listeners = (' \
	"{ name = \"l4\"; address = \"$LAB_SERVER4\"; port = 80; handoff = \"local\"; }," \
	"{ name = \"l6\"; address = \"$LAB_SERVER6\"; port = 443; handoff = \"local\"; }," \
	"$(t_listener p4 $LAB_SERVER4 81 proxy 127.0.0.1:8080) );" >"$T_DIR/local.listeners"
t_config "$(t_listener p4 $LAB_SERVER4 81 proxy 127.0.0.1:8080)"
sed -i '/^listeners = (/,$d' "$T_CONF"
cat "$T_DIR/local.listeners" >>"$T_CONF"
if "$SYNGUARDD" -P -c "$T_CONF" 2>&1 | grep -q "built without"; then
	echo "PASS: $T_NAME (handoff \"local\" not checked: the fast path is not built)"
	exit 0
fi
check "local and proxy listeners, one queue" 3 "queue num 0 bypass" 0 2
rules=$("$SYNGUARDD" -P -c "$T_CONF" | grep -v '^#')
t_expect "local: one filter rule per local listener (the SYN queue rule, SYNs for a TIME_WAIT left out)" \
	"$(echo "$rules" | grep -E -- '-t filter -A SYNGUARD .*--dport (80|443) ' | grep -c -- '--syn -m mark ! --mark 0x5349 -j NFQUEUE')" = 2
t_expect "local: no ACK queue or socket rule for local listeners" \
	"$(echo "$rules" | grep -E -- '-t filter -A SYNGUARD .*--dport (80|443) ' | grep -vc -- '--syn')" = 0
t_expect "local: notrack both ways for local listeners" \
	"$(echo "$rules" | grep -E -- '-t raw -A SYNGUARD.* --[ds]port (80|443) .*-j CT --notrack' | grep -c .)" = 4
t_expect "proxy listener keeps its four filter rules" \
	"$(echo "$rules" | grep -E -- '-t filter -A SYNGUARD .*--dport 81 ' | grep -c .)" = 4

echo "PASS: $T_NAME"
