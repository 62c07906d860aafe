"""sluice export: store and origin sources, trimming, discontinuities, verification.

Segments come from a real bin/sluice-ingest run on a 6 s file (1 s segments);
the origin is a real bin/sluice-origin; the MP4 is judged with ffprobe/ffmpeg.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import start_origin
from conftest import SAN_RE, binpath, free_port, http, metric_sum, parse_metrics

US = 1_000_000
FAR_FUTURE = "4000000000"


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A 6 s H.264+AAC file ingested into a store as stream "cam" (1 s segments)."""
    need("ffmpeg")
    need("ffprobe")
    d = tmp_path_factory.mktemp("export")
    src = d / "in.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine", "-t", "6", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "25", "-c:a", "aac", str(src)],
                   check=True, timeout=60)
    store = d / "store"
    cp = subprocess.run([binpath("sluice-ingest"), "--input", str(src), "--stream", "cam",
                         "--store", str(store), "--segment", "1s"],
                        capture_output=True, text=True, timeout=60)
    if SAN_RE.search(cp.stderr.encode()):
        pytest.fail(f"sanitizer report from sluice-ingest:\n{cp.stderr[-6000:]}")
    assert cp.returncode == 0, cp.stderr[-3000:]
    return {"dir": d, "store": store, "recs": records(store, "cam")}


def records(store, stream):
    cp = subprocess.run([binpath("sluice"), "store", "query", str(store), "--stream", stream,
                         "--json"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return sorted((json.loads(x) for x in cp.stdout.splitlines() if x.strip()),
                  key=lambda r: r["start_us"])


def secs(us):
    return f"{us // US}.{us % US:06d}"


def probe(path):
    cp = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                         "format=duration,format_name:stream=codec_type,codec_name",
                         "-of", "json", str(path)], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


def check_mp4(path, want_s, tol=1.0):
    """Duration within tol of want_s, H.264 video present, decodes cleanly, faststart."""
    assert os.path.exists(path)
    assert not os.path.exists(str(path) + ".tmp")
    info = probe(path)
    assert "mp4" in info["format"]["format_name"]
    dur = float(info["format"]["duration"])
    assert abs(dur - want_s) <= tol, (dur, want_s)
    kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert kinds.get("video") == "h264", kinds
    assert kinds.get("audio") == "aac", kinds
    cp = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and cp.stderr == "", cp.stderr
    head = open(path, "rb").read(1 << 16)
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 1 << 16)
    return dur


def test_export_from_store_trims_to_range(media, sluice, tmp_path):
    recs = media["recs"]
    assert len(recs) == 6, recs
    frm = recs[1]["start_us"] + 200_000          # inside segment 1: starts at its keyframe
    to = frm + 3 * US
    out = tmp_path / "range.mp4"
    cp = sluice("export", "--store", media["store"], "--stream", "cam", "--from", secs(frm),
                "--to", secs(to), "-o", out)
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr == ""
    dur = check_mp4(out, 3.0)
    assert dur >= 3.0 - 0.1                      # never shorter than asked (keyframe before)

    # the whole recording, default variant, times as RFC 3339 / relative forms
    whole = tmp_path / "whole.mp4"
    sluice("export", "--store", media["store"], "--stream", "cam", "--variant", "src",
           "--from", "-1d", "--to", FAR_FUTURE, "-o", whole, check=0)
    check_mp4(whole, 6.0, tol=0.3)


def test_export_from_origin_verifies_and_matches_store(media, procs, sluice, tmp_path):
    _, base = start_origin(procs, media["store"])
    recs = media["recs"]
    frm, to = recs[2]["start_us"], recs[2]["start_us"] + 2 * US
    out = tmp_path / "origin.mp4"
    cp = sluice("export", "--origin", base + "/", "--stream", "cam", "--from", secs(frm),
                "--to", secs(to), "-o", out)
    assert cp.returncode == 0, cp.stderr
    dur = check_mp4(out, 2.0)
    ref = tmp_path / "store.mp4"
    sluice("export", "--store", media["store"], "--stream", "cam", "--from", secs(frm),
           "--to", secs(to), "-o", ref, check=0)
    assert abs(float(probe(ref)["format"]["duration"]) - dur) < 0.05

    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    # two segments (and possibly the one that merely touches `to`) were served
    assert metric_sum(m, "sluice_origin_segment_bytes_total") >= \
        recs[2]["size"] + recs[3]["size"]


def test_export_discontinuity_is_continuous(media, sluice, store_dir, tmp_path):
    """Two sessions far apart in wall time, the second replaying the same bytes."""
    recs = media["recs"][:3]
    for session, base_s in (("a", 1_000), ("b", 5_000)):
        for i, r in enumerate(recs):
            blob = media["store"] / "blobs" / r["cid"][:2] / r["cid"]
            sluice("store", "put", store_dir, "--stream", "two", "--start", str(base_s + i),
                   "--duration", "1s", "--session", session, blob, check=0)
    two = records(store_dir, "two")
    assert [r["discontinuity"] for r in two] == [True, False, False, True, False, False]
    out = tmp_path / "two.mp4"
    sluice("export", "--store", store_dir, "--stream", "two", "--from", "900",
           "--to", "6000", "-o", out, check=0)
    check_mp4(out, 6.0, tol=0.3)                 # not 4000 s of gap, not overlapping
    cp = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                         "packet=dts_time", "-of", "csv=p=0", str(out)],
                        capture_output=True, text=True, timeout=30)
    dts = [float(x) for x in cp.stdout.split()]
    assert len(dts) == 150 and all(b > a for a, b in zip(dts, dts[1:]))


def test_export_empty_range_and_bad_usage(media, sluice, tmp_path):
    out = tmp_path / "none.mp4"
    cp = sluice("export", "--store", media["store"], "--stream", "cam", "--from", "1000",
                "--to", "2000", "-o", out)
    assert cp.returncode == 1
    assert cp.stderr.strip() == \
        'sluice: export: no segments of stream "cam" variant "src" in range'
    cp = sluice("export", "--store", media["store"], "--stream", "nosuch", "--from", "1000",
                "--to", FAR_FUTURE, "-o", out)
    assert cp.returncode == 1 and "no segments" in cp.stderr
    assert not os.path.exists(out) and not os.path.exists(str(out) + ".tmp")
    cp = sluice("export", "--store", tmp_path / "nostore", "--stream", "cam", "--from", "0",
                "--to", "1", "-o", out)
    assert cp.returncode == 1 and len(cp.stderr.strip().splitlines()) == 1

    st = str(media["store"])
    bad = [
        ["--store", st, "--stream", "cam", "--from", "0", "-o", out],              # no --to
        ["--stream", "cam", "--from", "0", "--to", "1", "-o", out],                # no source
        ["--store", st, "--origin", "http://127.0.0.1:1", "--stream", "cam",
         "--from", "0", "--to", "1", "-o", out],                                   # both
        ["--store", st, "--stream", "cam", "--from", "5", "--to", "5", "-o", out],  # empty
        ["--store", st, "--stream", "cam", "--from", "yesterday", "--to", "1", "-o", out],
        ["--store", st, "--stream", "c a m", "--from", "0", "--to", "1", "-o", out],
        ["--store", st, "--stream", "cam", "--from", "0", "--to", "1", "-o", out, "--bogus"],
        ["--store", st, "--stream", "cam", "--from", "0", "--to", "1"],             # no -o
        ["--origin", "ftp://x", "--stream", "cam", "--from", "0", "--to", "1", "-o", out],
    ]
    for args in bad:
        cp = sluice("export", *args)
        assert cp.returncode == 2, (args, cp.stderr)
        assert "usage: sluice export" in cp.stderr, cp.stderr
    assert sluice("export", "--help").returncode == 0


def test_export_corrupt_blob_from_origin_fails(media, procs, sluice, tmp_path):
    store = tmp_path / "copy"
    shutil.copytree(media["store"], store)
    victim = media["recs"][3]
    blob = store / "blobs" / victim["cid"][:2] / victim["cid"]
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x5A
    blob.write_bytes(bytes(data))
    _, base = start_origin(procs, store)
    out = tmp_path / "bad.mp4"
    cp = sluice("export", "--origin", base, "--stream", "cam", "--from", "0",
                "--to", FAR_FUTURE, "-o", out)
    assert cp.returncode == 1, cp.stderr
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and "hash mismatch" in lines[0] and victim["cid"] in lines[0], lines
    assert not os.path.exists(out) and not os.path.exists(str(out) + ".tmp")
    # a range that avoids the bad segment still exports
    ok = tmp_path / "ok.mp4"
    sluice("export", "--origin", base, "--stream", "cam", "--from",
           secs(media["recs"][0]["start_us"]), "--to", secs(victim["start_us"]), "-o", ok,
           check=0)
    check_mp4(ok, 3.0, tol=0.3)
    # an unreachable origin is one clear line, exit 1
    cp = sluice("export", "--origin", f"http://127.0.0.1:{free_port()}", "--stream", "cam",
                "--from", "0", "--to", "1", "-o", out)
    assert cp.returncode == 1 and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert metric_sum(m, "sluice_origin_segment_bytes_total") > 0
