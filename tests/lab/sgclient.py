#!/usr/bin/python3
"""sgclient: a TCP client for the lab's data tests.

Prints one JSON object on stdout describing what happened; exits 0 when the
exchange went as expected, 1 otherwise (the reason is in "error").

  sgclient.py ADDR PORT send BYTES     stream BYTES of seeded random data, half-close,
                                       read the reply to EOF
  sgclient.py ADDR PORT recv           read to EOF
  sgclient.py ADDR PORT echo BYTES     send BYTES right after connect, half-close
                                       (unless --no-halfclose), read the echo back
                                       and compare
  sgclient.py ADDR PORT hold FILE      connect, wait until FILE exists, close
  sgclient.py ADDR PORT line TEXT      send TEXT, half-close, read the reply to EOF

Digests of the bytes sent and received: sha256, md5, crc32 (hex).
"""

import argparse
import hashlib
import json
import os
import random
import socket
import sys
import time
import zlib

CHUNK = 1 << 20


class Digest:
    def __init__(self):
        self.n = 0
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.crc = 0

    def update(self, b):
        self.n += len(b)
        self.sha256.update(b)
        self.md5.update(b)
        self.crc = zlib.crc32(b, self.crc)

    def out(self):
        return {
            "bytes": self.n,
            "sha256": self.sha256.hexdigest(),
            "md5": self.md5.hexdigest(),
            "crc32": "%08x" % self.crc,
        }


def connect(args):
    fam = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    s.connect((args.addr, args.port))
    return s


def read_all(s, dig, keep=None):
    while True:
        b = s.recv(CHUNK)
        if not b:
            return
        dig.update(b)
        if keep is not None:
            keep.append(b)


def stream(n, seed):
    rng = random.Random(seed)
    while n > 0:
        k = min(n, CHUNK)
        yield rng.randbytes(k)
        n -= k


def main():
    p = argparse.ArgumentParser()
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("mode", choices=["send", "recv", "echo", "hold", "line"])
    p.add_argument("arg", nargs="?")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-halfclose", action="store_true")
    args = p.parse_args()

    res = {"mode": args.mode}
    t0 = time.monotonic()
    try:
        s = connect(args)
        res["local"] = "%s:%d" % s.getsockname()[:2]
        if args.mode == "send":
            sent = Digest()
            for chunk in stream(int(args.arg), args.seed):
                s.sendall(chunk)
                sent.update(chunk)
            s.shutdown(socket.SHUT_WR)
            reply = []
            read_all(s, Digest(), reply)
            res["sent"] = sent.out()
            res["reply"] = b"".join(reply).decode(errors="replace")
        elif args.mode == "recv":
            got = Digest()
            read_all(s, got)
            res["received"] = got.out()
        elif args.mode == "echo":
            n = int(args.arg)
            data = random.Random(args.seed).randbytes(n)
            # no wait between connect() and the first byte: the data races the handshake ACK
            s.sendall(data)
            if not args.no_halfclose:
                s.shutdown(socket.SHUT_WR)
            got = Digest()
            back = []
            if args.no_halfclose:
                while got.n < n:
                    b = s.recv(CHUNK)
                    if not b:
                        break
                    got.update(b)
                    back.append(b)
            else:
                read_all(s, got, back)
            res["sent_bytes"] = n
            res["received"] = got.out()
            res["match"] = b"".join(back) == data
            if not res["match"]:
                res["error"] = "echo differs: sent %d bytes, got %d back" % (n, got.n)
        elif args.mode == "hold":
            deadline = time.monotonic() + args.timeout
            while not os.path.exists(args.arg) and time.monotonic() < deadline:
                time.sleep(0.05)
        elif args.mode == "line":
            s.sendall(args.arg.encode())
            s.shutdown(socket.SHUT_WR)
            reply = []
            read_all(s, Digest(), reply)
            res["reply"] = b"".join(reply).decode(errors="replace")
        s.close()
    except (OSError, ValueError, TypeError) as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    res["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(res))
    return 1 if "error" in res else 0


if __name__ == "__main__":
    sys.exit(main())
