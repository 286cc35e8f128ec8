#!/usr/bin/env python3
"""An unmodified HTTP server for the local handoff tests: it listens on the
protected address and port itself and answers every GET with the peer address
of its accepted socket (getpeername), one line per request in its log too.
GET /bulk/N answers N bytes of bytes(range(256)) repeated (for checksums).
GET /eof answers without Content-Length: the body ends with the server's FIN,
so the server closes first and holds the TIME_WAIT.
Usage: peer_http.py ADDRESS PORT"""
import http.server
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/bulk/"):
            n = int(self.path[6:])
            chunk = bytes(range(256)) * 4096
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:
                self.wfile.write(chunk[: min(n, len(chunk))])
                n -= min(n, len(chunk))
            return
        peer = self.connection.getpeername()
        body = ("client=%s:%d\n" % (peer[0], peer[1])).encode()
        self.send_response(200)
        if self.path != "/eof":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("peer %s port %d" % (peer[0], peer[1]), flush=True)

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    allow_reuse_address = True


Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
