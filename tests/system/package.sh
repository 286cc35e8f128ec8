#!/bin/bash
# The Debian package under a booted systemd, driven as an administrator does.
#   package.sh BUILD_DIR SOURCE_DIR
#
# A Debian 12 root (mmdebstrap, minbase plus systemd, the package's run-time
# dependencies, socat for a backend) is built once and cached in
# BUILD_DIR/system/; the package is built with CPack in BUILD_DIR/system/pkg
# (prefix /usr). The root boots in systemd-nspawn (a tmpfs overlay keeps the
# cache pristine) joined to a network namespace of this test, whose veth leads
# to a client namespace. Inside, apt installs the .deb offline, and:
#  - `systemctl start` returns once the daemon sent READY=1 (rules in, control
#    socket up), `systemctl status` shows its STATUS= line, the journal has its
#    start-up lines;
#  - it runs as user synguard with exactly the unit's capabilities, opens every
#    socket it needs (no warning about a packet socket), and `systemd-analyze
#    security` rates the unit at most 2.0;
#  - curl from the client gets a page through the listener (IPv4 and IPv6),
#    every SYN-ACK leaving at layer 2 (an OUTPUT rule sees none), and the
#    metrics include the NFQUEUE table the unit made readable;
#  - `systemctl reload` applies a changed policy and fails, leaving the
#    service active and the policy as it was, on a broken file;
#  - `kill -STOP` gets the daemon restarted by the watchdog (WatchdogSec
#    lowered to 3 s by a drop-in) within WatchdogSec + RestartSec + 5 s;
#  - `systemctl stop` leaves no firewall rule;
#  - handoff "local" (the kernel fast path, where the package has it): the
#    package ships the drop-in systemd/local-handoff.conf and the man page
#    says where it goes; without it the start fails and the journal says to
#    install it; with it, an unmodified server (socat) on the protected port
#    gets curl's connections through the TC program (tc.* handoffs), the
#    daemon keeps no CAP_BPF or CAP_PERFMON once started, `systemd-analyze
#    security` stays at most 2.0, and a stop leaves no program, link or map;
#  - `apt-get purge` after `systemctl enable` leaves no file but the synguard
#    account.
# Skips (77) unless root with mmdebstrap, systemd-nspawn and cpack; every
# machine, namespace and file it made goes at exit, failed or not.
#   SYNGUARD_DEBIAN_MIRROR=URL  the mirror (default: apt's own Debian source)
set -u

[ $# = 2 ] || { echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2; exit 2; }
skip() {
	echo "SKIP: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (mmdebstrap, systemd-nspawn, namespaces)"
for t in mmdebstrap systemd-nspawn nsenter cpack dpkg-deb curl ip python3; do
	command -v $t >/dev/null || skip "$t not installed (tests/deps.sh)"
done
build=$(cd "$1" && pwd) || exit 2
src=$(cd "$2" && pwd) || exit 2
cache=$build/system
mkdir -p "$cache"

T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
ok() { say "ok: $*"; }
fail() {
	say "FAIL: $*"
	exit 1
}
expect() { # DESCRIPTION TEST-ARGS...
	local what=$1
	shift
	if test "$@"; then ok "$what"; else fail "$what (test $*)"; fi
}

# ---- names, cleanup ----
id=sgsys$$
NS_SRV=$id-srv NS_CLI=$id-cli
VETH_SRV=${id}s VETH_CLI=${id}c
SRV4=192.0.2.1 CLI4=192.0.2.2 SRV6=2001:db8::1 CLI6=2001:db8::2
tmp=$(mktemp -d -t sgsys.XXXXXX)
NSPAWN_PID='' PID1=''

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	if [ -n "$PID1" ] && [ $rc != 0 ] && [ $rc != 77 ]; then
		echo "---- journal of the machine (synguard, last 80 lines)"
		nsenter -t "$PID1" -a journalctl -u synguard --no-pager 2>&1 | tail -n 80
		echo "---- journal of the machine (backend, last 10 lines)"
		nsenter -t "$PID1" -a journalctl -u sgbackend --no-pager 2>&1 | tail -n 10
		echo "---- firewall"
		ip netns exec "$NS_SRV" iptables-save
		ip netns exec "$NS_SRV" ip6tables-save
	fi
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" # nspawn shuts the machine down
		for i in $(seq 100); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$NSPAWN_PID" 2>/dev/null && kill -KILL "$NSPAWN_PID"
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	ip netns del "$NS_CLI" 2>/dev/null
	ip netns del "$NS_SRV" 2>/dev/null
	if [ $rc != 0 ] && [ $rc != 77 ] && [ -s "$tmp/nspawn.log" ]; then
		echo "---- nspawn (last 20 lines)"
		tail -n 20 "$tmp/nspawn.log"
	fi
	rm -rf "$tmp"
	say "done (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# vm, vm_sh: a command, a shell line, inside the machine
vm() { nsenter -t "$PID1" -a "$@"; }
vm_sh() { nsenter -t "$PID1" -a sh -c "$1"; }
journal() { vm journalctl -u synguard --no-pager -o cat "$@"; }
# journal_has PATTERN: the unit's journal holds a matching line (journald writes it a moment
# after the daemon logs it: wait_for this, never read once)
journal_has() { journal | grep -q "$1"; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds
wait_for() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(date +%s%N) / 1000000 + secs * 1000))
	until "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -lt $end ] || fail "$what: not within $secs s"
		sleep 0.1
	done
}

# ---- the package ----
pkg=$cache/pkg
say "building the package in $pkg"
# a release package, whatever the sanitizer flags of the caller's environment
env -u CFLAGS -u LDFLAGS cmake -S "$src" -B "$pkg" -DCMAKE_INSTALL_PREFIX=/usr \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >"$tmp/pkg.log" 2>&1 &&
	env -u CFLAGS -u LDFLAGS cmake --build "$pkg" -j "$(nproc)" >>"$tmp/pkg.log" 2>&1 &&
	rm -f "$pkg"/synguard_*.deb &&
	(cd "$pkg" && cpack -G DEB) >>"$tmp/pkg.log" 2>&1 || {
	tail -n 30 "$tmp/pkg.log"
	fail "package build"
}
deb=$(ls "$pkg"/synguard_*.deb)
ok "package $(basename "$deb")"

# ---- the root: Debian 12, cached ----
# The package's Depends and Recommends are in the root already, so that apt
# installs it offline.
deps=$(dpkg-deb -f "$deb" Depends Recommends | sed 's/^[A-Za-z]*: //' | tr ',|' '\n\n' |
	sed 's/(.*)//; s/:any//; s/[[:space:]]//g' | grep . | paste -sd, -)
include=$(echo "systemd,systemd-sysv,dbus,iproute2,iptables,socat,$deps" | tr , '\n' | sort -u |
	paste -sd, -)
mirror=${SYNGUARD_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	# apt's own Debian source: deb822 "URIs:" or one-line "deb URI bookworm ..."
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -n 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\)[[:space:]].*/\2/p' |
		tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n 1)
	mirror=${mirror:-http://deb.debian.org/debian}
fi
root=$cache/root-bookworm
stamp="bookworm minbase $include"
if [ -d "$root" ] && [ "$(cat "$cache/root-bookworm.stamp" 2>/dev/null)" = "$stamp" ]; then
	ok "Debian root cached: $root"
else
	rm -rf "$root" "$root.new" "$cache/root-bookworm.stamp"
	say "mmdebstrap bookworm from $mirror, with $include"
	mmdebstrap --variant=minbase --include="$include" bookworm "$root.new" \
		"deb $mirror bookworm main" >"$tmp/mmdebstrap.log" 2>&1 || {
		tail -n 30 "$tmp/mmdebstrap.log"
		rm -rf "$root.new"
		fail "mmdebstrap"
	}
	mv "$root.new" "$root"
	echo "$stamp" >"$cache/root-bookworm.stamp"
	ok "Debian root built: $root"
fi

# ---- networks: the machine's namespace and a client's, one veth ----
ip netns add "$NS_SRV" || fail "netns $NS_SRV"
ip netns add "$NS_CLI" || fail "netns $NS_CLI"
ip link add "$VETH_SRV" netns "$NS_SRV" type veth peer name "$VETH_CLI" netns "$NS_CLI" ||
	fail "veth"
for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; done
ip -n "$NS_SRV" addr add $SRV4/24 dev "$VETH_SRV"
ip -n "$NS_SRV" addr add $SRV6/64 dev "$VETH_SRV" nodad
ip -n "$NS_SRV" link set "$VETH_SRV" up
ip -n "$NS_CLI" addr add $CLI4/24 dev "$VETH_CLI"
ip -n "$NS_CLI" addr add $CLI6/64 dev "$VETH_CLI" nodad
ip -n "$NS_CLI" link set "$VETH_CLI" up

# ---- boot ----
mkdir -p /run/systemd/nspawn
# CAP_NET_ADMIN: nspawn drops it in a network namespace it did not make; the
# service needs it (NFQUEUE, TCP_REPAIR, iptables), so its bounding set too.
# CAP_BPF, CAP_PERFMON and bpf(2), which nspawn withholds too: the local
# handoff's load (the unit grants them only with its drop-in).
systemd-nspawn -q -D "$root" --volatile=overlay --boot --console=pipe --register=no \
	--keep-unit --machine="$id" --network-namespace-path="/run/netns/$NS_SRV" \
	--capability=CAP_NET_ADMIN,CAP_BPF,CAP_PERFMON --system-call-filter=bpf \
	--bind-ro="$pkg:/srv/synguard" >"$tmp/nspawn.log" 2>&1 &
NSPAWN_PID=$!
boot_pid1() {
	PID1=$(pgrep -P "$NSPAWN_PID" -x systemd)
	[ -n "$PID1" ]
}
wait_for 30 "the machine's systemd" boot_pid1
state=
for i in $(seq 600); do
	state=$(vm systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.1
done
case $state in
running) ok "booted: systemctl is-system-running = running" ;;
degraded)
	ok "booted: degraded, failed units: $(vm systemctl --failed --plain --no-legend --no-pager | tr '\n' ' ')" ;;
*) fail "the machine did not boot (state: ${state:-none})" ;;
esac

# ---- install ----
files_now() { # every file of the machine's root but the package manager's and the logs'
	vm_sh 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /var/lib/dpkg \
		-o -path /var/lib/apt -o -path /var/cache -o -path /var/log -o -path /srv \) -prune \
		-o -print; find /run -xdev -print' | sort
}
# the backend's answer and program (made before the list, so the purge check
# ignores them): one fixed HTTP answer per connection, then it reads the
# request to the end, so socat never writes to a process that is gone
printf 'HTTP/1.0 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n' |
	vm_sh 'cat >/run/hello.http'
printf '#!/bin/sh\ncat /run/hello.http\nexec cat >/dev/null\n' | vm_sh 'cat >/run/hello.sh'
files_now >"$tmp/files.before"
vm env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/srv/synguard/$(basename "$deb")" \
	>"$tmp/apt.log" 2>&1 || {
	tail -n 30 "$tmp/apt.log"
	fail "apt-get install"
}
ok "apt-get install ./$(basename "$deb") (offline)"
uid=$(vm getent passwd synguard | cut -d: -f3)
[ -n "$uid" ] || fail "no user synguard after install"
expect "installed, not started" "$(vm systemctl is-active synguard)" = inactive
for f in grafana/synguard.json prometheus/synguard-alerts.yml; do
	vm test -s /usr/share/synguard/$f || fail "/usr/share/synguard/$f not installed"
done
ok "dashboard and alert rules in /usr/share/synguard"

# ---- the configuration: the packaged file with an IPv6 listener added ----
vm cat /etc/synguard/synguard.conf >"$tmp/synguard.conf" || fail "no /etc/synguard/synguard.conf"
awk -v srv4=$SRV4 -v srv6=$SRV6 '
/^listeners = \(/ { print; skip = 1
	printf "\t{ name = \"web\"; address = \"%s\"; port = 80; handoff = \"proxy\";\n", srv4
	print "\t  backend = \"127.0.0.1:8080\"; policy = \"default\"; },"
	printf "\t{ name = \"web6\"; address = \"%s\"; port = 80; handoff = \"proxy\";\n", srv6
	print "\t  backend = \"127.0.0.1:8080\"; policy = \"default\"; }"
	next }
skip && /^\);/ { skip = 0 }
!skip' "$tmp/synguard.conf" >"$tmp/good.conf"
put_conf() { vm_sh 'cat >/etc/synguard/synguard.conf' <"$1"; }
put_conf "$tmp/good.conf"
vm synguardd -t -c /etc/synguard/synguard.conf >"$tmp/check.log" 2>&1 ||
	fail "the test's configuration is refused: $(cat "$tmp/check.log")"

# the backend, a unit of its own
vm systemd-run -q --unit=sgbackend socat TCP-LISTEN:8080,bind=127.0.0.1,reuseaddr,fork \
	"EXEC:/bin/sh /run/hello.sh" || fail "backend"
backend_up() { ip netns exec "$NS_SRV" sh -c 'ss -Htln "sport = :8080" | grep -q .'; }
wait_for 10 "backend" backend_up

# ---- start: active only once ready ----
expect "Type=notify" "$(vm systemctl show -P Type synguard)" = notify
vm systemctl start synguard || fail "systemctl start synguard"
# systemctl start returns when the job is done: for Type=notify, at READY=1,
# and the daemon sends it only once its rules are in and its sockets open.
expect "active once systemctl start returns" "$(vm systemctl is-active synguard)" = active
ip netns exec "$NS_SRV" iptables-save | grep -q 'NFQUEUE --queue-num 0' ||
	fail "active before its IPv4 rules were in"
ip netns exec "$NS_SRV" ip6tables-save | grep -q 'NFQUEUE --queue-num 0' ||
	fail "active before its IPv6 rules were in"
vm synguardctl status >/dev/null || fail "active before its control socket answered"
ok "at start's return: rules in (both families), control socket up"
# the watchdog line comes after READY=1, and journald writes a moment after the daemon logs
for l in "privileges: started as uid $uid, capabilities CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW" \
	"firewall rules installed" "synguardd running: 2 listener(s)" "systemd watchdog: 30.0 s"; do
	wait_for 10 "journalctl -u synguard has \"$l\"" journal_has "$l"
done
journal >"$tmp/journal.txt"
ok "journal: start-up lines ($(grep -c . "$tmp/journal.txt") lines)"
if grep -Ei "packet socket|warning|lacks" "$tmp/journal.txt"; then
	fail "warnings at start under the unit"
fi
ok "journal: no warning (a packet socket opened for layer-2 SYN-ACKs)"

# ---- credentials ----
mainpid=$(vm systemctl show -P MainPID synguard)
vm cat "/proc/$mainpid/status" >"$tmp/status" || fail "no /proc/$mainpid/status"
expect "runs as synguard ($uid)" "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "$tmp/status")" = "$uid$uid$uid$uid"
# the capabilities the unit grants, as a mask
cap_bit() {
	case $1 in
	CAP_NET_BIND_SERVICE) echo 10 ;; CAP_NET_BROADCAST) echo 11 ;; CAP_NET_ADMIN) echo 12 ;;
	CAP_NET_RAW) echo 13 ;; CAP_IPC_LOCK) echo 14 ;; CAP_SYS_ADMIN) echo 21 ;;
	CAP_SYS_RESOURCE) echo 24 ;; CAP_PERFMON) echo 38 ;; CAP_BPF) echo 39 ;;
	*) fail "unknown capability $1 in the unit (add it to cap_bit)" ;;
	esac
}
unit_caps=$(vm systemctl show -P AmbientCapabilities synguard)
want=0
for c in $unit_caps; do want=$((want | 1 << $(cap_bit "${c^^}"))); done
want=$(printf '%016x' $want)
for f in CapEff CapPrm CapAmb; do
	expect "$f = the unit's ($unit_caps)" "$(awk -v f="$f:" '$1 == f {print $2}' "$tmp/status")" = "$want"
done
expect "CapBnd = the unit's" "$(awk '$1 == "CapBnd:" {print $2}' "$tmp/status")" = "$want"
expect "NoNewPrivs" "$(awk '$1 == "NoNewPrivs:" {print $2}' "$tmp/status")" = 1
exposure=$(vm systemd-analyze security synguard --no-pager 2>/dev/null |
	sed -n 's/.*Overall exposure level for synguard.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security: no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "systemd-analyze security: $exposure > 2.0"
ok "systemd-analyze security on the booted system: $exposure"

# ---- a real connection, SYN-ACKs at layer 2 ----
for ipt in iptables ip6tables; do # counts SYN-ACKs that take the routed path (OUTPUT)
	ip netns exec "$NS_SRV" $ipt -A OUTPUT -p tcp --sport 80 --tcp-flags SYN,ACK SYN,ACK ||
		fail "$ipt OUTPUT counter"
done
N=3
for target in $SRV4 "[$SRV6]"; do
	for i in $(seq $N); do
		body=$(ip netns exec "$NS_CLI" curl -sS --max-time 10 "http://$target/") ||
			fail "curl http://$target/ ($i)"
		expect "curl http://$target/ ($i) through the listener" "$body" = hello
	done
done
stat() { vm synguardctl stats --json | tr -d ' \n' | sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"; }
expect "handoffs: web" "$(stat web handoffs)" = $N
expect "handoffs: web6" "$(stat web6 handoffs)" = $N
expect "SYN-ACKs sent by the daemon" "$(stat total synack_sent)" -ge $((2 * N))
routed=0
for ipt in iptables ip6tables; do
	routed=$((routed + $(ip netns exec "$NS_SRV" $ipt -nvxL OUTPUT |
		awk '/spt:80/ {s += $1} END {print s + 0}')))
done
expect "every SYN-ACK at layer 2 (none through OUTPUT)" $routed = 0
ip netns exec "$NS_SRV" curl -sS --max-time 5 http://127.0.0.1:9477/metrics >"$tmp/metrics.txt" ||
	fail "metrics"
grep -q '^synguard_handoffs_total{listener="web"} '$N'$' "$tmp/metrics.txt" ||
	fail "metrics: handoffs of web: $(grep '^synguard_handoffs_total' "$tmp/metrics.txt")"
grep -q '^synguard_nfqueue_length{queue="0"} ' "$tmp/metrics.txt" ||
	fail "metrics: no NFQUEUE table (ExecStartPre's chgrp)"
ok "metrics: handoffs and the NFQUEUE table"

# ---- STATUS= ----
status_line() { vm systemctl show -P StatusText synguard | grep -q "^mode cookie; .*; $((2 * N)) handoffs in all$"; }
wait_for 15 "STATUS= line with the handoffs" status_line
vm systemctl status synguard --no-pager >"$tmp/status.txt" 2>&1
grep -q "Status: \"mode cookie; .*$((2 * N)) handoffs in all\"" "$tmp/status.txt" ||
	fail "systemctl status shows no STATUS= line: $(cat "$tmp/status.txt")"
ok "systemctl status: $(grep -o 'Status: .*' "$tmp/status.txt")"

# ---- reload ----
policy_key() { vm synguardctl policy default 2>/dev/null | sed -n "s/^[[:space:]]*$1 = \(.*\);$/\1/p"; }
expect "policy before reload" "$(policy_key syn_rate_trigger)" = 20000
sed 's/syn_rate_trigger = 20000;/syn_rate_trigger = 12345;/' "$tmp/good.conf" >"$tmp/changed.conf"
cmp -s "$tmp/good.conf" "$tmp/changed.conf" && fail "the packaged policy has no syn_rate_trigger = 20000"
put_conf "$tmp/changed.conf"
vm systemctl reload synguard || fail "systemctl reload: $(journal -n 5)"
# ExecReload waits for the daemon's answer: the policy is in when reload returns
expect "systemctl reload applied the policy" "$(policy_key syn_rate_trigger)" = 12345
pid_before=$(vm systemctl show -P MainPID synguard)
printf 'daemon: { queue = "0" \nlisteners = (;\n' >"$tmp/broken.conf"
put_conf "$tmp/broken.conf"
if vm systemctl reload synguard >"$tmp/reload.out" 2>&1; then
	fail "systemctl reload of a broken file succeeded"
fi
ok "systemctl reload of a broken file fails"
expect "still active" "$(vm systemctl is-active synguard)" = active
expect "same process" "$(vm systemctl show -P MainPID synguard)" = "$pid_before"
expect "policy kept" "$(policy_key syn_rate_trigger)" = 12345
wait_for 10 "the refusal in the journal" journal_has "control reload: error: .*synguard.conf"
ok "journal: $(journal -n 20 | grep 'control reload: ' | tail -n 1)"
put_conf "$tmp/changed.conf"
body=$(ip netns exec "$NS_CLI" curl -sS --max-time 10 "http://$SRV4/") || fail "curl after reloads"
expect "curl after the reloads" "$body" = hello

# ---- watchdog ----
vm mkdir -p /run/systemd/system/synguard.service.d
printf '[Service]\nWatchdogSec=3s\n' | vm_sh 'cat >/run/systemd/system/synguard.service.d/test-watchdog.conf'
vm systemctl daemon-reload
vm systemctl restart synguard || fail "restart with WatchdogSec=3s"
wait_for 10 "the watchdog drop-in applied" journal_has "systemd watchdog: 3.0 s, pinging every 1.5 s"
stopped=$(vm systemctl show -P MainPID synguard)
restarts=$(vm systemctl show -P NRestarts synguard)
vm_sh "kill -STOP $stopped"
t_stop=$(date +%s%N)
restarted() {
	local p
	p=$(vm systemctl show -P MainPID synguard)
	[ "$p" != 0 ] && [ "$p" != "$stopped" ] && [ "$(vm systemctl is-active synguard)" = active ]
}
# WatchdogSec 3 s + RestartSec 2 s + 5 s margin
wait_for 10 "restart by the watchdog" restarted
took=$((($(date +%s%N) - t_stop) / 1000000))
expect "one restart" "$(vm systemctl show -P NRestarts synguard)" = $((restarts + 1))
journal | grep -q "Failed with result 'watchdog'" ||
	vm journalctl --no-pager -u synguard | grep -q "Failed with result 'watchdog'" ||
	fail "no watchdog failure in the journal"
ok "watchdog: stopped daemon replaced after $took ms"
body=$(ip netns exec "$NS_CLI" curl -sS --max-time 10 "http://$SRV4/") || fail "curl after restart"
expect "curl after the watchdog's restart" "$body" = hello
vm rm -r /run/systemd/system/synguard.service.d
vm systemctl daemon-reload

# ---- stop ----
vm systemctl stop synguard || fail "systemctl stop"
expect "inactive" "$(vm systemctl is-active synguard)" = inactive
left=$(ip netns exec "$NS_SRV" iptables-save; ip netns exec "$NS_SRV" ip6tables-save)
echo "$left" | grep -q SYNGUARD && fail "rules left after stop: $(echo "$left" | grep SYNGUARD)"
echo "$left" | grep -q NFQUEUE && fail "NFQUEUE rules left after stop"
ok "systemctl stop: no SYNGUARD chain, no NFQUEUE rule"

# ---- handoff "local": the kernel fast path under the unit and its drop-in ----
dropin_src=/usr/share/synguard/systemd/local-handoff.conf
dropin_dir=/etc/systemd/system/synguard.service.d
vm test -s $dropin_src || fail "the package does not ship $dropin_src"
man5=$(vm sh -c 'zcat /usr/share/man/man5/synguard.conf.5.gz 2>/dev/null || cat /usr/share/man/man5/synguard.conf.5 2>/dev/null' | tr -d '\\')
[ -n "$man5" ] || man5=$(tr -d '\\' <"$src/daemon/man/synguard.conf.5") # minbase may drop man pages
echo "$man5" | grep -q "$dropin_dir/local-handoff.conf" ||
	fail "synguard.conf(5) does not say where the drop-in goes"
vm grep -q "$dropin_dir/local-handoff.conf" $dropin_src || fail "the drop-in does not say where it goes"
ok "the package ships $dropin_src; it and synguard.conf(5) say where it goes"
LPORT=81
awk -v srv4=$SRV4 -v port=$LPORT '
{ print }
/^listeners = \(/ {
	printf "\t{ name = \"direct\"; address = \"%s\"; port = %d; handoff = \"local\"; },\n", srv4, port }
' "$tmp/changed.conf" >"$tmp/local.conf"
put_conf "$tmp/local.conf"
if vm synguardd -t -c /etc/synguard/synguard.conf 2>&1 | grep -q "built without"; then
	ok "handoff local: this package is built without the fast path, not tested"
else
	# the unmodified server: listens on the protected address and port itself
	vm systemd-run -q --unit=sglocal socat TCP-LISTEN:$LPORT,bind=$SRV4,reuseaddr,fork \
		"EXEC:/bin/sh /run/hello.sh" || fail "the local server"
	local_up() { ip netns exec "$NS_SRV" sh -c "ss -Htln 'sport = :$LPORT' | grep -q ."; }
	wait_for 10 "the local server" local_up
	vm synguardd -t -c /etc/synguard/synguard.conf >"$tmp/check-local.log" 2>&1 ||
		fail "synguardd -t with a local listener: $(cat "$tmp/check-local.log")"
	ok "synguardd -t: $(grep -c '^fast path:' "$tmp/check-local.log") fast path lines, configuration OK"

	# without the drop-in: refused at start, and the journal says what to install
	vm systemctl reset-failed synguard >/dev/null 2>&1
	if vm systemctl start synguard >/dev/null 2>&1; then
		fail "started with a local listener without the drop-in"
	fi
	vm systemctl stop synguard >/dev/null 2>&1 # no restart loop from here on
	vm systemctl reset-failed synguard >/dev/null 2>&1
	wait_for 10 "a clear message without the drop-in" \
		journal_has 'fast path (handoff "local"): loading the BPF program: .*local-handoff.conf'
	journal -n 30 >"$tmp/journal-nodropin.txt"
	ok "without the drop-in: $(grep -o 'fast path (handoff "local"): .*' "$tmp/journal-nodropin.txt" | tail -n 1)"
	left=$(ip netns exec "$NS_SRV" iptables-save | grep -c SYNGUARD)
	expect "the failed start left no rule" "$left" = 0

	security_items() { # the checks systemd-analyze security fails, one per line
		vm systemd-analyze security synguard --no-pager 2>/dev/null | grep '✗' |
			sed 's/[[:space:]]\{2,\}/ /g; s/^ *//'
	}
	security_items | sort >"$tmp/security-without"
	vm mkdir -p $dropin_dir
	vm cp $dropin_src $dropin_dir/local-handoff.conf
	vm systemctl daemon-reload
	vm systemctl start synguard || fail "systemctl start with the drop-in: $(journal -n 10)"
	expect "active with the drop-in" "$(vm systemctl is-active synguard)" = active
	inv=$(vm systemctl show -P InvocationID synguard)
	wait_for 10 "the attach line in the journal" \
		eval 'journal _SYSTEMD_INVOCATION_ID="$inv" | grep -q "fast path: TC ingress program attached to"'
	journal _SYSTEMD_INVOCATION_ID="$inv" >"$tmp/journal-local.txt"
	if grep -Ei "warning|more than needed|libbpf" "$tmp/journal-local.txt"; then
		fail "warnings at start with the drop-in"
	fi
	ok "journal: the program attached, no warning"
	mainpid=$(vm systemctl show -P MainPID synguard)
	vm cat "/proc/$mainpid/status" >"$tmp/status-local"
	# once started: the unit's three capabilities, CAP_BPF and CAP_PERFMON dropped
	base=$(printf '%016x' $(((1 << 10) | (1 << 12) | (1 << 13))))
	for f in CapEff CapPrm CapAmb; do
		expect "$f after start: no CAP_BPF, CAP_PERFMON" \
			"$(awk -v f="$f:" '$1 == f {print $2}' "$tmp/status-local")" = "$base"
	done
	# what the drop-in changes in the rating
	exposure=$(vm systemd-analyze security synguard --no-pager 2>/dev/null |
		sed -n 's/.*Overall exposure level for synguard.service: \([0-9.]*\).*/\1/p')
	[ -n "$exposure" ] || fail "systemd-analyze security: no exposure level"
	security_items | sort >"$tmp/security-with"
	# The drop-in must add exactly what the load needs, nothing else: CAP_BPF in the
	# bounding set (CAP_PERFMON has no check of its own) and bpf() from @privileged
	# (capset, the other one it allows back, is in @privileged too). Each costs
	# exposure (0.1 and 0.2 in systemd 252's weights): 2.0 becomes 2.1.
	added=$(comm -13 "$tmp/security-without" "$tmp/security-with")
	echo "systemd-analyze security: what the drop-in adds:"
	echo "$added"
	unexpected=$(echo "$added" | grep -v '^$' |
		grep -Ev '^✗ (CapabilityBoundingSet=~CAP_BPF|SystemCallFilter=~@privileged) ')
	[ -z "$unexpected" ] || fail "the drop-in weakens more than the load needs: $unexpected"
	expect "the drop-in adds CAP_BPF in the bounding set" "$(echo "$added" | grep -c 'CAP_BPF')" = 1
	expect "the drop-in allows bpf() out of @privileged" "$(echo "$added" | grep -c '@privileged')" = 1
	awk -v e="$exposure" 'BEGIN { exit !(e <= 2.1) }' ||
		fail "systemd-analyze security with the drop-in: $exposure > 2.1"
	ok "systemd-analyze security with the drop-in: $exposure (2.0 and the two above at most)"

	# curl from outside, through the veth: the TC program hands the server its connections
	tcstat() { vm synguardctl stats --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"; }
	h0=$(tcstat tc.direct.handoffs) || fail "no tc.direct.handoffs in stats --json"
	for i in $(seq $N); do
		body=$(ip netns exec "$NS_CLI" curl -sS --max-time 10 "http://$SRV4:$LPORT/") ||
			fail "curl http://$SRV4:$LPORT/ ($i)"
		expect "curl through the local handoff ($i)" "$body" = hello
	done
	h=$(tcstat tc.direct.handoffs)
	expect "tc.direct.handoffs grew by at least $N ($h0 -> $h)" "$h" -ge $((h0 + N))
	expect "no ACK of the local listener reached the queue" "$(tcstat listeners.direct.handoffs)" = "$h"

	# a stop takes the programs, links and maps along
	ids() { vm_sh "grep -h '^$1:' /proc/$mainpid/fdinfo/* 2>/dev/null" | awk '{print $2}' | sort -u; }
	links=$(ids link_id) progs=$(ids prog_id) maps=$(ids map_id)
	[ -n "$links" ] && [ -n "$progs" ] || fail "the daemon holds no link or program"
	vm systemctl stop synguard || fail "systemctl stop (local)"
	gone() {
		local i
		for i in $links; do bpftool link show id "$i" >/dev/null 2>&1 && return 1; done
		for i in $progs; do bpftool prog show id "$i" >/dev/null 2>&1 && return 1; done
		for i in $maps; do bpftool map show id "$i" >/dev/null 2>&1 && return 1; done
		return 0
	}
	if command -v bpftool >/dev/null; then
		wait_for 10 "links, programs and maps gone after stop" gone
		ok "systemctl stop: links $(echo $links), programs $(echo $progs) and $(echo "$maps" | grep -c .) maps gone"
	else
		ok "systemctl stop: (no bpftool on this host: the ids were not checked)"
	fi
	vm rm -r $dropin_dir
	vm systemctl daemon-reload
fi
vm systemctl stop sglocal 2>/dev/null
put_conf "$tmp/changed.conf"

# ---- enable, purge ----
vm systemctl enable synguard >/dev/null 2>&1 || fail "systemctl enable"
vm test -L /etc/systemd/system/multi-user.target.wants/synguard.service || fail "enable made no link"
vm systemctl stop sgbackend
vm env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q synguard >"$tmp/purge.log" 2>&1 || {
	tail -n 20 "$tmp/purge.log"
	fail "apt-get purge"
}
vm systemctl reset-failed >/dev/null 2>&1
files_now >"$tmp/files.after"
# Kept by policy: the synguard account (its passwd, group and shadow entries
# and the tools' backups of those files); the machine's own journal.
kept='^/etc/(passwd|group|shadow|gshadow)-$|^/var/lib/systemd/|^/run/(systemd|log|user|lock|udev|dbus)(/|$)'
new=$(comm -13 "$tmp/files.before" "$tmp/files.after" | grep -Ev "$kept")
[ -z "$new" ] || fail "left after purge: $new"
kept_files=$(comm -13 "$tmp/files.before" "$tmp/files.after" | grep -E "$kept" | grep -v '^/run' |
	paste -sd' ' -)
ok "apt-get purge: nothing left but the account ($(vm getent passwd synguard | cut -d: -f1,3));" \
	"new files the policy keeps: ${kept_files:-none}"
echo "PASS: system package test in $(($(date +%s) - T0)) s"
