#!/bin/bash
# Smoke run of the comparative benchmark (tests/lab/bench.sh, scenario
# "smoke"): a SYN-flood capture replayed by sgreplay while sgload opens
# legitimate connections through synguard. At least 95% of the legitimate
# connections started during the flood must succeed, synguard must answer the
# flood, the report (JSON, table, chart) must be written, all within 60 s.
# First, sgreplay's rewriting is checked offline (sgreplay --out,
# sgreplay_check.py): addresses and port rewritten, checksums right, the rest
# of every packet kept.
# Then, where the BPF parts are built, the XDP generator and sink (not timed):
# an IPv6 SYN flood and an IPv4 ACK flood from sgflood --xdp (GENERATOR=xdp)
# against the generator-only phase and synguard-xdp. The XDP program answers
# a SYN only when both its checksums verify (or passes it, counted), so SYNs
# answered with none passed prove the generator's frames right; the SYN-ACKs
# must reach sgxdpsink's count at the attacker, and the ACKs must be dropped as
# invalid. A veth drops frames when its ring is full and its softirq is late
# (a busy machine): 90% of what was sent is required, not all.
prefix_in=${SGLAB_PREFIX:-}
. "$(dirname "$0")/lib.sh" "$@"
t_need sgbackend sgflood
SGREPLAY=$T_BUILD/tests/lab/sgreplay
SGLOAD=$T_BUILD/tests/lab/sgload
[ -x "$SGREPLAY" ] || t_skip "sgreplay not built"
[ -x "$SGLOAD" ] || t_skip "sgload not built"
LAB=$T_TOP/tests/lab
CAP=$LAB/captures
start=$(date +%s)

# ---- sgreplay rewriting, offline
"$SGREPLAY" --quiet --dst 203.0.113.7 --dport 8443 --src4 198.19.0.0/16 --pps 50000 \
	--out "$T_DIR/mix.pcap" "$CAP/mix-v4.pcap" || t_fail "sgreplay --out (mix-v4)"
$PY "$LAB/sgreplay_check.py" "$CAP/mix-v4.pcap" "$T_DIR/mix.pcap" 203.0.113.7 8443 198.19.0.0/16 ||
	t_fail "sgreplay rewrote mix-v4 wrongly"
"$SGREPLAY" --quiet --dst 2001:db8:5::7 --dst 192.0.2.1 --speed 4 --loop --count 5000 \
	--out "$T_DIR/syn6.pcap" "$CAP/syn-v6.pcap" || t_fail "sgreplay --out (syn-v6)"
$PY "$LAB/sgreplay_check.py" "$CAP/syn-v6.pcap" "$T_DIR/syn6.pcap" 2001:db8:5::7 80 2001:db8:ffff::/48 ||
	t_fail "sgreplay rewrote syn-v6 wrongly"
# --filter: only the SYNs of the mixed capture, counted here independently
n=$("$SGREPLAY" --quiet --dst 192.0.2.1 --filter 'tcp[tcpflags] & tcp-syn != 0' \
	--out "$T_DIR/syns.pcap" "$CAP/mix-v4.pcap" | sed -n 's/.* wrote \([0-9]*\) packets.*/\1/p')
want=$($PY -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
off, n = 24, 0
while off < len(d):
    incl = struct.unpack("<I", d[off + 8:off + 12])[0]
    f = d[off + 16:off + 16 + incl]
    n += f[14 + (f[14] & 15) * 4 + 13] & 2 != 0
    off += 16 + incl
print(n)' "$CAP/mix-v4.pcap")
t_expect "sgreplay --filter kept exactly the $want SYNs of the mixed capture" "${n:-0}" = "$want"
"$SGREPLAY" --quiet --dst 8.8.8.8 --out "$T_DIR/x.pcap" "$CAP/syn-v4.pcap" 2>/dev/null &&
	t_fail "sgreplay accepted a destination outside the documentation ranges"
"$SGREPLAY" --quiet --dst 192.0.2.1 --loop --iface lo --dst-mac 02:00:00:00:00:01 \
	"$CAP/syn-v4.pcap" 2>/dev/null && t_fail "sgreplay accepted an unbounded --loop"
t_ok "sgreplay rewrites addresses and checksums and refuses unsafe runs"

# ---- the benchmark, synguard only
SGLAB_PREFIX=${prefix_in:-$SGLAB_PREFIX} "$LAB/bench.sh" --no-deps --no-build \
	--build-dir "$T_BUILD" --scenario smoke --out "$T_DIR/bench" >"$T_DIR/bench.log" 2>&1 ||
	{ cat "$T_DIR/bench.log"; t_fail "bench.sh failed"; }
cat "$T_DIR/bench.log"
elapsed=$(($(date +%s) - start))
R=$T_DIR/bench/results.json
[ -s "$R" ] || t_fail "no results.json"
[ -s "$T_DIR/bench/table.txt" ] || t_fail "no table.txt"
get() { lab_json_get "$1" <"$R"; }
# res DIR DEFENSE KEY.PATH: a figure of DIR/results.json
res() { $PY -c '
import json, sys
r = [x for x in json.load(open(sys.argv[1]))["results"] if x["defense"] == sys.argv[2]][0]
for k in sys.argv[3].split("."):
    r = r[k]
print(r if not isinstance(r, float) else int(r))' "$1/results.json" "$2" "$3"; }
sg() { res "$T_DIR/bench" synguard "$1"; }

rate=$(get scenario.RATE)
dur=$(get scenario.DURATION)
cps=$(get scenario.LEGIT_CPS)
attempts=$(sg legit.attempts)
ok=$(sg legit.ok)
sent=$(sg flood.sent)
synacks=$(sg synack_per_s)
echo "synguard: $ok of $attempts legitimate connections during the flood; flood $sent packets; $synacks SYN-ACK/s"
t_expect "the legitimate load ran during the flood (>= 80% of the planned connections)" \
	"$attempts" -ge $((cps * dur * 8 / 10))
t_expect "at least 95% of the legitimate connections succeeded" $((ok * 100)) -ge $((attempts * 95))
t_expect "the flood was sent (>= 50% of RATE x DURATION)" "$sent" -ge $((rate * dur / 2))
t_expect "synguard answered the flood (>= 50% of RATE SYN-ACKs/s at the attacker)" \
	"$synacks" -ge $((rate / 2))
if command -v gnuplot >/dev/null; then
	t_expect "the chart was drawn" -s "$T_DIR/bench/chart.png"
fi
t_expect "the smoke run took under 60 s ($elapsed s)" "$elapsed" -lt 60

# ---- the XDP generator and sink
for b in sgxdppass sgxdpdrop sgxdpsink; do
	[ -x "$T_BUILD/tests/lab/$b" ] || { echo "PASS: $T_NAME (no XDP part: $b not built)"; exit 0; }
done
"$T_BUILD/tests/lab/sgflood" --xdp --dst 192.0.2.1 --dport 80 --count 1 --pcap /dev/null 2>/dev/null &&
	t_fail "sgflood accepted --xdp with --pcap"
"$T_BUILD/tests/lab/sgflood" --xdp --dst 192.0.2.1 --dport 80 --count 1 --rate 10 --iface lo \
	--dst-mac 02:00:00:00:00:01 2>/dev/null && t_fail "sgflood accepted --xdp with --rate"
# xdp_phase NAME FAMILY ATTACK: the scenario, run; its results.json in $T_DIR/NAME
xdp_phase() {
	cat >"$T_DIR/$1.conf" <<-EOF
		NAME=$1
		FAMILY=$2
		ATTACK=$3
		GENERATOR=xdp
		RATE=100000
		DURATION=2
		PRE=2
		POST=1
		LEGIT_CPS=50
		LEGIT_REQUESTS=1
		DEFENSES="generator synguard-xdp"
	EOF
	SGLAB_PREFIX=${prefix_in:-$SGLAB_PREFIX} "$LAB/bench.sh" --no-deps --no-build \
		--build-dir "$T_BUILD" --scenario "$T_DIR/$1.conf" --out "$T_DIR/$1" >"$T_DIR/$1.log" 2>&1 ||
		{ cat "$T_DIR/$1.log"; t_fail "bench.sh ($1) failed"; }
	cat "$T_DIR/$1.log"
}

xdp_phase xdp-syn6 6 syn
gsent=$(res "$T_DIR/xdp-syn6" generator flood.sent)
sent=$(res "$T_DIR/xdp-syn6" synguard-xdp flood.sent)
synacks=$(res "$T_DIR/xdp-syn6" synguard-xdp synacks)
grep -q "XDP)" "$T_DIR/xdp-syn6/synguard-xdp/flood.log" || t_fail "the flood was not sgflood --xdp's"
t_expect "the XDP generator sent its bound (200,000) in the generator-only phase" "$gsent" = 200000
t_expect "the XDP generator sent under synguard-xdp" "$sent" -gt 0
t_expect "sgxdpsink counted no more SYN-ACKs than SYNs sent ($synacks of $sent)" "$synacks" -le "$sent"
t_expect "the XDP generator's SYNs were answered in XDP and counted by sgxdpsink ($synacks of $sent)" \
	$((synacks * 10)) -ge $((sent * 9))
t_expect "no SYN of the XDP generator failed a checksum or went on to the NFQUEUE path" \
	"$(res "$T_DIR/xdp-syn6" synguard-xdp xdp.passed_csum)+$(res "$T_DIR/xdp-syn6" synguard-xdp xdp.syn_passed)" = 0+0
t_expect "the generator-only phase answered none" "$(res "$T_DIR/xdp-syn6" generator synacks)" = 0
t_expect "legitimate IPv6 connections got through" "$(res "$T_DIR/xdp-syn6" synguard-xdp legit.ok)" -ge 1

xdp_phase xdp-ack4 4 ack
sent=$(res "$T_DIR/xdp-ack4" synguard-xdp flood.sent)
bad=$(res "$T_DIR/xdp-ack4" synguard-xdp invalid_acks_dropped)
t_expect "the XDP generator's ACKs were dropped as invalid ($bad of $sent)" $((bad * 10)) -ge $((sent * 9))
t_expect "legitimate IPv4 connections got through" "$(res "$T_DIR/xdp-ack4" synguard-xdp legit.ok)" -ge 1
t_ok "sgflood --xdp sends valid IPv6 SYNs and IPv4 ACKs; sgxdpsink counts every answer"
echo "PASS: $T_NAME"
