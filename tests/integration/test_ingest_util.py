"""Helpers shared by the test_ingest_*.py files (no tests here).

Media inputs are made with the ffmpeg CLI at small sizes (320x240, 1 s GOP,
ultrafast) to keep CPU low on a 2-core machine.
"""
import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import binpath, free_port, http, parse_metrics, wait_until  # noqa: F401


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")


def make_mp4(path, seconds=10, size="320x240", rate=30, audio=True):
    """H.264 + AAC MP4 with a 1 s GOP, made once per path."""
    need("ffmpeg")
    if os.path.exists(path):
        return path
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
             "-g", str(rate), "-keyint_min", str(rate), "-sc_threshold", "0",
             "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += [str(path)]
    subprocess.run(args, check=True, timeout=60)
    return path


def ffprobe_duration(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return float(out.strip())


def decodable(path):
    cp = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null",
                         "-"], capture_output=True, text=True, timeout=60)
    return cp.returncode == 0 and "error" not in cp.stderr.lower(), cp.stderr


def query(sluice, store, stream, variant="src"):
    """Records of stream/variant as dicts, ascending by start."""
    cp = sluice("store", "query", store, "--stream", stream, "--variant", variant, "--json")
    if cp.returncode != 0:
        return []
    recs = [json.loads(line) for line in cp.stdout.splitlines() if line.strip()]
    return sorted(recs, key=lambda r: r["start_us"])


def blob_path(store, cid):
    return os.path.join(str(store), "blobs", cid[:2], cid)


def check_contiguous(recs, tol_us=5000):
    for a, b in zip(recs, recs[1:]):
        if a["session"] != b["session"]:
            continue
        assert abs(a["start_us"] + a["duration_us"] - b["start_us"]) <= tol_us, (a, b)
        assert b["seq"] > a["seq"]


def metrics_of(port):
    st, _, body = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert st == 200
    return parse_metrics(body.decode())


def ingest_args(store, stream, inp, *extra):
    return [binpath("sluice-ingest"), "--input", inp, "--stream", stream,
            "--store", store, "--preset", "ultrafast", *extra]


def stop_ok(proc, timeout=20):
    """SIGTERM and expect exit 0."""
    proc.signal(signal.SIGTERM)
    rc = proc.wait(timeout=timeout)
    assert rc == 0, proc.output()[-3000:].decode(errors="replace")
