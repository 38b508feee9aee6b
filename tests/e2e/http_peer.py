#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HTTP peer of the L7 proxy end-to-end tests (test_l7_*.c), run inside a test's namespace.

Hand-rolled on plain sockets, so that the tests see exactly what crossed the wire: no
library here reconnects, retries or normalises a request behind the test's back.

  serve NAME PORTS           HTTP/1.1 with keep-alive on each TCP port of the comma list, dual
                             stack. Prints "ready" once bound, then one line per event:
                               conn PORT PEER              a connection was accepted
                               req PORT METHOD PATH force=V body=N
                                                           a request was read (V: the
                                                           X-Has-Force header or "-", N: body
                                                           bytes); the answer is 200 with the
                                                           body "l7-e2e NAME METHOD PATH"
                               junk PORT N                 N bytes that were not a request
  session ADDR PORT STEP...  one TCP connection, the steps in order; prints
                               conn LOCAL_ADDR LOCAL_PORT  once connected
                               connect ERROR               could not connect (then stops)
                             and per step:
                               "METHOD PATH[|Name: value]..."  a request (PUT and POST carry a
                                     7-byte body); prints "resp STATUS close=0|1 BODY" (body
                                     on one line), or "closed" if the connection ended first,
                                     "timeout" if no answer came within 10 s (then stops)
                               "raw:TEXT"   TEXT (with \\r\\n escapes) sent as is, then one
                                     response read as above
                               "read"       reads one more response (after pipelined requests)
                               "wait:PATH"  prints "waiting", then waits for PATH to exist
                               "eof"        prints "eof closed", "eof reset", "eof open" (no
                                     byte for 2 s) or "eof data N"
                             and "end" at the end.
  parallel ADDR PORT N PATH  N connections opened together (all connected before the first
                             request), one GET each; prints "parallel ok=A fail=B max_ms=C
                             statuses=S errors=E" (S, E: comma lists of code:count)
  direct ADDR PORT           connects and sends a GET; prints one of "refused", "timeout",
                             "error ERRNO" (no connection), "closed" (EOF without a byte), "reset",
                             "silent" (nothing within 3 s), "answer FIRST_LINE"
"""
import codecs
import errno
import os
import socket
import sys
import threading
import time

BODY = b"l7-body"


def die(msg):
    sys.stderr.write("http_peer: %s\n" % msg)
    sys.exit(1)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


class Reader:
    """Buffered reads of one socket: heads, sized and chunked bodies, close-delimited ones."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.buf += data

    def head(self, limit=1 << 20):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("head too long")
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return lines[0], headers

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def chunked(self):
        out = b""
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                while self.line():
                    pass
                return out
            out += self.exactly(size)
            self.line()

    def rest(self):
        try:
            while True:
                self.fill()
        except EOFError:
            pass
        data, self.buf = self.buf, b""
        return data


def header(headers, name):
    for n, v in headers:
        if n == name:
            return v
    return None


def body_of(reader, headers, allow_close_delimited):
    if (header(headers, "transfer-encoding") or "").lower() == "chunked":
        return reader.chunked()
    length = header(headers, "content-length")
    if length is not None:
        return reader.exactly(int(length))
    return reader.rest() if allow_close_delimited else b""


# ---- server ----

out_lock = threading.Lock()


def say(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def serve_conn(conn, peer, port, name):
    reader = Reader(conn)
    host = peer[0][7:] if peer[0].startswith("::ffff:") else peer[0]
    say("conn %d %s" % (port, host))
    try:
        while True:
            try:
                first, headers = reader.head()
            except EOFError:
                if reader.buf:
                    say("junk %d %d" % (port, len(reader.buf)))
                return
            parts = first.split(" ")
            if len(parts) != 3:
                say("junk %d %d" % (port, len(first)))
                return
            method, path = parts[0], parts[1]
            body = body_of(reader, headers, False)
            say("req %d %s %s force=%s body=%d" % (port, method, path,
                                                  header(headers, "x-has-force") or "-",
                                                  len(body)))
            answer = ("l7-e2e %s %s %s\n" % (name, method, path)).encode()
            close = (header(headers, "connection") or "").lower() == "close"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n%s\r\n" %
                         (len(answer), b"Connection: close\r\n" if close else b"") +
                         (b"" if method == "HEAD" else answer))
            if close:
                return
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def accept_loop(srv, port, name):
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=serve_conn, args=(conn, peer, port, name), daemon=True).start()


def serve(name, ports):
    for p in [int(x) for x in ports.split(",")]:
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        srv.bind(("::", p))
        srv.listen(1024)
        threading.Thread(target=accept_loop, args=(srv, p, name), daemon=True).start()
    say("ready")
    while True:
        time.sleep(3600)


# ---- client ----

def connect(addr, port, timeout):
    fam = family_of(addr)
    # getaddrinfo resolves a scope ("fe80::1%eth0") into the address tuple
    target = socket.getaddrinfo(addr, port, fam, socket.SOCK_STREAM)[0][4]
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(target)
    return s


def request_bytes(spec, addr):
    fields = spec.split("|")
    method, path = fields[0].split(" ", 1)
    host = "[%s]" % addr if ":" in addr else addr
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    lines += fields[1:]
    body = BODY if method in ("PUT", "POST") else b""
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, method


def one_response(reader, method):
    first, headers = reader.head()
    parts = first.split(" ", 2)
    status = int(parts[1])
    body = b"" if method == "HEAD" else body_of(reader, headers, True)
    close = (header(headers, "connection") or "").lower() == "close"
    text = body.decode("latin-1").strip().replace("\r", " ").replace("\n", " ")
    return "resp %d close=%d %s" % (status, 1 if close else 0, text)


def eof_state(sock):
    sock.settimeout(2)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return "open"
    except ConnectionResetError:
        return "reset"
    return "closed" if not data else "data %d" % len(data)


def session(addr, port, steps):
    try:
        s = connect(addr, port, 3)
    except OSError as e:
        say("connect %s" % (errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout"))
        say("end")
        return
    s.settimeout(10)
    local = s.getsockname()
    say("conn %s %d" % (local[0], local[1]))
    reader = Reader(s)
    for step in steps:
        if step.startswith("wait:"):
            say("waiting")
            end = time.monotonic() + 30
            while not os.path.exists(step[5:]):
                if time.monotonic() > end:
                    die("nobody created %s" % step[5:])
                time.sleep(0.02)
            continue
        if step == "eof":
            say("eof " + eof_state(s))
            continue
        if step == "read":
            data, method = b"", "GET"
        elif step.startswith("raw:"):
            data = codecs.decode(step[4:], "unicode_escape").encode("latin-1")
            method = data.split(b" ", 1)[0].decode("latin-1")
        else:
            data, method = request_bytes(step, addr)
        try:
            s.sendall(data)
            say(one_response(reader, method))
        except (EOFError, ConnectionResetError, BrokenPipeError):
            say("closed")
            break
        except socket.timeout:
            say("timeout")
            break
    say("end")


def parallel(addr, port, n, path):
    barrier = threading.Barrier(n + 1)
    statuses, errors, times = {}, {}, []
    lock = threading.Lock()

    def note(table, key):
        with lock:
            table[key] = table.get(key, 0) + 1

    def one():
        try:
            s = connect(addr, port, 15)
        except OSError as e:
            note(errors, "connect-" + errno.errorcode.get(e.errno or 0, "timeout"))
            try:
                barrier.wait(30)
            except threading.BrokenBarrierError:
                pass
            return
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            note(errors, "barrier")
            return
        t0 = time.monotonic()
        try:
            s.settimeout(20)
            data, method = request_bytes("GET " + path, addr)
            s.sendall(data)
            status = int(one_response(Reader(s), method).split(" ")[1])
            note(statuses, status)
            with lock:
                times.append(time.monotonic() - t0)
        except (OSError, EOFError, ValueError) as e:
            note(errors, type(e).__name__)
        finally:
            s.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        barrier.wait(30)
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join(60)
    ok = statuses.get(200, 0)
    say("parallel ok=%d fail=%d max_ms=%d statuses=%s errors=%s" % (
        ok, n - ok, int(max(times) * 1000) if times else -1,
        ",".join("%s:%d" % kv for kv in sorted(statuses.items())) or "-",
        ",".join("%s:%d" % kv for kv in sorted(errors.items())) or "-"))


def direct(addr, port):
    try:
        s = connect(addr, port, 3)
    except ConnectionRefusedError:
        say("refused")
        return
    except socket.timeout:
        say("timeout")
        return
    except OSError as e:
        say("error %s" % errno.errorcode.get(e.errno or 0, str(e)))
        return
    s.settimeout(3)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: proxy\r\n\r\n")
        data = s.recv(65536)
    except ConnectionResetError:
        say("reset")
        return
    except BrokenPipeError:
        say("reset")
        return
    except socket.timeout:
        say("silent")
        return
    if not data:
        say("closed")
    else:
        say("answer " + data.split(b"\r\n", 1)[0].decode("latin-1"))


def main(argv):
    if len(argv) < 2:
        die("usage: see the docstring")
    cmd, a = argv[1], argv[2:]
    if cmd == "serve":
        serve(a[0], a[1])
    elif cmd == "session":
        session(a[0], int(a[1]), a[2:])
    elif cmd == "parallel":
        parallel(a[0], int(a[1]), int(a[2]), a[3])
    elif cmd == "direct":
        direct(a[0], int(a[1]))
    else:
        die("unknown command %s" % cmd)


if __name__ == "__main__":
    main(sys.argv)
