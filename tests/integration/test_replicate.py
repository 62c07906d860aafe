"""sluice replicate (pull, push, dir->dir), sluice-origin --pull-from, sluice-ingest --push-to.

Real binaries only: origins on real stores, segments put with `sluice store put`,
deletes made with `sluice store gc`, a corrupting HTTP proxy written here (it
forwards to a real origin and flips a byte in blob bodies). Replicas are compared
field by field through `sluice store query --json`, and checked with fsck.
"""
import http.server as httpserver
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import (SAN_RE, binpath, free_port, http, metric_sum, parse_metrics,
                      start_origin, wait_until)

DAY = 86400


def put(sluice, store, stream, start, size=3000, variant="src"):
    data = os.urandom(size)
    path = store.parent / f"seg-{stream}-{start}.ts"
    path.write_bytes(data)
    cp = sluice("store", "put", store, "--stream", stream, "--variant", variant,
                "--start", str(start), "--duration", "2s", "--session", "s1", path, check=0)
    path.unlink()
    return cp.stdout.strip()


def records(sluice, store, streams=("cam1", "cam2")):
    out = []
    for s in streams:
        cp = sluice("store", "query", store, "--stream", s, "--json")
        if cp.returncode == 0:
            out += [json.loads(line) for line in cp.stdout.splitlines() if line.strip()]
    return sorted(out, key=lambda r: (r["stream"], r["variant"], r["start_us"]))


def fsck_clean(sluice, store):
    cp = sluice("store", "fsck", store)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "0 bad hash, 0 missing blob, 0 bad refcount" in cp.stdout, cp.stdout


def replicate(sluice, *args, check=0):
    cp = sluice("replicate", *args, "--json", check=check)
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    return cp, (json.loads(lines[-1]) if lines else None)


def metrics(base):
    st, _, body = http("GET", base + "/metrics")
    assert st == 200
    return parse_metrics(body.decode())


def init(sluice, tmp_path, name):
    d = tmp_path / name
    sluice("store", "init", d, check=0)
    return d


@pytest.fixture
def src_store(tmp_path, sluice):
    """Store A: cam1 with 3 old (gc'd: tombstones) + 3 recent records, cam2 with 4."""
    a = init(sluice, tmp_path, "A")
    now = int(time.time())
    for i in range(3):
        put(sluice, a, "cam1", now - 3 * DAY + 2 * i)
    for i in range(3):
        put(sluice, a, "cam1", now - 600 + 2 * i)
    for i in range(4):
        put(sluice, a, "cam2", now - 600 + 2 * i, variant="720p")
    cp = sluice("store", "gc", a, "--older-than", "2d", "--stream", "cam1", check=0)
    assert "removed 3 records" in cp.stdout, cp.stdout
    return a


def test_pull_rerun_filters_and_dir_copy(tmp_path, sluice, procs, src_store):
    _, url = start_origin(procs, src_store)
    want = records(sluice, src_store)
    assert len(want) == 7
    b = tmp_path / "B"  # created by replicate
    _, st = replicate(sluice, url + "/", b)
    assert st["records"] == 7 and st["blobs"] == 7 and st["bad_hash"] == 0
    assert st["skipped"] == 3            # puts of the gc'd records: blobs gone at the source
    assert st["cursor"] == st["source_last_seq"] == 13   # 10 puts + 3 deletes
    assert records(sluice, b) == want    # field by field: seq, session, node kept
    fsck_clean(sluice, b)
    # Again: nothing new, cursor kept.
    _, st = replicate(sluice, url, b)
    assert st["records"] == 0 and st["blobs"] == 0 and st["cursor"] == 13
    m = metrics(url)
    assert m.get('sluice_origin_requests_total{route="store_blobs",status="200"}', 0) >= 7
    assert m.get('sluice_origin_requests_total{route="store_changes",status="200"}', 0) >= 2
    # Filters: --stream, and a time range holding two records of each stream.
    b2 = tmp_path / "B2"
    _, st = replicate(sluice, url, b2, "--stream", "cam2")
    assert st["records"] == 4 and st["cursor"] == 13
    assert records(sluice, b2) == [r for r in want if r["stream"] == "cam2"]
    cam2 = [r for r in want if r["stream"] == "cam2"]
    t0 = cam2[0]["start_us"] // 1000000
    b3 = tmp_path / "B3"
    _, st = replicate(sluice, url, b3, "--from", str(t0), "--to", str(t0 + 4))
    lo, hi = t0 * 1000000, (t0 + 4) * 1000000
    inrange = [r for r in want if r["start_us"] < hi and r["start_us"] + r["duration_us"] > lo]
    assert len(inrange) == 4 and records(sluice, b3) == inrange   # 2 of cam1, 2 of cam2
    # dir -> dir copy (backup), and again.
    b4 = tmp_path / "B4"
    _, st = replicate(sluice, src_store, b4)
    assert st["records"] == 7 and records(sluice, b4) == want
    _, st = replicate(sluice, src_store, b4)
    assert st["records"] == 0
    fsck_clean(sluice, b4)


def test_usage_errors(tmp_path, sluice):
    cp = sluice("replicate", "http://127.0.0.1:1", "http://127.0.0.1:2")
    assert cp.returncode == 2 and "one side must be a local store" in cp.stderr
    cp = sluice("replicate", "onlyone")
    assert cp.returncode == 2
    cp = sluice("replicate", tmp_path / "nope", tmp_path / "B")
    assert cp.returncode == 1 and "nope" in cp.stderr
    # Nobody listening: bounded retries, exit 1 naming the URL.
    port = free_port()
    t = time.monotonic()
    cp = sluice("replicate", f"http://127.0.0.1:{port}", tmp_path / "B", "--retries", "2")
    assert cp.returncode == 1 and f"127.0.0.1:{port}" in cp.stderr
    assert "gave up after 3 attempts" in cp.stderr
    assert time.monotonic() - t < 10


def test_follow_kill_and_resume(tmp_path, sluice, procs, src_store):
    _, url = start_origin(procs, src_store)
    b = tmp_path / "B"
    fol = procs.start([binpath("sluice"), "replicate", url, b, "--follow", "--batch", "2"],
                      name="follower")
    wait_until(lambda: len(records(sluice, b)) == 7, timeout=20, what="initial copy")
    now = int(time.time())
    for i in range(3):
        put(sluice, src_store, "cam2", now + 2 * i, variant="720p")
    t = time.monotonic()
    wait_until(lambda: len(records(sluice, b)) == 10, timeout=10, what="followed puts")
    assert time.monotonic() - t < 5
    # kill -9 while it copies a longer backlog in batches of 2
    for i in range(20):
        put(sluice, src_store, "cam1", now + 2 * i, size=20000)
    wait_until(lambda: len(records(sluice, b)) > 11, timeout=20, what="partial copy")
    fol.signal(signal.SIGKILL)
    fol.wait()
    n_before = len(records(sluice, b))
    cp, st = replicate(sluice, url, b)
    assert st["records"] == 30 - n_before
    assert records(sluice, b) == records(sluice, src_store)   # no duplicates, same fields
    fsck_clean(sluice, b)
    # A follower stops cleanly on SIGTERM.
    fol2 = procs.start([binpath("sluice"), "replicate", url, b, "--follow"], name="follower2")
    put(sluice, src_store, "cam2", now + 100, variant="720p")
    wait_until(lambda: len(records(sluice, b)) == 31, timeout=10, what="follow after restart")
    fol2.signal(signal.SIGTERM)
    assert fol2.wait(timeout=10) == 0
    m = metrics(url)
    assert m.get("sluice_origin_changes_long_polls_total", 0) >= 1


class CorruptingProxy(httpserver.ThreadingHTTPServer):
    daemon_threads = True


def make_proxy(upstream):
    counts = {"flipped": 0}

    class H(httpserver.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            st, hdrs, body = http("GET", upstream + self.path, timeout=30)
            if self.path.startswith("/store/v1/blobs/") and st == 200 and body:
                body = bytes([body[0] ^ 0x01]) + body[1:]
                counts["flipped"] += 1
            self.send_response(st)
            for k in ("content-type", "x-sluice-last-seq"):
                if k in hdrs:
                    self.send_header(k, hdrs[k])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = CorruptingProxy(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}", counts


def test_corrupting_proxy_refused(tmp_path, sluice, procs, src_store):
    _, url = start_origin(procs, src_store)
    srv, purl, counts = make_proxy(url)
    try:
        b = tmp_path / "B"
        cp, st = replicate(sluice, purl, b, "--retries", "1", check=1)
        assert counts["flipped"] >= 2
        assert st["bad_hash"] >= 2 and st["records"] == 0
        first = records(sluice, src_store)[0]["cid"]
        line = [ln for ln in cp.stderr.splitlines() if ln.startswith("sluice: replicate:")]
        assert len(line) == 1, cp.stderr
        assert "hash mismatch" in line[0] and first in line[0], cp.stderr
        assert records(sluice, b) == []
        assert not [p for p in (b / "blobs").rglob("*") if p.is_file()], "corrupt bytes stored"
        fsck_clean(sluice, b)
    finally:
        srv.shutdown()
        srv.server_close()
    # Through the real origin afterwards: everything arrives.
    _, st = replicate(sluice, url, b)
    assert st["records"] == 7 and records(sluice, b) == records(sluice, src_store)


def test_push_with_token(tmp_path, sluice, procs, src_store):
    c = init(sluice, tmp_path, "C")
    _, url2 = start_origin(procs, c, "--token", "s3cret")
    cp, st = replicate(sluice, src_store, url2, "--token", "wrong", check=1)
    assert "401" in cp.stderr and "bearer token" in cp.stderr
    assert records(sluice, c) == []
    exe = binpath("sluice")
    cp = subprocess.run([exe, "replicate", src_store, url2, "--json"], capture_output=True,
                        text=True, timeout=60, env=dict(os.environ, SLUICE_TOKEN="s3cret"))
    assert not SAN_RE.search(cp.stderr.encode()), cp.stderr
    assert cp.returncode == 0, cp.stderr
    st = json.loads(cp.stdout.splitlines()[-1])
    assert st["records"] == 7 and st["blobs"] == 7 and st["cursor"] == 13
    assert records(sluice, c) == records(sluice, src_store)
    # Again: HEADs only, nothing new.
    _, st = replicate(sluice, src_store, url2, "--token", "s3cret")
    assert st["records"] == 0 and st["blobs"] == 0
    m = metrics(url2)
    assert m.get('sluice_origin_requests_total{route="store_blobs",status="401"}', 0) >= 1
    assert m.get('sluice_origin_requests_total{route="store_blobs",status="201"}', 0) == 7
    assert m.get('sluice_origin_requests_total{route="store_records",status="200"}', 0) >= 1
    fsck_clean(sluice, c)


def test_origin_pull_from(tmp_path, sluice, procs, src_store):
    _, url = start_origin(procs, src_store)
    d = init(sluice, tmp_path, "D")
    _, url_d = start_origin(procs, d, "--pull-from", url)
    wait_until(lambda: len(records(sluice, d)) == 7, timeout=15, what="initial pull")
    now = int(time.time())
    for i in range(5):
        put(sluice, src_store, "cam1", now + 2 * i)
    wait_until(lambda: records(sluice, d) == records(sluice, src_store), timeout=10,
               what="origin --pull-from convergence")
    m = metrics(url_d)
    assert metric_sum(m, "sluice_replicate_records_total") == 12
    assert metric_sum(m, "sluice_replicate_blobs_total") == 12
    wait_until(lambda: metric_sum(metrics(url_d), "sluice_replicate_cursor") == 18,
               timeout=5, what="cursor gauge")
    # The pulled records are served by D like its own.
    st, _, body = http("GET", url_d + "/api/v1/streams")
    assert st == 200 and {s["stream"] for s in json.loads(body)} == {"cam1", "cam2"}
    fsck_clean(sluice, d)


def test_ingest_push_to(tmp_path, sluice, procs):
    from test_ingest_util import make_mp4
    mp4 = make_mp4(tmp_path / "short.mp4", seconds=3)
    e = init(sluice, tmp_path, "E")
    _, url = start_origin(procs, e, "--token", "tok")
    f = tmp_path / "F"
    cp = subprocess.run([binpath("sluice-ingest"), "--input", mp4, "--stream", "cam1",
                         "--store", f, "--segment", "1s", "--push-to", url],
                        capture_output=True, text=True, timeout=120,
                        env=dict(os.environ, SLUICE_TOKEN="tok"))
    assert not SAN_RE.search(cp.stderr.encode()), cp.stderr[-4000:]
    assert cp.returncode == 0, cp.stderr[-4000:]
    local = records(sluice, f, ("cam1",))
    assert len(local) >= 2
    assert records(sluice, e, ("cam1",)) == local
    m = metrics(url)
    assert m.get('sluice_origin_requests_total{route="store_records",status="200"}', 0) >= 1
    fsck_clean(sluice, e)
