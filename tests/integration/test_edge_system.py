"""bin/sluice-edge with the real origin (and ingest): membership and end to end."""
import json
import shutil
import signal
import subprocess

import pytest

from conftest import start_origin
from conftest import binpath, free_port, http, metric_sum, parse_metrics, wait_http_ok, wait_until


def start_edge(procs, upstream, *extra):
    port = free_port()
    p = procs.start([binpath("sluice-edge"), "--listen", f"127.0.0.1:{port}",
                     "--upstream", upstream, "--threads", "1", *extra])
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(base + "/healthz")
    return p, base, port


def edges(base):
    st, _, body = http("GET", base + "/api/v1/edges", timeout=3)
    assert st == 200
    return {e["id"]: e for e in json.loads(body)}


def edge_metrics(base):
    st, _, body = http("GET", base + "/metrics")
    assert st == 200
    return parse_metrics(body.decode())


def test_register_heartbeat_deregister(procs, store_dir):
    binpath("sluice-origin")
    oport = free_port()
    obase = f"http://127.0.0.1:{oport}"
    # The edge starts first: registration retries in the background, serving does not wait.
    edge, base, port = start_edge(procs, obase, "--origin", obase, "--id", "edge-a",
                                  "--capacity", "77", "--token", "tok")
    assert http("GET", base + "/healthz")[0] == 200
    _, obase = start_origin(procs, store_dir, "--health-interval", "200ms", "--token", "tok",
                            port=oport)

    def registered():
        e = edges(obase).get("edge-a")
        return e if e and e.get("last_heartbeat") and e["healthy"] else None
    e = wait_until(registered, timeout=20, what="edge registered with heartbeats")
    assert e["url"].rstrip("/") == f"http://127.0.0.1:{port}"
    assert e["capacity"] == 77
    assert "connections" in e and "hit_ratio" in e
    ms = edge_metrics(base)
    assert metric_sum(ms, "sluice_edge_requests_total") >= 1  # the origin's probes
    edge.signal(signal.SIGTERM)
    assert edge.wait(15) == 0
    out = edge.output().decode(errors="replace")
    assert "deregistered" in out

    def gone():
        e = edges(obase).get("edge-a")
        return e is None or e.get("draining")
    wait_until(gone, timeout=10, what="edge deregistered")


def test_end_to_end_ffmpeg_through_edge(procs, store_dir):
    binpath("sluice-origin")
    ingest = binpath("sluice-ingest")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    oport = free_port()
    obase = f"http://127.0.0.1:{oport}"
    _, base, _ = start_edge(procs, obase, "--origin", obase, "--id", "edge-e2e")
    _, obase = start_origin(procs, store_dir, "--health-interval", "200ms", port=oport)
    wait_until(lambda: edges(obase).get("edge-e2e", {}).get("healthy"), timeout=20,
               what="edge healthy at the origin")
    procs.start([ingest, "--input", "lavfi:testsrc2=size=320x240:rate=15", "--stream", "e2e",
                 "--store", store_dir, "--segment", "1s", "--preset", "ultrafast"])
    playlist = f"{obase}/hls/e2e/src/live.m3u8"

    def enough_segments():
        st, _, body = http("GET", playlist, timeout=3)
        return st == 200 and body.decode().count("#EXTINF") >= 3
    wait_until(enough_segments, timeout=30, what="3 segments in the live playlist")
    _, _, body = http("GET", playlist)
    assert base in body.decode()  # segment URIs point at the edge
    cp = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", playlist,
                         "-t", "10", "-f", "null", "-"], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert "rror" not in cp.stderr, cp.stderr
    ms = edge_metrics(base)
    served = ms.get('sluice_edge_requests_total{status="200"}', 0)
    assert served >= 5
    assert ms.get("sluice_edge_upstream_requests_total", 0) >= 5
    assert ms.get("sluice_edge_verify_failures_total", 0) == 0
    assert ms.get("sluice_edge_bytes_sent_total", 0) > 0
