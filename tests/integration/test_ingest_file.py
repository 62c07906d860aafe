"""sluice-ingest on files: segments, records, transcode ladder, errors."""
import os
import subprocess

import pytest

from conftest import SAN_RE, binpath
from test_ingest_util import (blob_path, check_contiguous, decodable, ffprobe_duration,
                              ingest_args, make_mp4, query)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {"mp4": make_mp4(d / "test.mp4", seconds=10),
            "short": make_mp4(d / "short.mp4", seconds=4)}


def run_ingest(args, timeout=120):
    cp = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                        timeout=timeout)
    if SAN_RE.search(cp.stderr.encode()):
        pytest.fail(f"sanitizer report from {args}:\n{cp.stderr[-6000:]}")
    return cp


def test_file_to_store(tmp_path, sluice, media):
    store = tmp_path / "newstore"  # created by ingest (STORE_OPEN_CREATE)
    cp = run_ingest(ingest_args(store, "cam1", media["mp4"], "--tenant", "acme",
                                "--device", "door"))
    assert cp.returncode == 0, cp.stderr
    recs = query(sluice, store, "cam1")
    assert len(recs) == 5, recs
    check_contiguous(recs)
    total = sum(r["duration_us"] for r in recs) / 1e6
    assert abs(total - ffprobe_duration(media["mp4"])) <= 0.2
    assert recs[0]["discontinuity"] is True
    assert all(r["discontinuity"] is False for r in recs[1:])
    assert len({r["session"] for r in recs}) == 1
    for r in recs:
        assert r["codecs"].startswith("avc1.") and r["codecs"].endswith(",mp4a.40.2")
        assert (r["width"], r["height"]) == (320, 240)
        assert r["bandwidth"] > 0
        assert r["tenant"] == "acme" and r["device"] == "door"
        p = blob_path(store, r["cid"])
        assert os.path.getsize(p) == r["size"]
        ok, err = decodable(p)
        assert ok, err
    # the first segment starts with a keyframe and carries SPS/PPS in-band
    first = blob_path(store, recs[0]["cid"])
    cp = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                         "-show_entries", "frame=key_frame", "-read_intervals", "%+#1",
                         "-of", "csv=p=0", first], capture_output=True, text=True, timeout=30)
    assert cp.stdout.strip().splitlines()[0].strip(",") == "1", cp.stdout


def test_file_twice_is_new_session(tmp_path, sluice, media):
    store = tmp_path / "s"
    for _ in range(2):
        assert run_ingest(ingest_args(store, "again", media["short"])).returncode == 0
    recs = query(sluice, store, "again")
    sessions = []
    for r in recs:
        if r["session"] not in sessions:
            sessions.append(r["session"])
    assert len(sessions) == 2
    firsts = [next(r for r in recs if r["session"] == s) for s in sessions]
    assert all(r["discontinuity"] for r in firsts)
    seqs = [r["seq"] for r in recs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_transcode_ladder(tmp_path, sluice, media):
    store = tmp_path / "s"
    cp = run_ingest(ingest_args(store, "lad", media["short"], "--transcode", "720p,360p"))
    assert cp.returncode == 0, cp.stderr
    src = query(sluice, store, "lad", "src")
    v720 = query(sluice, store, "lad", "720p")
    v360 = query(sluice, store, "lad", "360p")
    assert len(src) == 2 and len(v720) == 2 and len(v360) == 2, (src, v720, v360)
    assert [r["start_us"] for r in v720] == [r["start_us"] for r in src]
    assert [r["start_us"] for r in v360] == [r["start_us"] for r in src]
    assert [r["duration_us"] for r in v360] == [r["duration_us"] for r in src]
    assert (v720[0]["width"], v720[0]["height"]) == (960, 720)
    assert (v360[0]["width"], v360[0]["height"]) == (480, 360)
    for r in v720 + v360:
        assert r["codecs"].startswith("avc1.") and "mp4a.40.2" in r["codecs"]
        assert r["bandwidth"] > 0
        ok, err = decodable(blob_path(store, r["cid"]))
        assert ok, err
    cp = sluice("store", "stats", store)
    assert cp.returncode == 0


def test_corrupt_and_missing_input(tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(4096))
    cp = run_ingest(ingest_args(tmp_path / "s", "bad", bad))
    assert cp.returncode == 1
    assert "open input" in cp.stderr or "probe input" in cp.stderr, cp.stderr
    assert str(bad) in cp.stderr
    cp = run_ingest(ingest_args(tmp_path / "s", "bad", tmp_path / "missing.mp4"))
    assert cp.returncode == 1
    assert "No such file" in cp.stderr, cp.stderr


def test_bad_flags(tmp_path):
    exe = binpath("sluice-ingest")
    for args in ([], ["--stream", "x"], ["--bogus"],
                 ["--input", "a", "--stream", "bad name", "--store", tmp_path],
                 ["--input", "a", "--stream", "x", "--store", tmp_path, "--segment", "zz"],
                 ["--input", "a", "--stream", "x", "--store", tmp_path, "--transcode", "7"]):
        cp = run_ingest([exe] + args)
        assert cp.returncode == 2, (args, cp.stderr)
        assert "usage" in cp.stderr
    cp = run_ingest([exe, "--input", "a", "--stream", "x", "--store", tmp_path,
                     "--push-to", "ftp://127.0.0.1:1/"])
    assert cp.returncode == 2
    assert "--push-to" in cp.stderr
