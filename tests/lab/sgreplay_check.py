#!/usr/bin/python3
# Checks what sgreplay --out wrote against the capture it replayed:
#   sgreplay_check.py ORIG.pcap OUT.pcap DST DPORT SRC-PREFIX
# destination and port rewritten, sources inside the prefix and mapped the same
# way within a pass, every other IP/TCP byte (options, payload) kept, and the
# IPv4 header and TCP checksums right (computed here independently).
import ipaddress, struct, sys

def frames(path):
    with open(path, "rb") as f:
        d = f.read()
    assert struct.unpack("<I", d[:4])[0] == 0xa1b2c3d4 and struct.unpack("<I", d[20:24])[0] == 1
    off, out = 24, []
    while off < len(d):
        sec, usec, incl, orig = struct.unpack("<IIII", d[off:off + 16])
        out.append((sec + usec / 1e6, d[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s

def split(fr):
    ip = fr[14:]
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        return 4, ip[:ihl], ip[ihl:tot], ip[12:16], ip[16:20]
    return 6, ip[:40], ip[40:40 + struct.unpack("!H", ip[4:6])[0]], ip[8:24], ip[24:40]

orig, out, dst, dport, prefix = sys.argv[1:6]
a, b = frames(orig), frames(out)
net = ipaddress.ip_network(prefix)
assert len(b) >= len(a) > 0, (len(a), len(b))
seen = {}
for i, (_, fb) in enumerate(b):
    fa = a[i % len(a)][1]
    va, ha, ta, sa, da = split(fa)
    vb, hb, tb, sb, db = split(fb)
    assert va == vb and fb[12:14] == fa[12:14], i
    assert str(ipaddress.ip_address(db)) == dst, (i, ipaddress.ip_address(db))
    assert struct.unpack("!H", tb[2:4])[0] == int(dport), i
    assert ipaddress.ip_address(sb) in net, (i, ipaddress.ip_address(sb))
    assert seen.setdefault((i // len(a), sa), sb) == sb, ("mapping not stable", i)
    # everything but the addresses, the destination port and the checksums is kept
    assert tb[:2] == ta[:2] and tb[4:16] == ta[4:16] and tb[18:] == ta[18:], ("TCP bytes differ", i)
    if va == 4:
        assert hb[:10] == ha[:10] and csum(hb) == 0xffff, ("IPv4 header", i)
        pseudo = sb + db + struct.pack("!BBH", 0, 6, len(tb))
    else:
        assert hb[:8] == ha[:8], ("IPv6 header", i)
        pseudo = sb + db + struct.pack("!IxxxB", len(tb), 6)
    assert csum(pseudo + tb) == 0xffff, ("TCP checksum", i)
passes = (len(b) + len(a) - 1) // len(a)
print("rewrite ok: %d packets in %d passes, %d distinct sources" % (len(b), passes, len(set(seen.values()))))
