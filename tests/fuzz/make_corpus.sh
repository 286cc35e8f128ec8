#!/bin/bash
# Regenerates the seed corpora in corpus/ from the repository's fixtures and
# the hostile packet generator. Usage: make_corpus.sh BUILD_DIR
# (BUILD_DIR holds tests/lab/hostile). Fuzzing adds nothing here by itself
# (run.sh writes new inputs into the build directory); an input that found a
# bug is copied in by hand as corpus/TARGET/regress-NAME and kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: make_corpus.sh BUILD_DIR}" && pwd)
c=$here/corpus
# files are written over, never removed: inputs added by hand (regress-* from
# the fuzzers' findings, seeds for new commands) stay
mkdir -p "$c"/{pkt,cookie,conf,proxyproto,control}

# pkt: every packet of the parser fixtures, and one of each hostile case
python3 - "$top/tests/fixtures/pkt" "$c/pkt" <<'PY'
import os, sys
src, dst = sys.argv[1:]
for f in ("parse_ok.txt", "parse_err.txt", "build.txt"):
    for line in open(os.path.join(src, f)):
        if line.startswith("#") or "hex=" not in line:
            continue
        kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
        # of the 200 random build fixtures, ten say it all
        if kv["hex"] in ("", "-") or (kv["name"].startswith("rand") and kv["name"] >= "rand010"):
            continue
        open(os.path.join(dst, "fixture-" + kv["name"]), "wb").write(bytes.fromhex(kv["hex"]))
PY
"$build/tests/lab/hostile" --raw-dir "$c/pkt/hostile" >/dev/null
for f in "$c"/pkt/hostile/*; do mv -f "$f" "$c/pkt/hostile-$(basename "$f")"; done
rmdir "$c/pkt/hostile"

# cookie: the reader takes fields in order; a few fills make distinct starts
python3 - "$c/cookie" <<'PY'
import os, sys
d = sys.argv[1]
for name, b in {"zeros": bytes(120), "ones": b"\xff" * 120,
                "ramp": bytes(range(120)), "v6": b"\x00\x00\x00\x00\xa0" + bytes(range(1, 116)),
                "ts_default_table": bytes(4) + b"\x10" + bytes(range(36)) + b"\x01\x02\x03\x04" * 4
                + b"\x83" + bytes(12) + b"\xb4\x05\x07\x03"}.items():
    open(os.path.join(d, name), "wb").write(b)
PY

# conf: the fixtures and the example configuration
cp "$top"/tests/fixtures/conf/*.conf "$c/conf/"
cp "$top/conf/synguard.conf" "$c/conf/example.conf"
printf 'a = 1 "x";\n' >"$c/conf/libconfig-leak.conf"
printf 'a "";\n' >"$c/conf/libconfig-leak-empty.conf"

# proxyproto: headers of both versions and families, local ones, TLVs
python3 - "$c/proxyproto" <<'PY'
import os, socket, struct, sys
d = sys.argv[1]
sig = b"\r\n\r\n\x00\r\nQUIT\n"
def v2(cmd, fam, body):
    return sig + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) + body
a4 = socket.inet_pton(socket.AF_INET, "198.51.100.7") + socket.inet_pton(socket.AF_INET, "192.0.2.1")
a6 = socket.inet_pton(socket.AF_INET6, "2001:db8::7") + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
ports = struct.pack(">HH", 40000, 80)
seeds = {
    "v1_tcp4": b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 80\r\nGET /",
    "v1_tcp6": b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 80\r\n",
    "v1_unknown": b"PROXY UNKNOWN\r\n",
    "v1_unknown_args": b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
    "v1_partial": b"PROXY TCP4 198.51.100.7 19",
    "v2_tcp4": v2(1, 0x11, a4 + ports) + b"data",
    "v2_tcp6": v2(1, 0x21, a6 + ports),
    "v2_local": v2(0, 0x00, b""),
    "v2_udp4": v2(1, 0x12, a4 + ports),
    "v2_unix": v2(1, 0x31, bytes(216)),
    "v2_tlv": v2(1, 0x11, a4 + ports + b"\x04\x00\x03abc"),
    "not_proxy": b"GET / HTTP/1.0\r\n\r\n",
}
for name, b in seeds.items():
    open(os.path.join(d, name), "wb").write(b)
PY

# control: every command and usage error
i=0
for req in 'stats' 'stats --json' 'status' 'help' 'stats --xml' 'status now' \
	'nosuchcommand' '' ' \t ' 'a b c d e f g h i' 'stats\r' 'help\nstatus' \
	'policy strict' 'policy nosuch'; do
	printf '%b\n' "$req" >"$c/control/req$i"
	i=$((i + 1))
done
printf 'stats' >"$c/control/no-newline"
head -c 300 /dev/zero | tr '\0' 'x' >"$c/control/too-long"
echo "corpus: $(find "$c" -type f | wc -l) files in $c"
