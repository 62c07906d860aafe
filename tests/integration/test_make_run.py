"""`make run`'s script (tools/run.sh) starts the whole system on one box.

Runs tools/run.sh with free ports, small pictures and a temporary data
directory, then checks what a newcomer would: the player page, two edges
registered and healthy, the demo stream's live playlist pointing at the
edges, a segment fetched through an edge with the right hash, the canvas
answering Pixelflut and its snapshot, and a clean stop on Ctrl-C (SIGINT).
"""
import hashlib
import json
import os
import signal
import socket
import subprocess

from conftest import BIN, ROOT, SAN_RE, binpath, free_port, http, metric_sum, parse_metrics, wait_until


def test_make_run_script(tmp_path):
    for b in ("sluice-origin", "sluice-edge", "sluice-ingest", "sluice-canvas"):
        binpath(b)
    ports = {k: free_port() for k in ("ORIGIN_PORT", "EDGE1_PORT", "EDGE2_PORT",
                                       "CANVAS_PORT", "CANVAS_HTTP_PORT")}
    env = dict(os.environ, SLUICE_BIN=BIN, SLUICE_VAR=str(tmp_path / "var"),
               DEMO_SIZE="320x240", CANVAS_SIZE="160x120",
               **{k: str(v) for k, v in ports.items()})
    log = open(tmp_path / "run.log", "wb")
    p = subprocess.Popen(["sh", os.path.join(ROOT, "tools", "run.sh")], env=env,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    o = f"http://127.0.0.1:{ports['ORIGIN_PORT']}"
    try:
        wait_until(lambda: b"Open the player" in (tmp_path / "run.log").read_bytes(),
                   timeout=30, what="run.sh to print the player URL")
        st, _, body = http("GET", o + "/")
        assert st == 200 and b"<html" in body.lower()

        def two_healthy():
            edges = json.loads(http("GET", o + "/api/v1/edges")[2])
            return len([e for e in edges if e["healthy"]]) == 2 and edges
        edges = wait_until(two_healthy, timeout=20, what="two healthy edges")
        edge_urls = {e["url"] for e in edges}
        assert edge_urls == {f"http://127.0.0.1:{ports['EDGE1_PORT']}",
                             f"http://127.0.0.1:{ports['EDGE2_PORT']}"}

        def edge_uris():
            st, _, pl = http("GET", o + "/hls/demo/src/live.m3u8?sid=newcomer")
            if st != 200:
                return None
            uris = [l for l in pl.decode().splitlines() if l.startswith("http")]
            return [u for u in uris if any(u.startswith(e + "/seg/") for e in edge_urls)]
        uris = wait_until(edge_uris, timeout=30, what="demo segments steered to an edge")
        st, _, seg = http("GET", uris[-1])
        assert st == 200 and hashlib.sha256(seg).hexdigest() == uris[-1].rsplit("/", 1)[1][:-3]

        with socket.create_connection(("127.0.0.1", ports["CANVAS_PORT"]), timeout=5) as s:
            s.sendall(b"SIZE\nPX 3 4 00ff00\nPX 3 4\n")
            got = b""
            while got.count(b"\n") < 2:
                chunk = s.recv(256)
                assert chunk, "canvas closed the connection"
                got += chunk
        assert got.splitlines()[:2] == [b"SIZE 160 120", b"PX 3 4 00ff00"]
        st, _, png = http("GET", f"http://127.0.0.1:{ports['CANVAS_HTTP_PORT']}/snapshot.png")
        assert st == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        m = parse_metrics(http("GET", o + "/metrics")[2].decode())
        assert metric_sum(m, "sluice_origin_requests_total") > 0
    finally:
        os.killpg(p.pid, signal.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
        log.close()
    out = (tmp_path / "run.log").read_bytes()
    assert rc == 0, out.decode(errors="replace")
    assert b"sluice: stopping" in out
    # every child is gone: nothing listens on the ports any more
    for port in ports.values():
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
    for name in ("origin", "edge1", "edge2", "ingest", "canvas"):
        text = (tmp_path / "var" / "log" / f"{name}.log").read_bytes()
        assert not SAN_RE.search(text), (name, text[-3000:])
