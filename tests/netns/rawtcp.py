#!/usr/bin/python3
"""A TCP client built from raw sockets, for the namespace tests: it sends each
segment of a handshake when told, so a test can order packets against the
daemon on purpose instead of hoping a race goes one way.

  rawtcp.py syn SERVER PORT CPORT
      sends a SYN (MSS 1460, no other option) from CPORT with a random ISN and
      prints "ISN COOKIE" from the SYN-ACK.
  rawtcp.py ackdata SERVER PORT CPORT ISN COOKIE NBYTES
      sends the handshake ACK and, right behind it, one segment of NBYTES
      (pseudo-random, seeded by CPORT) with the same sequence and ACK numbers;
      prints "sent", then waits for the server to send the same bytes back
      (an echo backend) and prints "echo ok". Ends the connection with a RST.

The client's own kernel knows nothing of the connection and would reset it:
the test drops the kernel's RSTs on the way out (they carry no mark; ours
carry MARK). Every wait is bounded (10 s); exit status 1 on any failure.
"""
import os
import random
import socket
import struct
import sys
import time

MARK = 0x5347
TIMEOUT = 10.0


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Path:
    def __init__(self, server, port, cport):
        self.v6 = ":" in server
        self.fam = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.server, self.port, self.cport = server, port, cport
        # the source address the kernel would pick toward the server
        probe = socket.socket(self.fam, socket.SOCK_DGRAM)
        probe.connect((server, port))
        self.client = probe.getsockname()[0]
        probe.close()
        self.srv = socket.inet_pton(self.fam, server)
        self.cli = socket.inet_pton(self.fam, self.client)
        self.tx = socket.socket(self.fam, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.tx.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
        # receives a copy of every TCP segment: open before anything is sent
        self.rx = socket.socket(self.fam, socket.SOCK_RAW, socket.IPPROTO_TCP)

    def send(self, flags, seq, ack, payload=b"", options=b""):
        off = (20 + len(options)) // 4
        hdr = struct.pack("!HHIIBBHHH", self.cport, self.port, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, off << 4, flags, 65535, 0, 0)
        seg = hdr + options + payload
        if self.v6:
            pseudo = self.cli + self.srv + struct.pack("!I3xB", len(seg), 6)
        else:
            pseudo = self.cli + self.srv + struct.pack("!xBH", 6, len(seg))
        c = csum(pseudo + seg)
        seg = seg[:16] + struct.pack("!H", c) + seg[18:]
        self.tx.sendto(seg, (self.server, 0))

    def recv(self, deadline):
        """The next segment of our connection from the server: (flags, seq, ack, payload)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no segment from the server")
            self.rx.settimeout(left)
            pkt, addr = self.rx.recvfrom(65535)
            if self.v6:
                tcp = pkt  # IPv6 raw sockets deliver the payload only
            else:
                if pkt[12:16] != self.srv:
                    continue
                tcp = pkt[(pkt[0] & 15) * 4:]
            if addr[0] != self.server:
                continue
            sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", tcp[:14])
            if sport != self.port or dport != self.cport:
                continue
            yield flags, seq, ack, tcp[(off >> 4) * 4:]


SYN, RST, PSH, ACK = 0x02, 0x04, 0x08, 0x10


def cmd_syn(p):
    isn = random.getrandbits(32)
    p.send(SYN, isn, 0, options=struct.pack("!BBH", 2, 4, 1460))
    for flags, seq, ack, _ in p.recv(time.monotonic() + TIMEOUT):
        if flags & (SYN | ACK) == SYN | ACK and ack == (isn + 1) & 0xFFFFFFFF:
            print(isn, seq, flush=True)
            return 0
    return 1


def cmd_ackdata(p, isn, cookie, n):
    data = random.Random(p.cport).randbytes(n)
    seq, ack = isn + 1, cookie + 1
    # back to back: both are in the queue before the daemon could act on the first
    p.send(ACK, seq, ack)
    p.send(PSH | ACK, seq, ack, data)
    print("sent", flush=True)
    got = {}
    have = b""
    for flags, sseq, _, payload in p.recv(time.monotonic() + TIMEOUT):
        if flags & RST:
            print("reset by the server", flush=True)
            return 1
        if payload:
            got[(sseq - ack) & 0xFFFFFFFF] = payload
        while len(have) in got:
            have += got.pop(len(have))
        if len(have) >= n:
            break
    p.send(RST | ACK, seq + n, ack + len(have))
    if have[:n] != data:
        print("echo differs: %d bytes back" % len(have), flush=True)
        return 1
    print("echo ok", flush=True)
    return 0


def main(argv):
    if len(argv) < 5 or argv[1] not in ("syn", "ackdata"):
        print(__doc__, file=sys.stderr)
        return 2
    p = Path(argv[2], int(argv[3]), int(argv[4]))
    try:
        if argv[1] == "syn":
            return cmd_syn(p)
        return cmd_ackdata(p, int(argv[5]), int(argv[6]), int(argv[7]))
    except TimeoutError as e:
        print(e, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
