#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Traffic helper of the service end-to-end tests (test_service_*.c), run inside a namespace.

Every answer names the backend that gave it, so a client can tell where the load balancer
sent each connection or datagram. Exit status: 0 done (the result is on stdout), 1 the helper
itself failed (reason on stderr).

  serve NAME PORT         dual stack: HTTP on TCP PORT (body "svc-e2e NAME"); on TCP PORT+1 a
                          sink that greets with "NAME\\n", reads to EOF and answers with the
                          byte count; UDP echo on PORT (answer "NAME " + datagram).
                          Prints "ready" once every socket is bound.
  http ADDR PORT N [SPORT]
                          N HTTP GETs, each on a new connection (from source port SPORT when
                          given, closed with a reset so the port is free again at once).
                          Prints "backend NAME COUNT" per backend, then "errors N",
                          "peer_mismatch N" (connections whose getpeername() was not
                          ADDR:PORT) and "first_error TEXT" when there were errors.
  connect ADDR PORT TIMEOUT
                          one TCP connect: prints "<OK|ECONNREFUSED|TIMEOUT|errno name> <ms>"
  udp ADDR PORT N MODE    N queries, each from a new socket (MODE "sendto": unconnected,
                          sendto/recvfrom; "connect": connected, send/recv); prints
                          "backend NAME COUNT", "errors N", "from_mismatch N" (answers whose
                          source, from recvfrom() or getpeername(), was not ADDR:PORT)
  udp-one-socket ADDR PORT N
                          N queries from one unconnected socket: same output as udp
  udp-refused ADDR PORT   one sendto(): prints "<OK|errno name> <ms>"
  stream ADDR PORT SECONDS
                          connects to a sink, prints "connected NAME" as soon as it is greeted,
                          writes 64 KiB every 5 ms for SECONDS, half-closes, prints
                          "sent N received M" (M: the sink's count)
"""
import errno
import os
import select
import socket
import struct
import sys
import threading
import time


def die(msg):
    sys.stderr.write("service_peer: %s\n" % msg)
    sys.exit(1)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def same_peer(peer, addr, port):
    """Whether a socket address names addr:port (IPv4-mapped forms are not expected here)."""
    try:
        fam = family_of(addr)
        return socket.inet_pton(fam, peer[0].split("%")[0]) == socket.inet_pton(fam, addr) and \
            peer[1] == port
    except OSError:
        return False


def dual_stack(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s


# ---- serve ----

def http_one(conn, body):
    try:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            d = conn.recv(4096)
            if not d:
                return
            data += d
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    finally:
        conn.close()


def sink_one(conn, name):
    try:
        conn.settimeout(60)
        conn.sendall(name.encode() + b"\n")
        total = 0
        while True:
            d = conn.recv(1 << 16)
            if not d:
                break
            total += len(d)
        conn.sendall(b"%d\n" % total)
    except OSError:
        pass
    finally:
        conn.close()


def accept_loop(srv, handler, arg):
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handler, args=(conn, arg), daemon=True).start()


def serve(name, port):
    http = dual_stack(socket.SOCK_STREAM, port)
    http.listen(128)
    sink = dual_stack(socket.SOCK_STREAM, port + 1)
    sink.listen(16)
    echo = dual_stack(socket.SOCK_DGRAM, port)
    body = b"svc-e2e %s\n" % name.encode()
    threading.Thread(target=accept_loop, args=(http, http_one, body), daemon=True).start()
    threading.Thread(target=accept_loop, args=(sink, sink_one, name), daemon=True).start()
    print("ready", flush=True)
    prefix = name.encode() + b" "
    while True:
        data, peer = echo.recvfrom(65535)
        echo.sendto(prefix + data, peer)


# ---- clients ----

def report(counts, errors, mismatch_label, mismatches, first_error):
    for name in sorted(counts):
        print("backend %s %d" % (name, counts[name]))
    print("errors %d" % errors)
    print("%s %d" % (mismatch_label, mismatches))
    if first_error:
        print("first_error %s" % first_error)


def http_get(addr, port, sport):
    """One GET on a new connection: (backend name, peer matches) or raises OSError."""
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    try:
        s.settimeout(3)
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("::" if ":" in addr else "0.0.0.0", sport))
        s.connect((addr, port))
        peer_ok = same_peer(s.getpeername(), addr, port)
        host = "[%s]" % addr if ":" in addr else addr
        s.sendall(b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host.encode())
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
        if not body.startswith("svc-e2e "):
            raise OSError("unexpected answer %r" % data[:80])
        return body[len("svc-e2e "):], peer_ok
    finally:
        # A reset instead of TIME_WAIT: the same source port can connect again at once.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def http_many(addr, port, n, sport):
    counts, errors, mismatches, first = {}, 0, 0, ""
    for _ in range(n):
        try:
            name, peer_ok = http_get(addr, port, sport)
        except OSError as e:
            errors += 1
            first = first or str(e)
            continue
        counts[name] = counts.get(name, 0) + 1
        mismatches += not peer_ok
    report(counts, errors, "peer_mismatch", mismatches, first)


def errno_name(e):
    if isinstance(e, socket.timeout):
        return "TIMEOUT"
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else "ERROR"


def connect_once(addr, port, timeout):
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
        what = "OK"
    except OSError as e:
        what = errno_name(e)
    print("%s %.3f" % (what, (time.monotonic() - t0) * 1000), flush=True)
    s.close()


def udp_query(s, addr, port, connected):
    token = b"q-%d-%d" % (os.getpid(), time.monotonic_ns())
    if connected:
        s.send(token)
        data = s.recv(65535)
        src = s.getpeername()
    else:
        s.sendto(token, (addr, port))
        data, src = s.recvfrom(65535)
    name, _, rest = data.partition(b" ")
    if rest != token:
        raise OSError("unexpected answer %r" % data[:80])
    return name.decode(), same_peer(src, addr, port)


def udp_many(addr, port, n, mode, one_socket):
    counts, errors, mismatches, first = {}, 0, 0, ""
    shared = None
    for _ in range(n):
        s = shared or socket.socket(family_of(addr), socket.SOCK_DGRAM)
        if one_socket:
            shared = s
        try:
            s.settimeout(3)
            if mode == "connect" and not one_socket:
                s.connect((addr, port))
            name, from_ok = udp_query(s, addr, port, mode == "connect")
            counts[name] = counts.get(name, 0) + 1
            mismatches += not from_ok
        except OSError as e:
            errors += 1
            first = first or (errno_name(e) if not str(e) else str(e))
        finally:
            if not one_socket:
                s.close()
    report(counts, errors, "from_mismatch", mismatches, first)


def udp_refused(addr, port):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    t0 = time.monotonic()
    try:
        s.sendto(b"x", (addr, port))
        what = "OK"
    except OSError as e:
        what = errno_name(e)
    print("%s %.3f" % (what, (time.monotonic() - t0) * 1000), flush=True)


def udp_refused_connected(addr, port):
    """A connected UDP socket learns of an ICMP port unreachable at its next receive."""
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.connect((addr, port))
    s.settimeout(1.5)
    t0 = time.monotonic()
    try:
        s.send(b"x")
        s.recv(100)
        what = "OK"
    except socket.timeout:
        what = "TIMEOUT"
    except OSError as e:
        what = errno_name(e)
    print("%s %.3f" % (what, (time.monotonic() - t0) * 1000), flush=True)


def stream(addr, port, seconds):
    s = socket.create_connection((addr, port), timeout=5)
    s.settimeout(30)
    greeting = b""
    while not greeting.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            die("sink closed before its greeting")
        greeting += d
    print("connected %s" % greeting.decode().strip(), flush=True)
    buf = b"m" * 65536
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendall(buf)
        sent += len(buf)
        time.sleep(0.005)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        d = s.recv(64)
        if not d:
            break
        answer += d
    print("sent %d received %s" % (sent, answer.decode().strip() or "-1"), flush=True)


def main():
    if len(sys.argv) < 2:
        die("no command")
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(a[0], int(a[1]))
    elif cmd == "http":
        http_many(a[0], int(a[1]), int(a[2]), int(a[3]) if len(a) > 3 else 0)
    elif cmd == "connect":
        connect_once(a[0], int(a[1]), float(a[2]))
    elif cmd == "udp":
        udp_many(a[0], int(a[1]), int(a[2]), a[3], False)
    elif cmd == "udp-one-socket":
        udp_many(a[0], int(a[1]), int(a[2]), "sendto", True)
    elif cmd == "udp-refused-connected":
        udp_refused_connected(*a[:1], int(a[1]))
    elif cmd == "udp-refused":
        udp_refused(a[0], int(a[1]))
    elif cmd == "stream":
        stream(a[0], int(a[1]), float(a[2]))
    else:
        die("unknown command %s" % cmd)


if __name__ == "__main__":
    main()
