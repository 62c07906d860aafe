"""sluice-canvas as a live stream: H.264 segments in the store, served by a
real sluice-origin as HLS, SIGTERM finishing the open segment; --wipe-every
with --wipe-image. Real binaries, real store, real FFmpeg."""
import json
import struct
import zlib
import os
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import (binpath, free_port, http, metric_sum, parse_metrics, start_origin,
                      wait_http_ok, wait_until)

W, H = 320, 240


def start_canvas(procs, store, *extra):
    px, hp = free_port(), free_port()
    p = procs.start([binpath("sluice-canvas"), "--listen", f"127.0.0.1:{px}",
                     "--http", f"127.0.0.1:{hp}", "--store", store, "--size", f"{W}x{H}",
                     "--fps", "10", "--segment", "1s", "--threads", "1", *extra])
    base = f"http://127.0.0.1:{hp}"
    wait_http_ok(base + "/healthz")
    return p, px, base


def metrics(base):
    return parse_metrics(http("GET", base + "/metrics")[2].decode())


def query(sluice, store):
    cp = sluice("store", "query", store, "--stream", "canvas", "--json")
    if cp.returncode != 0:
        return []
    return [json.loads(x) for x in cp.stdout.splitlines() if x.strip()]


def blob_path(store, cid):
    return os.path.join(str(store), "blobs", cid[:2], cid)


def probe(path):
    cp = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                         "stream=codec_name,width,height", "-of", "csv=p=0", str(path)],
                        capture_output=True, text=True, timeout=30)
    return cp.stdout.strip().splitlines()[0] if cp.stdout.strip() else ""


def decodable(path):
    cp = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null",
                         "-"], capture_output=True, text=True, timeout=60)
    return cp.returncode == 0 and "error" not in cp.stderr.lower()


def paint(port, lines):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(lines.encode() + b"SIZE\n")
        s.recv(100)


def png_rgb(w, h, rgb):
    """A minimal truecolour PNG of one colour (exact bytes, no lossy step)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\x00" + rgb * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def need_ffmpeg():
    if shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg/ffprobe missing")


def test_segments_in_store_and_served_by_origin(procs, store_dir, sluice, need_ffmpeg):
    canvas, px, base = start_canvas(procs, store_dir)
    paint(px, "".join(f"PX {x} {x % H} ff0000\n" for x in range(W)))
    recs = wait_until(lambda: (lambda r: r if len(r) >= 3 else None)(query(sluice, store_dir)),
                      timeout=20, what="3 canvas segments")
    recs.sort(key=lambda r: r["start_us"])
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    assert recs[0]["discontinuity"] and not any(r["discontinuity"] for r in recs[1:])
    for a, b in zip(recs, recs[1:]):
        assert abs(a["start_us"] + a["duration_us"] - b["start_us"]) < 5000
    for r in recs[:3]:
        assert r["variant"] == "src" and r["width"] == W and r["height"] == H
        assert r["codecs"].startswith("avc1.")
        if metric_sum(metrics(base), "sluice_canvas_frames_skipped_total") == 0:
            assert 900000 <= r["duration_us"] <= 1100000
        else:
            # The encoder fell behind (a loaded machine) and skipped frames: a
            # segment then ends at the first frame encoded after the grid
            # point, so it may run long, but never past the next grid point.
            assert 900000 <= r["duration_us"] <= 2100000
        assert probe(blob_path(store_dir, r["cid"])) == f"h264,{W},{H}"
        assert decodable(blob_path(store_dir, r["cid"]))
    m = metrics(base)
    assert m["sluice_canvas_frames_total"] >= 25
    assert metric_sum(m, "sluice_ingest_segments_total") >= 3

    # a real origin on the same store serves the canvas like a camera
    _, obase = start_origin(procs, store_dir)
    st, _, body = http("GET", obase + "/hls/canvas/src/live.m3u8")
    assert st == 200, body
    text = body.decode()
    assert text.startswith("#EXTM3U") and "#EXTINF" in text
    uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert uris
    known = {r["cid"] for r in query(sluice, store_dir)}
    assert any(c in u for u in uris for c in known), (uris, known)
    seg_url = uris[-1] if uris[-1].startswith("http") else \
        obase + "/hls/canvas/src/" + uris[-1] if not uris[-1].startswith("/") else obase + uris[-1]
    st, _, seg = http("GET", seg_url)
    assert st == 200 and seg[:1] == b"\x47"          # MPEG-TS sync byte
    om = parse_metrics(http("GET", obase + "/metrics")[2].decode())
    assert metric_sum(om, "sluice_origin_requests_total") >= 2

    # SIGTERM: the open segment is stored, exit 0
    n_before = len(query(sluice, store_dir))
    assert canvas.stop(signal.SIGTERM, timeout=20) == 0
    after = query(sluice, store_dir)
    assert len(after) > n_before
    last = max(after, key=lambda r: r["start_us"])
    assert decodable(blob_path(store_dir, last["cid"]))
    assert b"finishing the current segment" in canvas.output()


def test_wipe_image(procs, store_dir, tmp_path, need_ffmpeg):
    img = tmp_path / "wipe.png"
    img.write_bytes(png_rgb(64, 48, b"\x20\x40\x60"))    # exact colour, scaled up 5x
    _, px, base = start_canvas(procs, store_dir, "--wipe-every", "1s", "--wipe-image", img)
    with socket.create_connection(("127.0.0.1", px), timeout=10) as s:
        s.sendall(b"PX 5 5\n")
        assert s.recv(100) == b"PX 5 5 204060\n"      # loaded (and scaled) at start
        s.sendall(b"PX 5 5 ffffff\nPX 5 5\n")
        assert s.recv(100) == b"PX 5 5 ffffff\n"

        def wiped():
            s.sendall(b"PX 5 5\n")
            return s.recv(100) == b"PX 5 5 204060\n"
        wait_until(wiped, timeout=10, interval=0.2, what="wipe back to the image")
    assert metrics(base)["sluice_canvas_wipes_total"] >= 1


def test_bad_usage(procs, tmp_path):
    exe = binpath("sluice-canvas")
    for args in (["--listen", "127.0.0.1:1"], ["--store", str(tmp_path), "--size", "0x5"],
                 ["--store", str(tmp_path), "--fps", "0"], ["--store", str(tmp_path), "x"]):
        cp = subprocess.run([exe, *args], capture_output=True, text=True, timeout=20)
        assert cp.returncode == 2, (args, cp.stderr)
    cp = subprocess.run([exe, "--store", str(tmp_path / "s"), "--wipe-image",
                         str(tmp_path / "missing.png"), "--listen", f"127.0.0.1:{free_port()}",
                         "--http", f"127.0.0.1:{free_port()}"],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode == 1 and "missing.png" in cp.stderr


def test_push_to_origin(procs, store_dir, tmp_path, sluice):
    dst = tmp_path / "dst"
    sluice("store", "init", dst, check=0)
    _, obase = start_origin(procs, dst, "--token", "s3cret")
    px, hp = free_port(), free_port()
    canvas = procs.start([binpath("sluice-canvas"), "--listen", f"127.0.0.1:{px}",
                          "--http", f"127.0.0.1:{hp}", "--store", store_dir,
                          "--size", "64x48", "--fps", "10", "--segment", "1s",
                          "--threads", "1", "--push-to", obase],
                         env={"SLUICE_TOKEN": "s3cret"})
    wait_http_ok(f"http://127.0.0.1:{hp}/healthz")
    wait_until(lambda: len(query(sluice, dst)) >= 2, timeout=20, what="pushed segments")
    m = metrics(f"http://127.0.0.1:{hp}")
    assert metric_sum(m, "sluice_replicate_records_total") >= 2
    assert metric_sum(m, "sluice_replicate_blobs_total") >= 2
    assert canvas.stop(signal.SIGTERM, timeout=40) == 0      # drains the pusher
    src = {r["cid"] for r in query(sluice, store_dir)}
    assert src and src == {r["cid"] for r in query(sluice, dst)}
    om = parse_metrics(http("GET", obase + "/metrics")[2].decode())
    assert metric_sum(om, "sluice_origin_requests_total") >= 1
