#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Traffic peer for the end-to-end tests, run inside a test's network namespace.

Subcommands (every one exits non-zero on failure, with the reason on stderr):
  serve PORT NAME            HTTP on TCP PORT (GET answers "microseg-e2e NAME"), UDP echo on
                             PORT ("COUNT?" answers "<datagrams> <bytes>" seen by the sink),
                             UDP sink on PORT+1 that counts and never answers. Dual stack.
                             Prints "ready" once every socket is bound.
  udp-ping ADDR PORT         one datagram to an echo port, waits for the echo
  udp-send ADDR PORT N SIZE  N datagrams of SIZE payload bytes
  udp-count ADDR PORT        asks an echo port for its sink's counts, prints "<n> <bytes>"
  tcp-sink PORT              accepts one connection, prints "ready" first and the number of
                             bytes received at EOF
  tcp-source ADDR PORT SECONDS CHUNK INTERVAL_MS
                             connects, writes CHUNK bytes every INTERVAL_MS for SECONDS, prints
                             the number of bytes written
  ipcache-get PIN ADDR       exact /32 or /128 entry of a pinned ipcache map (bpftool dump):
                             prints "<identity> <ifindex> <ep_id> <flags>" or "none"
  endpoint-get PIN IFINDEX   entry of a pinned endpoints map: "<ep_id> <identity> <flags>" or
                             "none"
  config-flags PIN           the flags word of a pinned ms_config map (struct ms_config)
"""
import http.server
import ipaddress
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time


def die(msg):
    sys.stderr.write("peer: %s\n" % msg)
    sys.exit(1)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def dual_stack(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s


def serve(port, name):
    body = ("microseg-e2e %s\n" % name).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    httpd = Server(("::", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    echo = dual_stack(socket.SOCK_DGRAM, port)
    sink = dual_stack(socket.SOCK_DGRAM, port + 1)
    count = [0, 0]
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([echo, sink], [], [])
        for s in ready:
            data, peer = s.recvfrom(65535)
            if s is sink:
                count[0] += 1
                count[1] += len(data)
            elif data == b"COUNT?":
                s.sendto(b"%d %d" % (count[0], count[1]), peer)
            else:
                s.sendto(b"echo:" + data, peer)


def udp_request(addr, port, payload, timeout=3.0):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(payload, (addr, port))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        die("no UDP answer from %s port %d within %.1fs" % (addr, port, timeout))
    return data


def udp_ping(addr, port):
    token = b"ping-%d-%d" % (os.getpid(), time.monotonic_ns())
    data = udp_request(addr, port, token)
    if data != b"echo:" + token:
        die("unexpected UDP answer %r" % data)


def udp_send(addr, port, n, size):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    payload = b"x" * size
    for _ in range(n):
        s.sendto(payload, (addr, port))


def tcp_sink(port):
    srv = dual_stack(socket.SOCK_STREAM, port)
    srv.listen(1)
    srv.settimeout(30)
    print("ready", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(30)
    total = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        total += len(data)
    print(total, flush=True)


def tcp_source(addr, port, seconds, chunk, interval_ms):
    s = socket.create_connection((addr, port), timeout=5)
    s.settimeout(30)
    buf = b"m" * chunk
    total = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendall(buf)
        total += chunk
        time.sleep(interval_ms / 1000.0)
    s.shutdown(socket.SHUT_WR)
    # Wait for the receiver to close, so every byte is known to have arrived.
    s.recv(1)
    print(total, flush=True)


def map_entries(pin):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", pin],
                         capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        die("bpftool map dump %s: %s" % (pin, out.stderr.strip()))
    for entry in json.loads(out.stdout):
        key, value = entry.get("key"), entry.get("value")
        if not isinstance(key, list) or not isinstance(value, list):
            continue
        yield (bytes(int(b, 16) if isinstance(b, str) else b for b in key),
               bytes(int(b, 16) if isinstance(b, str) else b for b in value))


def ipcache_get(pin, addr):
    ip = ipaddress.ip_address(addr)
    fam = 4 if ip.version == 4 else 6
    want = struct.pack("<IB3x16s", 32 + ip.max_prefixlen, fam, ip.packed.ljust(16, b"\0"))
    for key, value in map_entries(pin):
        if key == want:
            print("%d %d %d %d" % struct.unpack("<IIII", value[:16]))
            return
    print("none")


def endpoint_get(pin, ifindex):
    want = struct.pack("<I", ifindex)
    for key, value in map_entries(pin):
        if key == want:
            print("%d %d %d" % struct.unpack("<III", value[:12]))
            return
    print("none")


def config_flags(pin):
    for key, value in map_entries(pin):
        if key == struct.pack("<I", 0):
            print(struct.unpack("<II", value[:8])[1])
            return
    die("%s has no entry 0" % pin)


def main(argv):
    if len(argv) < 2:
        die("usage: see the docstring")
    cmd, args = argv[1], argv[2:]
    if cmd == "serve":
        serve(int(args[0]), args[1])
    elif cmd == "udp-ping":
        udp_ping(args[0], int(args[1]))
    elif cmd == "udp-send":
        udp_send(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "udp-count":
        print(udp_request(args[0], int(args[1]), b"COUNT?").decode())
    elif cmd == "tcp-sink":
        tcp_sink(int(args[0]))
    elif cmd == "tcp-source":
        tcp_source(args[0], int(args[1]), float(args[2]), int(args[3]), int(args[4]))
    elif cmd == "ipcache-get":
        ipcache_get(args[0], args[1])
    elif cmd == "endpoint-get":
        endpoint_get(args[0], int(args[1]))
    elif cmd == "config-flags":
        config_flags(args[0])
    else:
        die("unknown command %s" % cmd)


if __name__ == "__main__":
    main(sys.argv)
