"""sluice-origin: HLS playlists from the index, /seg serving, streams API.

Real bin/sluice-origin over a real store; segments are put with
`bin/sluice store put` (small real MPEG-TS files made once with ffmpeg, so
ffprobe can read a replay playlist end to end).
"""
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import start_origin
from conftest import http, parse_metrics, metric_sum

T0 = int(time.time()) - 3600          # recording start, an hour ago (whole seconds)


@pytest.fixture(scope="module")
def ts_segments(tmp_path_factory):
    """Eight 1-second MPEG-TS segments with continuous timestamps."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg CLI not installed")
    d = tmp_path_factory.mktemp("ts")
    base = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
            "testsrc=size=160x90:rate=10", "-t", "8"]
    tail = ["-f", "segment", "-segment_time", "1", "-reset_timestamps", "0",
            str(d / "seg%03d.ts")]
    cp = subprocess.run(base + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
                                "-sc_threshold", "0"] + tail, capture_output=True, timeout=60)
    if cp.returncode != 0:
        cp = subprocess.run(base + ["-c:v", "mpeg2video", "-g", "10"] + tail,
                            capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    files = sorted(d.glob("seg*.ts"))
    assert len(files) >= 8
    return files[:8]


def put(sluice, store, path, start, dur=1, stream="cam", variant="src", session="s1"):
    cp = sluice("store", "put", store, "--stream", stream, "--variant", variant,
                "--start", str(start), "--duration", str(dur), "--session", session,
                "--codecs", "avc1.42c00d", "--width", "160", "--height", "90",
                "--bandwidth", "200000", "--json", path, check=0)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def parse_media(text):
    """Small RFC 8216 media playlist parser; asserts the rules as it goes."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    pl = {"tags": {}, "segs": [], "endlist": False}
    pending = {}
    for ln in lines[1:]:
        if not ln:
            continue
        if ln.startswith("#EXT-X-VERSION:"):
            pl["version"] = int(ln.split(":", 1)[1])
        elif ln.startswith("#EXT-X-TARGETDURATION:"):
            pl["target"] = int(ln.split(":", 1)[1])
        elif ln.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            pl["mseq"] = int(ln.split(":", 1)[1])
        elif ln.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            pl["dseq"] = int(ln.split(":", 1)[1])
        elif ln.startswith("#EXT-X-PLAYLIST-TYPE:"):
            pl["type"] = ln.split(":", 1)[1]
        elif ln == "#EXT-X-DISCONTINUITY":
            pending["disc"] = True
        elif ln.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pending["pdt"] = ln.split(":", 1)[1]
        elif ln.startswith("#EXTINF:"):
            pending["dur"] = float(ln.split(":", 1)[1].rstrip(",").split(",")[0])
        elif ln == "#EXT-X-ENDLIST":
            pl["endlist"] = True
        elif ln.startswith("#"):
            pass
        else:
            assert "dur" in pending, f"URI without EXTINF: {ln}"
            assert "pdt" in pending, f"segment without PROGRAM-DATE-TIME: {ln}"
            pending["uri"] = ln
            pl["segs"].append(pending)
            pending = {}
    assert pending == {}, "tags after the last URI"
    for k in ("version", "target", "mseq", "dseq"):
        assert k in pl, f"missing {k}"
    for i, s in enumerate(pl["segs"]):
        s["seq"] = pl["mseq"] + i
        assert int(s["dur"] + 0.5) <= pl["target"]
    if pl["segs"]:
        assert not pl["segs"][0].get("disc"), "discontinuity before the first segment"
    # discontinuity number of each segment
    d = pl["dseq"]
    for s in pl["segs"]:
        if s.get("disc"):
            d += 1
        s["dnum"] = d
    return pl


def get_pl(url):
    st, h, body = http("GET", url)
    assert st == 200, (url, st, body)
    assert h["content-type"] == "application/vnd.apple.mpegurl"
    assert h["access-control-allow-origin"] == "*"
    return parse_media(body.decode()), h


def cid_of(uri):
    return re.search(r"/seg/([0-9a-f]{64})\.ts$", uri).group(1)


def test_playlists_discontinuities_and_replay(procs, store_dir, sluice, ts_segments):
    recs = []
    # session s1: 5 segments; s2 after a 10 s gap: 3 segments (same files reused is fine)
    for i in range(5):
        recs.append(put(sluice, store_dir, ts_segments[i], T0 + i, session="s1"))
    for i in range(3):
        recs.append(put(sluice, store_dir, ts_segments[5 + i], T0 + 15 + i, session="s2"))
    assert [r["seq"] for r in recs] == list(range(recs[0]["seq"], recs[0]["seq"] + 8))
    p, base = start_origin(procs, store_dir, "--window", "4")

    live, h = get_pl(base + "/hls/cam/src/live.m3u8")
    assert "max-age=1" in h["cache-control"]
    assert len(live["segs"]) == 4
    assert "type" not in live and not live["endlist"]
    assert live["mseq"] == recs[4]["seq"]
    assert [cid_of(s["uri"]) for s in live["segs"]] == [r["cid"] for r in recs[4:]]
    assert live["segs"][1].get("disc")                 # s1 -> s2 boundary listed
    assert live["dseq"] == 0

    # every segment keeps one discontinuity number whatever playlist lists it
    dnum = {}
    urls = [base + "/hls/cam/src/live.m3u8",
            base + "/hls/cam/src/dvr.m3u8?seconds=3",
            base + "/hls/cam/src/dvr.m3u8?seconds=100",
            base + f"/hls/cam/src/replay.m3u8?from={T0 + 16}&to={T0 + 18}",
            base + f"/hls/cam/src/replay.m3u8?from={T0}&to={T0 + 100}",
            base + f"/hls/cam/src/replay.m3u8?from={T0 + 3}&to={T0 + 16}"]
    for u in urls:
        pl, _ = get_pl(u)
        assert pl["segs"], u
        for s in pl["segs"]:
            c = cid_of(s["uri"])
            assert dnum.setdefault((s["seq"], c), s["dnum"]) == s["dnum"], u
    assert dnum[(recs[5]["seq"], recs[5]["cid"])] == 1
    assert dnum[(recs[0]["seq"], recs[0]["cid"])] == 0

    dvr, _ = get_pl(base + "/hls/cam/src/dvr.m3u8?seconds=3")
    assert [s["seq"] for s in dvr["segs"]] == [r["seq"] for r in recs[5:]]
    assert dvr["dseq"] == 1                          # the s2 boundary lies before it

    vod, h = get_pl(base + f"/hls/cam/src/replay.m3u8?from={T0 + 1}&to={T0 + 3}")
    assert vod["type"] == "VOD" and vod["endlist"]
    assert [s["seq"] for s in vod["segs"]] == [recs[1]["seq"], recs[2]["seq"]]
    assert vod["segs"][0]["pdt"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(T0 + 1)))

    # ffprobe reads the whole first session through the replay playlist
    if shutil.which("ffprobe"):
        url = base + f"/hls/cam/src/replay.m3u8?from={T0}&to={T0 + 5}"
        cp = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                             "-of", "json", url], capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp.stderr
        dur = float(json.loads(cp.stdout)["format"]["duration"])
        assert 4.0 <= dur <= 6.0, dur

    # master: the stream's variant with its recorded attributes
    st, h, body = http("GET", base + "/hls/cam/master.m3u8?sid=v1")
    assert st == 200 and h["content-type"] == "application/vnd.apple.mpegurl"
    text = body.decode()
    assert text.startswith("#EXTM3U\n")
    assert "#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x90,CODECS=\"avc1.42c00d\"" in text
    assert "\nsrc/live.m3u8?sid=v1\n" in text
    st, _, body = http("GET", base + f"/hls/cam/master.m3u8?from={T0}&to={T0 + 5}")
    assert st == 200 and "src/replay.m3u8?from=" in body.decode()

    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="live",status="200"}'] >= 2
    assert m['sluice_origin_requests_total{route="replay",status="200"}'] >= 4
    assert metric_sum(m, "sluice_origin_playlist_seconds_count") >= 10
    assert m['sluice_origin_steering_decisions_total{edge="origin"}'] >= 10


def test_live_window_advances(procs, store_dir, sluice, ts_segments):
    start = T0 + 1000
    recs = [put(sluice, store_dir, ts_segments[i], start + i) for i in range(3)]
    p, base = start_origin(procs, store_dir, "--window", "3")
    first, _ = get_pl(base + "/hls/cam/src/live.m3u8?sid=a")
    seen = {s["seq"]: s["uri"] for s in first["segs"]}
    stop = threading.Event()

    def writer():
        for i in range(3, 8):
            if stop.is_set():
                return
            recs.append(put(sluice, store_dir, ts_segments[i], start + i))

    t = threading.Thread(target=writer)
    t.start()
    try:
        last = first
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pl, _ = get_pl(base + "/hls/cam/src/live.m3u8?sid=a")
            assert pl["mseq"] >= last["mseq"]            # never goes backwards
            assert pl["dseq"] >= last["dseq"]
            for s in pl["segs"]:                          # listed URIs never change
                assert seen.setdefault(s["seq"], s["uri"]) == s["uri"]
            last = pl
            if pl["mseq"] == recs[0]["seq"] + 5:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert last["mseq"] == recs[0]["seq"] + 5
    assert [cid_of(s["uri"]) for s in last["segs"]] == [r["cid"] for r in recs[5:8]]


def test_segments_served(procs, store_dir, sluice, ts_segments):
    rec = put(sluice, store_dir, ts_segments[0], T0)
    data = ts_segments[0].read_bytes()
    p, base = start_origin(procs, store_dir)
    url = f"{base}/seg/{rec['cid']}.ts"
    st, h, body = http("GET", url)
    assert st == 200 and body == data
    assert h["content-type"] == "video/mp2t"
    assert h["etag"] == f'"{rec["cid"]}"'
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert h["access-control-allow-origin"] == "*"
    st, h, body = http("HEAD", url)
    assert st == 200 and body == b"" and int(h["content-length"]) == len(data)
    st, h, body = http("GET", url, headers={"Range": "bytes=10-109"})
    assert st == 206 and body == data[10:110]
    assert h["content-range"] == f"bytes 10-109/{len(data)}"
    st, h, body = http("GET", url, headers={"Range": "bytes=-50"})
    assert st == 206 and body == data[-50:]
    st, h, _ = http("GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert st == 416 and h["content-range"] == f"bytes */{len(data)}"
    st, h, body = http("GET", url, headers={"If-None-Match": f'"{rec["cid"]}"'})
    assert st == 304 and body == b""
    st, _, body = http("GET", f"{base}/seg/{'0' * 64}.ts")
    assert st == 404 and "error" in json.loads(body)
    for bad in ("abc.ts", "A" * 64 + ".ts", rec["cid"] + ".mp4"):
        st, _, body = http("GET", f"{base}/seg/{bad}")
        assert st == 400 and "error" in json.loads(body)
    st, _, _ = http("POST", url, body=b"x")
    assert st == 405
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="seg",status="206"}'] == 2
    assert m['sluice_origin_requests_total{route="seg",status="400"}'] == 3
    assert m["sluice_origin_segment_bytes_total"] >= len(data) + 150


def test_streams_api_and_errors(procs, store_dir, sluice, ts_segments):
    recs = [put(sluice, store_dir, ts_segments[i], T0 + i) for i in range(4)]
    put(sluice, store_dir, ts_segments[0], T0, variant="low")
    p, base = start_origin(procs, store_dir, "--max-range", "2h")
    st, h, body = http("GET", base + "/api/v1/streams")
    assert st == 200 and h["content-type"] == "application/json"
    streams = json.loads(body)
    assert len(streams) == 1
    s = streams[0]
    assert s["stream"] == "cam" and s["segments"] == 5
    assert s["first_us"] == T0 * 10**6 and s["last_us"] == (T0 + 4) * 10**6
    assert s["first"].endswith("Z") and s["last"].endswith("Z")
    v = {x["name"]: x for x in s["variants"]}
    assert set(v) == {"src", "low"}
    assert v["src"]["bandwidth"] == 200000 and v["src"]["width"] == 160
    assert v["src"]["height"] == 90 and v["src"]["codecs"] == "avc1.42c00d"

    q = urllib.parse.urlencode({"variant": "src", "from": T0 + 1, "to": T0 + 3})
    st, _, body = http("GET", f"{base}/api/v1/streams/cam/segments?{q}")
    assert st == 200
    got = json.loads(body)
    assert [r["cid"] for r in got] == [recs[1]["cid"], recs[2]["cid"]]
    assert set(got[0]) == {"stream", "variant", "start_us", "duration_us", "seq", "session",
                           "discontinuity", "cid", "size", "tenant", "device", "codecs",
                           "width", "height", "bandwidth", "node"}
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 2))
    st, _, body = http("GET", f"{base}/api/v1/streams/cam/segments?variant=src&from={iso}&to=now")
    assert st == 200 and len(json.loads(body)) == 2
    st, _, body = http("GET", f"{base}/api/v1/streams/cam/segments")
    assert st == 200 and len(json.loads(body)) == 5   # all variants

    bad = [
        ("/api/v1/streams/ca%20m/segments", 400),
        ("/api/v1/streams/nope/segments", 404),
        ("/api/v1/streams/nope", 404),
        ("/api/v1/streams/cam/segments?from=yesterday", 400),
        (f"/api/v1/streams/cam/segments?from={T0 + 5}&to={T0}", 400),
        (f"/api/v1/streams/cam/segments?from={T0 - 10000}&to={T0}", 400),
        ("/api/v1/streams/cam/segments?variant=b@d", 400),
        ("/api/v1/nothing", 404),
        ("/hls/nope/master.m3u8", 404),
        ("/hls/nope/src/live.m3u8", 404),
        ("/hls/cam/hd/live.m3u8", 404),
        ("/hls/c%21m/src/live.m3u8", 400),
        ("/hls/cam/src/replay.m3u8", 400),
        (f"/hls/cam/src/replay.m3u8?from={T0}", 400),
        (f"/hls/cam/src/replay.m3u8?from=junk&to={T0}", 400),
        (f"/hls/cam/src/replay.m3u8?from={T0 + 5}&to={T0}", 400),
        (f"/hls/cam/src/replay.m3u8?from={T0 - 10000}&to={T0}", 400),
        (f"/hls/cam/src/replay.m3u8?from={T0 - 60}&to={T0 - 30}", 404),
        ("/hls/cam/src/dvr.m3u8?seconds=abc", 400),
        ("/hls/cam/src/dvr.m3u8?seconds=7201", 400),
        ("/hls/cam/src/live.m3u8?sid=%20x", 400),
        ("/hls/cam/src/foo.m3u8", 404),
        ("/nothing", 404),
    ]
    for path, want in bad:
        st, h, body = http("GET", base + path)
        assert st == want, (path, st, body)
        assert "error" in json.loads(body), path
    st, _, body = http("GET", base + "/hls/cam/src/dvr.m3u8?seconds=2")
    assert st == 200
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="replay",status="400"}'] >= 5
    assert m['sluice_origin_requests_total{route="segments",status="200"}'] == 3


def test_web_files_metrics_and_shutdown(procs, store_dir, tmp_path):
    web = tmp_path / "web"
    (web / "node_modules" / "hls.js" / "dist").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>sluice</title>")
    (web / "player.js").write_text("console.log('x')")
    (web / "node_modules" / "hls.js" / "dist" / "hls.min.js").write_text("var Hls;")
    (tmp_path / "secret.txt").write_text("no")
    p, base = start_origin(procs, store_dir, "--web-dir", web)
    st, h, body = http("GET", base + "/")
    assert st == 200 and b"<title>sluice" in body and h["content-type"].startswith("text/html")
    st, h, body = http("GET", base + "/web/player.js")
    assert st == 200 and h["content-type"].startswith("text/javascript")
    st, _, body = http("GET", base + "/web/hls.min.js")
    assert st == 200 and body == b"var Hls;"
    for bad in ("/web/..%2Fsecret.txt", "/web/../secret.txt", "/web/.hidden", "/web/nope.js"):
        st, _, body = http("GET", base + bad)
        assert st == 404, bad
        assert b"no" != body
    st, h, body = http("GET", base + "/healthz")
    assert st == 200 and body == b"ok"
    st, h, body = http("GET", base + "/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain")
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if os.path.exists(promtool):
        cp = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                            timeout=30)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    m = parse_metrics(body.decode())
    assert m['sluice_origin_requests_total{route="web",status="200"}'] == 3
    assert m['sluice_origin_requests_total{route="web",status="404"}'] >= 3
    assert p.stop() == 0                              # SIGTERM: clean exit
