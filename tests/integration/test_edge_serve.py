"""bin/sluice-edge against real sockets: cache, pull-through, verify, HTTP edge cases.

The upstream is a tiny Python HTTP server inside the test (an external peer):
it serves /seg/<cid>.ts from a dict, counts requests, and can delay or corrupt
its answers.
"""
import hashlib
import http.server as httpserver
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import binpath, free_port, http, metric_sum, parse_metrics, wait_http_ok, wait_until


class Upstream:
    """A /seg/<cid>.ts server in a thread. corrupt: serve wrong bytes; delay: seconds."""

    def __init__(self, objs, delay=0.0, corrupt=False):
        self.objs = dict(objs)
        self.delay = delay
        self.corrupt = corrupt
        self.count = 0
        self.lock = threading.Lock()
        up = self

        class H(httpserver.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                with up.lock:
                    up.count += 1
                if up.delay:
                    time.sleep(up.delay)
                cid = self.path[len("/seg/"):-len(".ts")] if self.path.startswith("/seg/") else ""
                body = up.objs.get(cid)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if up.corrupt:
                    body = bytes([body[0] ^ 1]) + body[1:] if body else b"x"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        httpserver.ThreadingHTTPServer.daemon_threads = True
        self.srv = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thr = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thr.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def make_obj(size, seed=0):
    data = hashlib.sha256(f"seed{seed}".encode()).digest() * (size // 32 + 1)
    data = bytes(data[:size])
    return hashlib.sha256(data).hexdigest(), data


@pytest.fixture
def upstreams():
    made = []

    def make(objs, **kw):
        u = Upstream(objs, **kw)
        made.append(u)
        return u
    yield make
    for u in made:
        u.close()


def start_edge(procs, ups, *extra, port=None):
    port = port or free_port()
    exe = binpath("sluice-edge")
    p = procs.start([exe, "--listen", f"127.0.0.1:{port}", "--upstream", ",".join(ups),
                     "--threads", "2", *extra])
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(base + "/healthz")
    return p, base, port


def metrics(base):
    st, _, body = http("GET", base + "/metrics")
    assert st == 200
    return parse_metrics(body.decode())


def m(ms, key):
    return ms.get(key, 0.0)


def raw(port, data, timeout=5.0, want_close=True):
    """Send raw bytes, read until the server closes (or timeout); return bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            out += b
            if not want_close:
                break
        return out
    finally:
        s.close()


def read_responses(sock, n):
    """Read n HTTP responses (Content-Length framed) from sock; return [(status, body)]."""
    buf = b""
    out = []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, v = ln.split(b":", 1)
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        clen = int(hdrs.get("content-length", "0"))
        while len(buf) < clen:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in body"
            buf += chunk
        out.append((status, hdrs, buf[:clen]))
        buf = buf[clen:]
    return out


def test_hit_miss_verify(procs, upstreams):
    cid, data = make_obj(300_000, 1)
    up = upstreams({cid: data})
    _, base, _ = start_edge(procs, [up.url])
    st, h, body = http("GET", f"{base}/seg/{cid}.ts")
    assert st == 200 and body == data
    assert h["etag"] == f'"{cid}"' and "immutable" in h["cache-control"]
    ms = metrics(base)
    assert m(ms, "sluice_edge_cache_misses_total") == 1
    assert m(ms, "sluice_edge_upstream_requests_total") == 1
    st, _, body = http("GET", f"{base}/seg/{cid}.ts")
    assert st == 200 and body == data
    st, h, body = http("HEAD", f"{base}/seg/{cid}.ts")
    assert st == 200 and body == b"" and int(h["content-length"]) == len(data)
    st, _, _ = http("GET", f"{base}/seg/{cid}.ts", headers={"If-None-Match": f'"{cid}"'})
    assert st == 304
    ms = metrics(base)
    assert m(ms, 'sluice_edge_cache_hits_total{tier="mem"}') == 2
    assert m(ms, "sluice_edge_upstream_requests_total") == 1
    assert up.count == 1
    assert m(ms, 'sluice_edge_requests_total{status="200"}') >= 3
    assert m(ms, "sluice_edge_bytes_sent_total") >= 2 * len(data)
    assert m(ms, 'sluice_edge_cache_bytes{tier="mem"}') == len(data)
    # unknown object: upstream 404 -> 404
    other, _ = make_obj(10, 99)
    st, _, _ = http("GET", f"{base}/seg/{other}.ts")
    assert st == 404


def test_corrupt_upstream_gives_502_and_caches_nothing(procs, upstreams):
    cid, data = make_obj(5000, 2)
    up = upstreams({cid: data}, corrupt=True)
    _, base, _ = start_edge(procs, [up.url])
    for _ in range(2):
        st, _, _ = http("GET", f"{base}/seg/{cid}.ts")
        assert st == 502
    assert up.count == 2  # nothing was cached: the second request went upstream again
    ms = metrics(base)
    assert m(ms, "sluice_edge_verify_failures_total") == 2
    assert m(ms, 'sluice_edge_requests_total{status="502"}') == 2
    assert m(ms, 'sluice_edge_cache_bytes{tier="mem"}') == 0


def test_concurrent_misses_single_flight(procs, upstreams):
    cid, data = make_obj(200_000, 3)
    up = upstreams({cid: data}, delay=0.3)
    _, base, _ = start_edge(procs, [up.url])
    results = []
    lock = threading.Lock()

    def get():
        r = http("GET", f"{base}/seg/{cid}.ts", timeout=20)
        with lock:
            results.append(r)
    ts = [threading.Thread(target=get) for _ in range(50)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(results) == 50
    assert all(st == 200 and body == data for st, _, body in results)
    assert up.count == 1
    ms = metrics(base)
    assert m(ms, "sluice_edge_upstream_requests_total") == 1
    assert m(ms, "sluice_edge_cache_misses_total") + metric_sum(ms, "sluice_edge_cache_hits_total") == 50


def test_upstream_failover(procs, upstreams):
    cid, data = make_obj(1234, 4)
    up = upstreams({cid: data})
    dead = f"http://127.0.0.1:{free_port()}"
    _, base, _ = start_edge(procs, [dead, up.url])
    st, _, body = http("GET", f"{base}/seg/{cid}.ts")
    assert st == 200 and body == data
    ms = metrics(base)
    assert m(ms, "sluice_edge_upstream_requests_total") == 2  # dead one, then the good one
    # The dead upstream is now marked unhealthy: the next miss goes straight to the good one.
    cid2, data2 = make_obj(999, 5)
    up.objs[cid2] = data2
    st, _, body = http("GET", f"{base}/seg/{cid2}.ts")
    assert st == 200 and body == data2
    assert m(metrics(base), "sluice_edge_upstream_requests_total") == 3


def test_restart_keeps_disk_cache(procs, upstreams, tmp_path):
    cdir = tmp_path / "cache"
    cid, data = make_obj(400_000, 6)
    cid2, data2 = make_obj(3000, 7)
    up = upstreams({cid: data, cid2: data2})
    p, base, port = start_edge(procs, [up.url], "--cache-dir", cdir)
    for c, d in ((cid, data), (cid2, data2)):
        st, _, body = http("GET", f"{base}/seg/{c}.ts")
        assert st == 200 and body == d
    wait_until(lambda: m(metrics(base), 'sluice_edge_cache_bytes{tier="disk"}') == len(data) + len(data2),
               what="disk cache write")
    p.signal(signal.SIGTERM)
    assert p.wait(20) == 0
    assert (cdir / cid[:2] / cid).read_bytes() == data
    # Tamper with one file: it must be re-verified, deleted and not served.
    f2 = cdir / cid2[:2] / cid2
    f2.write_bytes(b"Y" + data2[1:])
    up.close()
    dead = f"http://127.0.0.1:{free_port()}"
    _, base, _ = start_edge(procs, [dead], "--cache-dir", cdir, port=port)
    for _ in range(2):  # first serve re-hashes; second is a memory hit
        st, _, body = http("GET", f"{base}/seg/{cid}.ts")
        assert st == 200 and body == data
    st, _, _ = http("GET", f"{base}/seg/{cid2}.ts")
    assert st == 502
    assert not f2.exists()
    ms = metrics(base)
    assert m(ms, 'sluice_edge_cache_hits_total{tier="disk"}') >= 1
    assert m(ms, 'sluice_edge_cache_hits_total{tier="mem"}') >= 1


RANGE_CASES = [
    ("bytes=0-0", 206, lambda d: d[0:1], "bytes 0-0/{n}"),
    ("bytes=-1", 206, lambda d: d[-1:], "bytes {last}-{last}/{n}"),
    ("bytes=10-", 206, lambda d: d[10:], "bytes 10-{last}/{n}"),
    ("bytes=5-14", 206, lambda d: d[5:15], "bytes 5-14/{n}"),
    ("bytes=-100000000", 206, lambda d: d, "bytes 0-{last}/{n}"),
    ("bytes=0-99999999", 206, lambda d: d, "bytes 0-{last}/{n}"),
    ("bytes={n}-", 416, None, "bytes */{n}"),
    ("bytes=-0", 416, None, "bytes */{n}"),
    ("bytes=abc", 200, lambda d: d, None),
    ("bytes=9-3", 200, lambda d: d, None),
    ("items=0-1", 200, lambda d: d, None),
    ("bytes=0-1,5-6", 200, lambda d: d, None),
]


def check_ranges(base, cid, data):
    n = len(data)
    for spec, want, part, crange in RANGE_CASES:
        spec = spec.format(n=n)
        st, h, body = http("GET", f"{base}/seg/{cid}.ts", headers={"Range": spec})
        assert st == want, (spec, st)
        if part is not None:
            assert body == part(data), spec
        if crange is not None:
            assert h["content-range"] == crange.format(n=n, last=n - 1), spec


def test_range_memory_and_disk(procs, upstreams, tmp_path):
    cid, data = make_obj(100_000, 8)
    up = upstreams({cid: data})
    # --cache-mem smaller than the object: after the first answer it is served from disk.
    _, base, _ = start_edge(procs, [up.url], "--cache-dir", tmp_path / "c", "--cache-mem", "1K")
    check_ranges(base, cid, data)  # first one a miss, then disk (once written) or miss
    wait_until(lambda: m(metrics(base), 'sluice_edge_cache_bytes{tier="disk"}') == len(data),
               what="disk write")
    before = m(metrics(base), 'sluice_edge_cache_hits_total{tier="disk"}')
    check_ranges(base, cid, data)
    ms = metrics(base)
    assert m(ms, 'sluice_edge_cache_hits_total{tier="disk"}') >= before + len(RANGE_CASES)
    assert m(ms, 'sluice_edge_requests_total{status="206"}') >= 12
    assert m(ms, 'sluice_edge_requests_total{status="416"}') >= 4
    # memory tier
    cid2, data2 = make_obj(50_000, 9)
    up.objs[cid2] = data2
    _, base2, _ = start_edge(procs, [up.url])
    http("GET", f"{base2}/seg/{cid2}.ts")
    check_ranges(base2, cid2, data2)
    assert m(metrics(base2), 'sluice_edge_cache_hits_total{tier="mem"}') == len(RANGE_CASES)


def test_pipelining_three_in_one_send(procs, upstreams):
    cid, data = make_obj(70_000, 10)
    up = upstreams({cid: data})
    _, base, port = start_edge(procs, [up.url])
    reqs = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + f"GET /seg/{cid}.ts HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(reqs)
        rs = read_responses(s, 3)
        assert [r[0] for r in rs] == [200, 200, 404]
        assert rs[0][2] == b"ok\n" and rs[1][2] == data
        # the connection stays open (keep-alive): one more, split into tiny pieces
        req = f"GET /seg/{cid}.ts HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n".encode()
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        (st, _, body), = read_responses(s, 1)
        assert st == 206 and body == data[:10]
    ms = metrics(base)
    assert m(ms, 'sluice_edge_requests_total{status="404"}') == 1


def test_idle_connections_do_not_block(procs, upstreams):
    cid, data = make_obj(4096, 11)
    up = upstreams({cid: data})
    _, base, port = start_edge(procs, [up.url])
    idle = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        wait_until(lambda: m(metrics(base), "sluice_edge_connections") >= 500, what="500 connections")
        t0 = time.monotonic()
        st, _, body = http("GET", f"{base}/seg/{cid}.ts")
        assert st == 200 and body == data
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in idle:
            s.close()
    wait_until(lambda: m(metrics(base), "sluice_edge_connections") <= 2, what="connections closed")


MALFORMED = [
    (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(70)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"POST /seg/x.ts HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (b"GET /seg/xyz.ts HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"GET /seg/" + b"A" * 64 + b".ts HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"GET nohost HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
]


def test_malformed_requests_get_4xx_and_server_keeps_serving(procs, upstreams):
    up = upstreams({})
    _, base, port = start_edge(procs, [up.url])
    for req, want in MALFORMED:
        out = raw(port, req, want_close=False)
        assert out.startswith(b"HTTP/1.1 %d " % want), (req[:60], out[:80])
    # a client that sends garbage and hangs up mid-line
    raw(port, b"GET /seg/abc", timeout=0.3)
    st, _, body = http("GET", base + "/healthz")
    assert st == 200 and body == b"ok\n"
    ms = metrics(base)
    assert m(ms, 'sluice_edge_requests_total{status="400"}') >= 7
    assert m(ms, 'sluice_edge_requests_total{status="431"}') == 2
    assert m(ms, 'sluice_edge_requests_total{status="414"}') == 1
    assert m(ms, 'sluice_edge_requests_total{status="505"}') == 1


def test_sigterm_drains_inflight_download(procs, upstreams):
    cid, data = make_obj(8 << 20, 12)
    up = upstreams({cid: data})
    p, base, port = start_edge(procs, [up.url])
    st, _, body = http("GET", f"{base}/seg/{cid}.ts")
    assert st == 200 and len(body) == len(data)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(f"GET /seg/{cid}.ts HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = s.recv(16384)
    assert got.startswith(b"HTTP/1.1 200")
    p.signal(signal.SIGTERM)
    # a new connection is refused (listener closed) or answered 503 while draining
    def not_healthy():
        try:
            return http("GET", base + "/healthz", timeout=1)[0] != 200
        except OSError:
            return True
    wait_until(not_healthy, what="not healthy")
    total = got
    while True:  # read the rest slowly-ish
        b = s.recv(1 << 20)
        if not b:
            break
        total += b
        time.sleep(0.002)
    s.close()
    head, body = total.split(b"\r\n\r\n", 1)
    assert body == data
    assert p.wait(15) == 0


def test_promtool_accepts_metrics(procs, upstreams):
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not installed")
    cid, data = make_obj(100, 13)
    up = upstreams({cid: data})
    _, base, _ = start_edge(procs, [up.url])
    http("GET", f"{base}/seg/{cid}.ts")
    _, _, body = http("GET", base + "/metrics")
    cp = subprocess.run([tool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert m(parse_metrics(body.decode()), "sluice_edge_cache_misses_total") == 1


def test_bad_flags_exit_2():
    exe = binpath("sluice-edge")
    for args in (["--bogus"], ["--listen", "nope"], [], ["--upstream", "http://x", "--cache-mem", "lots"],
                 ["--upstream", "http://x", "--threads", "0"], ["--upstream", "ftp://x"]):
        cp = subprocess.run([exe, *args], capture_output=True, timeout=10)
        assert cp.returncode == 2, (args, cp.stderr)
        assert b"usage: sluice-edge" in cp.stderr


def test_options_cors_with_env_token(procs, upstreams):
    up = upstreams({})
    port = free_port()
    exe = binpath("sluice-edge")
    procs.start([exe, "--listen", f"127.0.0.1:{port}", "--upstream", up.url],
                env={"SLUICE_TOKEN": "s3cret"})
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(base + "/healthz")
    st, h, _ = http("OPTIONS", base + "/seg/" + "a" * 64 + ".ts")
    assert st == 204 and h["access-control-allow-origin"] == "*"
    assert m(metrics(base), 'sluice_edge_requests_total{status="204"}') == 1
    assert os.path.exists(exe)


def test_deep_pipeline_beyond_input_buffer(procs, upstreams):
    """More pipelined bytes than the edge's input buffer: back-pressure, nothing lost."""
    cid, data = make_obj(4096, 14)
    up = upstreams({cid: data})
    _, base, port = start_edge(procs, [up.url])
    assert http("GET", f"{base}/seg/{cid}.ts")[0] == 200
    n = 400
    one = f"GET /seg/{cid}.ts HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 40}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(one * n)  # ~60 KiB in one go
        rs = read_responses(s, n)
    assert all(st == 200 and body == data for st, _, body in rs)
    ms = metrics(base)
    assert m(ms, 'sluice_edge_cache_hits_total{tier="mem"}') == n
