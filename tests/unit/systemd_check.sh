#!/bin/bash
# The systemd unit and sysusers entry: `systemd-analyze verify` finds nothing
# to say, `systemd-analyze security --offline=yes` rates the unit's exposure
# at most 2.0 (the score is printed), RestrictAddressFamilies= allows every
# socket family the daemon opens, and systemd-sysusers creates the user in a
# scratch root. Skips (77) without systemd-analyze.
#   systemd_check.sh SOURCE_DIR SYNGUARDD WORK_DIR
set -u
src=$1 daemon=$2 work=$3
max_exposure=2.0

command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
[ -x "$daemon" ] || { echo "FAIL: $daemon is not built"; exit 1; }

tmp=$(mktemp -d "$work/systemd-check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# verify wants the programs and man pages the unit names: point it at the
# built daemon and the source man pages; the rest of the unit is as shipped.
mkdir -p "$tmp/unit" "$tmp/man/man5" "$tmp/man/man8"
sed -e "s#/usr/sbin/synguardd#$daemon#" -e "s#/usr/bin/synguardctl#${daemon%/*}/synguardctl#" \
	"$src/systemd/synguard.service" >"$tmp/unit/synguard.service"
ln -s "$src/daemon/man/synguardd.8" "$src/daemon/man/synguardctl.8" "$tmp/man/man8/"
ln -s "$src/daemon/man/synguard.conf.5" "$tmp/man/man5/"
export MANPATH=$tmp/man

out=$(systemd-analyze verify "$tmp/unit/synguard.service" 2>&1)
rc=$?
if [ $rc != 0 ] || [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify (exit $rc):"
	echo "$out"
	exit 1
fi
echo "ok: systemd-analyze verify is clean"

out=$(systemd-analyze security --offline=yes "$tmp/unit/synguard.service" 2>&1)
score=$(echo "$out" | sed -n 's/.*Overall exposure level for synguard.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	echo "FAIL: no exposure level in systemd-analyze security output:"
	echo "$out"
	exit 1
fi
echo "$out" | grep '✗'
echo "exposure level: $score (must be at most $max_exposure)"
if ! awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
	echo "FAIL: exposure $score is above $max_exposure"
	exit 1
fi
echo "ok: exposure $score <= $max_exposure"

# AF_UNIX: control socket, pass-fd, sd_notify; AF_INET/AF_INET6: relay, raw
# SYN-ACKs; AF_NETLINK: NFQUEUE; AF_PACKET: layer-2 SYN-ACKs (daemon/tx.c)
families=$(sed -n 's/^RestrictAddressFamilies=//p' "$src/systemd/synguard.service")
for f in AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET; do
	case " $families " in *" $f "*) ;; *)
		echo "FAIL: RestrictAddressFamilies= ($families) lacks $f, which the daemon opens"
		exit 1 ;;
	esac
done
echo "ok: RestrictAddressFamilies= allows $families"

# handoff "local": the drop-in adds exactly CAP_BPF, CAP_PERFMON and bpf(), and
# the unit with it still verifies clean (its exposure is the unit's plus those).
dropin=$src/systemd/local-handoff.conf
mkdir -p "$tmp/unit/synguard.service.d"
cp "$dropin" "$tmp/unit/synguard.service.d/"
out=$(systemd-analyze verify "$tmp/unit/synguard.service" 2>&1)
if [ $? != 0 ] || [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify with the local-handoff drop-in:"
	echo "$out"
	exit 1
fi
settings=$(grep -v '^#' "$dropin" | grep -v '^\[Service\]$' | grep . | sort | tr '\n' ' ')
want='AmbientCapabilities=CAP_BPF CAP_PERFMON CapabilityBoundingSet=CAP_BPF CAP_PERFMON SystemCallFilter=bpf capset '
if [ "$settings" != "$want" ]; then
	echo "FAIL: the local-handoff drop-in sets '$settings', expected exactly '$want'"
	exit 1
fi
out=$(systemd-analyze security --offline=yes "$tmp/unit/synguard.service" 2>&1)
echo "$out" | grep -q 'CapabilityBoundingSet=~CAP_BPF' ||
	{ echo "FAIL: the drop-in did not grant CAP_BPF"; exit 1; }
echo "ok: the local-handoff drop-in verifies and grants only CAP_BPF, CAP_PERFMON, bpf() and capset()"

if [ "$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null; then
	mkdir -p "$tmp/root/etc"
	systemd-sysusers --root="$tmp/root" "$src/systemd/synguard.sysusers" >/dev/null 2>&1 ||
		{ echo "FAIL: systemd-sysusers rejected synguard.sysusers"; exit 1; }
	grep -q '^synguard:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$tmp/root/etc/passwd" ||
		{ echo "FAIL: no synguard user created:"; cat "$tmp/root/etc/passwd"; exit 1; }
	grep -q '^synguard:x:[0-9]*:$' "$tmp/root/etc/group" ||
		{ echo "FAIL: no synguard group created"; exit 1; }
	echo "ok: systemd-sysusers creates user and group synguard"
else
	echo "note: not root or no systemd-sysusers: sysusers entry not exercised"
fi
echo "PASS: systemd unit"
