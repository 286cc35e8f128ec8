#!/bin/sh
# Installs every Debian package that the build, the tests and the lab need.
# Idempotent and non-interactive; run as root.
set -eu

PKGS="build-essential cmake pkg-config clang clang-format
libev-dev libnetfilter-queue-dev libmnl-dev libnfnetlink-dev libconfig-dev
libcmocka-dev libsodium-dev libsystemd-dev libpcap-dev gnuplot-nox libcap-dev
iptables nftables iproute2 ethtool kmod procps psmisc curl socat python3 python3-scapy tcpdump
prometheus groff-base dpkg-dev fakeroot systemd valgrind libclang-rt-14-dev
mmdebstrap systemd-container bpftool libbpf-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	# Only promtool of the prometheus package is used: tell invoke-rc.d not to
	# start any service that these packages bring, unless the admin has a policy.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' >$policy
		chmod 755 $policy
		trap 'rm -f $policy' EXIT
	fi
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
