#!/bin/sh
# Regenerates the attack captures in this directory with sgflood. The output
# is deterministic (fixed seeds; timestamps at the nominal 10,000 packets per
# second), so running this again rewrites identical files.
#
#   tests/lab/captures/regen.sh [BUILD_DIR]      (default: build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
flood=${1:-build}/tests/lab/sgflood
[ -x "$flood" ] || { echo "regen: $flood is not built" >&2; exit 1; }

cap() { # NAME DST KIND COUNT SEED
	"$flood" --pcap "$here/$1.pcap" --dst "$2" --dport 80 --kind "$3" --count "$4" \
		--rate 10000 --seed "$5" --quiet
}
cap syn-v4 192.0.2.1 syn 2000 1
cap syn-v6 2001:db8::1 syn 2000 2
cap ack-v4 192.0.2.1 ack 2000 3
cap mix-v4 192.0.2.1 mix 1000 4
