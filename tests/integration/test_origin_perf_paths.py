"""sluice-origin fast paths: parked long polls, keep-alive, the live window cache.

Real bin/sluice-origin over a real store; segments are put from another
process with `bin/sluice store put` (small bytes, like test_origin_edges.py);
fake edges are tiny python HTTP servers answering /healthz. Readiness and
freshness are polled, never slept for.
"""
import http.client as httpc
import json
import re
import signal
import threading
import time

from conftest import start_origin
from conftest import free_port, http, metric_sum, parse_metrics, wait_http_ok, wait_until

T0 = int(time.time()) - 5400
PY = "/usr/bin/python3"
FAKE_EDGE = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
N_POLLS = 5


def put(sluice, store, tmp_path, i, start, stream="cam"):
    f = tmp_path / f"seg{stream}{i}.bin"
    f.write_bytes(b"\x47" + bytes(f"perf segment {stream} {i}", "ascii") * 30)
    cp = sluice("store", "put", store, "--stream", stream, "--start", str(start),
                "--duration", "1", "--session", "s", "--json", f, check=0)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def metrics(base):
    st, _, body = http("GET", base + "/metrics")
    assert st == 200
    return parse_metrics(body.decode())


def req_count(m, route, status="200"):
    return m.get(f'sluice_origin_requests_total{{route="{route}",status="{status}"}}', 0)


def last_seq(base):
    st, h, _ = http("GET", base + "/store/v1/changes?since=0&limit=1")
    assert st == 200
    return int(h["x-sluice-last-seq"])


def live(base, sid=None, stream="cam", path="live.m3u8", extra=""):
    q = f"?sid={sid}{extra}" if sid else ""
    st, h, body = http("GET", f"{base}/hls/{stream}/src/{path}{q}", timeout=5)
    assert st == 200, body
    text = body.decode()
    mseq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
    uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return mseq, {mseq + i: u for i, u in enumerate(uris)}, text


def start_edge(procs):
    port = free_port()
    procs.start([PY, "-c", FAKE_EDGE, str(port)], name="fake-edge")
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(url + "/healthz")
    return url


class LongPoll(threading.Thread):
    """GET /store/v1/changes?since=S&wait=W on its own connection."""

    def __init__(self, port, since, wait):
        super().__init__(daemon=True)
        self.port, self.since, self.wait = port, since, wait
        self.status = self.headers = self.body = self.error = self.t_done = None

    def run(self):
        try:
            c = httpc.HTTPConnection("127.0.0.1", self.port, timeout=self.wait + 15)
            c.request("GET", f"/store/v1/changes?since={self.since}&wait={self.wait}")
            r = c.getresponse()
            self.status = r.status
            self.headers = {k.lower(): v for k, v in r.getheaders()}
            self.body = r.read()
            c.close()
        except OSError as e:
            self.error = e
        self.t_done = time.monotonic()


def park(base, port, since, n, wait):
    """Start n long polls and wait (via /metrics) until all are parked."""
    before = metrics(base).get("sluice_origin_changes_long_polls_total", 0)
    polls = [LongPoll(port, since, wait) for _ in range(n)]
    for p in polls:
        p.start()
    # the counter is bumped by the handler just before it parks the connection
    wait_until(lambda: metrics(base).get("sluice_origin_changes_long_polls_total", 0)
               >= before + n, timeout=10, what=f"{n} parked long polls")
    return polls


def timed_get(url):
    t = time.monotonic()
    st, _, body = http("GET", url, timeout=5)
    return st, time.monotonic() - t, body


def test_one_thread_long_polls_park_and_wake(procs, store_dir, sluice, tmp_path):
    for i in range(2):
        put(sluice, store_dir, tmp_path, i, T0 + i)
    origin, base = start_origin(procs, store_dir, "--threads", "1", "--window", "3")
    port = int(base.rsplit(":", 1)[1])
    last = last_seq(base)
    polls = park(base, port, last, N_POLLS, 10)
    assert all(p.is_alive() for p in polls)

    # the single event loop still answers everything else promptly
    for _ in range(3):
        st, dt, body = timed_get(base + "/healthz")
        assert st == 200 and body == b"ok" and dt < 1.0, dt
        st, dt, body = timed_get(base + "/hls/cam/src/live.m3u8")
        assert st == 200 and b"#EXTM3U" in body and dt < 1.0, dt
    st, _, _ = http("GET", base + "/api/v1/streams")
    assert st == 200
    assert all(p.is_alive() for p in polls)          # still parked: nothing changed

    # one put from another process wakes every parked poll at once
    t_put = time.monotonic()
    rec = put(sluice, store_dir, tmp_path, 2, T0 + 2)
    for p in polls:
        p.join(timeout=5)
        assert not p.is_alive(), "long poll not woken by the put"
    for p in polls:
        assert p.error is None, p.error
        assert p.status == 200
        assert p.t_done - t_put < 2.0, p.t_done - t_put
        assert int(p.headers["x-sluice-last-seq"]) == last + 1
        assert p.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(x) for x in p.body.decode().splitlines() if x]
        assert [(x["seq"], x["op"], x["cid"]) for x in lines] == [(last + 1, "put", rec["cid"])]

    # the woken connections are whole again: a second round parks and times out
    t = time.monotonic()
    st, h, body = http("GET", f"{base}/store/v1/changes?since={last + 1}&wait=1", timeout=10)
    assert st == 200 and body == b"" and int(h["x-sluice-last-seq"]) == last + 1
    assert 0.8 <= time.monotonic() - t < 3

    m = metrics(base)
    assert m["sluice_origin_changes_long_polls_total"] >= N_POLLS + 1
    assert req_count(m, "store_changes") >= N_POLLS + 2
    assert req_count(m, "healthz") >= 3
    assert req_count(m, "live") >= 3
    assert req_count(m, "streams") >= 1


def test_keep_alive_on_one_connection(procs, store_dir, sluice, tmp_path):
    recs = [put(sluice, store_dir, tmp_path, i, T0 + i) for i in range(4)]
    origin, base = start_origin(procs, store_dir, "--window", "3")
    port = int(base.rsplit(":", 1)[1])
    m0 = metrics(base)
    cid = recs[-1]["cid"]
    paths = [
        ("GET", "/healthz"),
        ("GET", "/hls/cam/master.m3u8"),
        ("GET", "/hls/cam/src/live.m3u8"),
        ("GET", "/hls/cam/src/live.m3u8?sid=a"),
        ("GET", "/hls/cam/src/live.m3u8?sid=a"),      # cached response, same bytes
        ("GET", "/hls/cam/src/dvr.m3u8?seconds=60"),
        ("GET", f"/hls/cam/src/replay.m3u8?from={T0}&to={T0 + 4}"),
        ("GET", f"/seg/{cid}.ts"),
        ("HEAD", f"/seg/{cid}.ts"),
        ("GET", f"/seg/{cid}.ts"),
        ("GET", "/api/v1/streams"),
        ("GET", "/hls/cam/src/live.m3u8"),
        ("GET", "/store/v1/changes?since=999&wait=1"),   # parked, resumed, answered
        ("GET", "/hls/cam/src/live.m3u8"),
    ]
    c = httpc.HTTPConnection("127.0.0.1", port, timeout=5)
    c.connect()
    sock, local = c.sock, c.sock.getsockname()
    bodies = []
    for method, path in paths:
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body)
        conn_hdr = (r.getheader("Connection") or "").lower()
        assert "close" not in conn_hdr, (path, conn_hdr)
        assert not r.will_close, path
        assert c.sock is sock and c.sock.getsockname() == local, f"reconnected after {path}"
        if method == "HEAD":
            assert body == b"" and int(r.getheader("Content-Length")) > 0
        bodies.append(body)
    c.close()
    assert bodies[3] == bodies[4]
    segfile = tmp_path / "segcam3.bin"
    assert bodies[7] == segfile.read_bytes() and bodies[9] == bodies[7]

    m = metrics(base)
    for route, n in (("healthz", 1), ("master", 1), ("live", 5), ("store_changes", 1),
                     ("dvr", 1), ("replay", 1), ("seg", 3), ("streams", 1)):
        assert req_count(m, route) - req_count(m0, route) == n, route
    assert metric_sum(m, "sluice_origin_segment_bytes_total") >= 2 * len(bodies[7])


def test_live_cache_fresh_and_steering_stable(procs, store_dir, sluice, tmp_path):
    for i in range(3):
        put(sluice, store_dir, tmp_path, i, T0 + i)
    origin, base = start_origin(procs, store_dir, "--window", "3", "--health-interval", "200ms")

    # a put from another process is listed by the very next request
    mseq, uris, _ = live(base)
    assert len(uris) == 3
    for i in range(3, 6):
        rec = put(sluice, store_dir, tmp_path, i, T0 + i)
        m2, u2, _ = live(base)
        assert m2 == mseq + 1, (i, mseq, m2)
        assert u2[max(u2)].endswith(f"/seg/{rec['cid']}.ts")
        mseq, uris = m2, u2
    # and a stream that did not exist when the origin started
    put(sluice, store_dir, tmp_path, 0, T0, stream="other")
    _, u, _ = live(base, stream="other")
    assert len(u) == 1

    # two edges; segments stored while they are healthy are steered per viewer
    url1, url2 = start_edge(procs), start_edge(procs)
    for eid, url in (("e1", url1), ("e2", url2)):
        st, _, body = http("POST", base + "/api/v1/edges",
                           body=json.dumps({"id": eid, "url": url, "capacity": 100}).encode(),
                           headers={"Content-Type": "application/json"})
        assert st == 201, body

    def healthy():
        st, _, body = http("GET", base + "/api/v1/edges")
        e = json.loads(body)
        return st == 200 and len(e) == 2 and all(x["healthy"] for x in e)
    wait_until(healthy, timeout=10, what="both edges healthy")
    pre = set(uris)                          # listed before the edges: stay on the origin
    new = put(sluice, store_dir, tmp_path, 6, T0 + 6)
    host = {}
    for v in range(40):
        _, u, _ = live(base, f"viewer{v}")
        assert u[max(u)].endswith(f"/seg/{new['cid']}.ts")
        host[v] = u[max(u)].split("/seg/")[0]
    assert set(host.values()) == {url1, url2}
    sa = next(v for v in host if host[v] == url1)
    sb = next(v for v in host if host[v] == url2)
    sids = (f"viewer{sa}", f"viewer{sb}")

    seen = {s: {} for s in sids}
    texts = {s: [] for s in sids}

    def reload_all():
        for s in sids:                        # alternate viewers on the same cached window
            for _ in range(2):
                m, u, text = live(base, s)
                texts[s].append((m, text))
                for seq, uri in u.items():
                    assert seen[s].setdefault(seq, uri) == uri, (s, seq)   # the invariant
                    if seq in pre:
                        assert uri.startswith(base + "/seg/"), uri
                # the uncached path (dvr) lists the same URIs for this viewer
                _, ud, _ = live(base, s, path="dvr.m3u8", extra="&seconds=60")
                for seq, uri in u.items():
                    assert ud[seq] == uri, (s, seq, ud[seq], uri)

    reload_all()
    for i in range(7, 10):
        put(sluice, store_dir, tmp_path, i, T0 + i)
        reload_all()
    # the two viewers really got different per-viewer text from one window
    last = {s: texts[s][-1] for s in sids}
    assert last[sids[0]][0] == last[sids[1]][0]
    assert last[sids[0]][1] != last[sids[1]][1]
    assert seen[sids[0]][new["seq"]].startswith(url1)
    assert seen[sids[1]][new["seq"]].startswith(url2)
    # same viewer, same window: byte-identical
    assert texts[sids[0]][-1] == texts[sids[0]][-2]

    m = metrics(base)
    assert req_count(m, "live") >= 4 + 40 + 2 * 2 * 4
    assert req_count(m, "dvr") >= 2 * 2 * 4
    assert req_count(m, "edges", "201") == 2
    assert m['sluice_origin_steering_decisions_total{edge="e1"}'] > 0
    assert m['sluice_origin_steering_decisions_total{edge="e2"}'] > 0
    hist = metric_sum({k: v for k, v in m.items() if 'kind="live"' in k},
                      "sluice_origin_playlist_seconds_count")
    assert hist >= 4 + 40


def test_sigterm_with_parked_long_polls(procs, store_dir, sluice, tmp_path):
    put(sluice, store_dir, tmp_path, 0, T0)
    origin, base = start_origin(procs, store_dir, "--threads", "2")
    port = int(base.rsplit(":", 1)[1])
    last = last_seq(base)
    polls = park(base, port, last, 3, 30)
    m = metrics(base)
    assert req_count(m, "metrics") >= 1
    t = time.monotonic()
    origin.signal(signal.SIGTERM)
    assert origin.wait(timeout=5) == 0
    assert time.monotonic() - t < 5
    for p in polls:
        p.join(timeout=5)
        assert not p.is_alive()
        # answered at shutdown (empty) or cut; never left hanging
        assert p.error is not None or (p.status == 200 and p.body == b""), (p.status, p.body)
    assert b"shutting down" in origin.output()
