"""sluice-origin: edge registry, health probes, heartbeats, steering, token.

Fake edges are tiny python HTTP servers answering /healthz (external peers
from the origin's point of view); segments come from `bin/sluice store put`.
"""
import json
import re
import signal
import time


from conftest import start_origin
from conftest import binpath, free_port, http, wait_http_ok, wait_until, parse_metrics

T0 = int(time.time()) - 7200
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


def start_edge(procs):
    port = free_port()
    p = procs.start([PY, "-c", FAKE_EDGE, str(port)], name="fake-edge")
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(url + "/healthz")
    return p, url


def put(sluice, store, tmp_path, i, start):
    f = tmp_path / f"seg{i}.bin"
    f.write_bytes(b"\x47" + bytes(f"segment {i}", "ascii") * 40)
    cp = sluice("store", "put", store, "--stream", "cam", "--start", str(start),
                "--duration", "1", "--session", "s", "--json", f, check=0)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def jpost(url, obj, token=None, method="POST"):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return http(method, url, body=json.dumps(obj).encode(), headers=h)


def edges(base):
    st, _, body = http("GET", base + "/api/v1/edges")
    assert st == 200
    return {e["id"]: e for e in json.loads(body)}


def playlist_uris(base, sid, extra=""):
    st, _, body = http("GET", f"{base}/hls/cam/src/live.m3u8?sid={sid}{extra}")
    assert st == 200, body
    text = body.decode()
    mseq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
    uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {mseq + i: u for i, u in enumerate(uris)}


def test_edges_split_viewers_and_failover(procs, store_dir, sluice, tmp_path):
    for i in range(4):
        put(sluice, store_dir, tmp_path, i, T0 + i)
    origin, base = start_origin(procs, store_dir, "--health-interval", "200ms", "--window", "3")
    # no edges yet: the origin's own absolute /seg URIs
    u = playlist_uris(base, "x")
    assert all(v.startswith(base + "/seg/") for v in u.values())

    e1, url1 = start_edge(procs)
    e2, url2 = start_edge(procs)
    st, _, body = jpost(base + "/api/v1/edges", {"id": "e1", "url": url1, "capacity": 100})
    assert st == 201, body
    st, _, body = jpost(base + "/api/v1/edges", {"id": "e2", "url": url2 + "/", "capacity": 100})
    assert st == 201, body
    st, _, body = jpost(base + "/api/v1/edges", {"id": "e2", "url": url2, "capacity": 100})
    assert st == 200, body                       # re-registration
    wait_until(lambda: all(e["healthy"] for e in edges(base).values()) and len(edges(base)) == 2,
               what="both edges healthy")
    e = edges(base)
    assert e["e2"]["url"] == url2 and e["e1"]["state"] == "healthy"

    # new segments after the edges came up are split between them by viewer
    put(sluice, store_dir, tmp_path, 4, T0 + 4)
    listed = {}
    for v in range(40):
        listed[v] = playlist_uris(base, f"viewer{v}")
    new_seq = max(listed[0])
    hosts = {listed[v][new_seq].split("/seg/")[0] for v in listed}
    assert hosts == {url1, url2}

    # master: variant, then redundant copies pinned to the viewer's other edges
    st, _, body = http("GET", base + "/hls/cam/master.m3u8?sid=viewer1")
    text = body.decode()
    assert text.count("#EXT-X-STREAM-INF") == 2
    assert "src/live.m3u8?sid=viewer1\n" in text and "&pin=e" in text
    pin = re.search(r"pin=(e\d)", text).group(1)
    u = playlist_uris(base, "viewer1", f"&pin={pin}")
    assert u[new_seq].startswith({"e1": url1, "e2": url2}[pin])

    # kill e2: within about two intervals it is unhealthy
    t_kill = time.monotonic()
    e2.stop(signal.SIGKILL)
    wait_until(lambda: not edges(base)["e2"]["healthy"], timeout=5, what="e2 unhealthy")
    assert time.monotonic() - t_kill < 3.0
    assert edges(base)["e2"]["state"] == "unhealthy"
    put(sluice, store_dir, tmp_path, 5, T0 + 5)
    put(sluice, store_dir, tmp_path, 6, T0 + 6)
    for v in range(40):
        now = playlist_uris(base, f"viewer{v}")
        for seq, uri in now.items():
            if seq in listed[v]:
                assert listed[v][seq] == uri       # the steering invariant
            else:
                assert uri.startswith(url1 + "/seg/"), uri   # new segments avoid e2
    # drain + remove e1: new segments fall back to the origin itself
    st, _, _ = http("DELETE", base + "/api/v1/edges/e1")
    assert st == 200
    st, _, _ = http("DELETE", base + "/api/v1/edges/e1")
    assert st == 404
    put(sluice, store_dir, tmp_path, 7, T0 + 7)
    u = playlist_uris(base, "viewer0")
    assert u[max(u)].startswith(base + "/seg/")

    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_steering_decisions_total{edge="e1"}'] > 0
    assert m['sluice_origin_steering_decisions_total{edge="e2"}'] > 0
    assert m['sluice_origin_edges{state="unhealthy"}'] == 1
    assert m['sluice_origin_edges{state="healthy"}'] == 0
    assert m['sluice_origin_edge_probes_total{result="fail"}'] >= 2
    assert m['sluice_origin_requests_total{route="edges",status="201"}'] == 2


def test_heartbeats_validation_and_restart(procs, store_dir):
    origin, base = start_origin(procs, store_dir, "--health-interval", "200ms")
    e1, url1 = start_edge(procs)
    bad = [
        {"id": "", "url": url1, "capacity": 1},
        {"id": "a/b", "url": url1, "capacity": 1},
        {"id": "x" * 65, "url": url1, "capacity": 1},
        {"id": "ok", "url": "ftp://h:1", "capacity": 1},
        {"id": "ok", "url": "http://host", "capacity": 1},
        {"id": "ok", "url": "http://host:99999", "capacity": 1},
        {"id": "ok", "url": url1, "capacity": 0},
        {"id": "ok", "url": url1},
    ]
    for b in bad:
        st, _, body = jpost(base + "/api/v1/edges", b)
        assert st == 400, b
        assert "error" in json.loads(body)
    st, _, body = http("POST", base + "/api/v1/edges", body=b"{not json")
    assert st == 400 and "error" in json.loads(body)
    st, _, _ = jpost(base + "/api/v1/edges", {"id": "e1", "url": url1, "capacity": 50})
    assert st == 201
    st, _, _ = jpost(base + "/api/v1/edges", {"id": "gone", "url": "http://127.0.0.1:9",
                                              "capacity": 5})
    assert st == 201
    st, _, body = jpost(base + "/api/v1/edges/nope/heartbeat", {"load": 1}, method="PUT")
    assert st == 404 and "error" in json.loads(body)
    st, _, body = jpost(base + "/api/v1/edges/e1/heartbeat",
                        {"load": 7, "connections": 7, "bytes_per_sec": 1e6, "hit_ratio": 0.9},
                        method="PUT")
    assert st == 200, body
    e = wait_until(lambda: (lambda x: x if x["e1"]["healthy"] else None)(edges(base)),
                   what="e1 healthy")
    assert e["e1"]["load"] == 7 and e["e1"]["capacity"] == 50
    assert e["e1"]["last_heartbeat"].endswith("Z")
    assert e["gone"]["healthy"] is False and e["gone"]["last_heartbeat"] is None
    # heartbeats stop: after 3 intervals the edge is unhealthy although it answers probes
    wait_until(lambda: not edges(base)["e1"]["healthy"], timeout=5, what="stale heartbeat")
    st, _, _ = jpost(base + "/api/v1/edges/e1/heartbeat", {"load": 1}, method="PUT")
    assert st == 200
    assert edges(base)["e1"]["healthy"] is True
    st, _, _ = http("POST", base + "/api/v1/edges/gone/drain")
    assert st == 200
    assert edges(base)["gone"]["state"] == "draining"
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m["sluice_origin_edge_heartbeats_total"] == 2
    assert m['sluice_origin_requests_total{route="heartbeat",status="404"}'] == 1

    # restart: the registry comes back from the store
    assert origin.stop() == 0
    origin, base = start_origin(procs, store_dir, "--health-interval", "200ms")
    e = edges(base)
    assert set(e) == {"e1", "gone"}
    assert e["e1"]["url"] == url1 and e["e1"]["capacity"] == 50
    assert e["gone"]["draining"] is True
    wait_until(lambda: edges(base)["e1"]["healthy"], what="e1 probed healthy after restart")


def test_token_required(procs, store_dir, tmp_path):
    origin, base = start_origin(procs, store_dir, "--token", "s3cret")
    e1 = {"id": "e1", "url": "http://127.0.0.1:9", "capacity": 1}
    for tok in (None, "wrong"):
        st, h, body = jpost(base + "/api/v1/edges", e1, token=tok)
        assert st == 401 and "error" in json.loads(body)
    st, _, _ = jpost(base + "/api/v1/edges", e1, token="s3cret")
    assert st == 201
    st, _, _ = jpost(base + "/api/v1/edges/e1/heartbeat", {"load": 0}, method="PUT")
    assert st == 401
    st, _, _ = http("DELETE", base + "/api/v1/edges/e1")
    assert st == 401
    st, _, _ = http("PUT", base + "/store/v1/blobs/" + "0" * 64, body=b"x")
    assert st == 401
    st, _, _ = http("POST", base + "/store/v1/records", body=b"{}\n")
    assert st == 401
    st, _, _ = http("GET", base + "/api/v1/edges")          # reads stay open
    assert st == 200
    st, _, _ = http("DELETE", base + "/api/v1/edges/e1",
                    headers={"Authorization": "Bearer s3cret"})
    assert st == 200
    # the environment variable works too
    port = free_port()
    p = procs.start([binpath("sluice-origin"), "--listen", f"127.0.0.1:{port}",
                     "--store", tmp_path / "other"], env={"SLUICE_TOKEN": "envtok"})
    b2 = f"http://127.0.0.1:{port}"
    wait_http_ok(b2 + "/healthz")
    assert jpost(b2 + "/api/v1/edges", e1)[0] == 401
    assert jpost(b2 + "/api/v1/edges", e1, token="envtok")[0] == 201
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="edges",status="401"}'] >= 3
