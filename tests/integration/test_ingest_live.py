"""sluice-ingest on live inputs: lavfi test source, RTMP listen (push from
ffmpeg), restream to a real nginx-rtmp plus a dead destination."""
import os
import subprocess
import time

import pytest

from conftest import free_port, metric_sum, wait_http_ok, wait_until
from test_ingest_util import (blob_path, check_contiguous, decodable, ingest_args,
                              make_mp4, metrics_of, need, query, stop_ok)

NGINX_RTMP = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def listening(port):
    """True when something listens on 127.0.0.1/0.0.0.0:port (from /proc/net/tcp)."""
    hexport = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1].endswith(hexport) and cols[3] == "0A":
                return True
    return False


def test_lavfi_realtime_sigterm(tmp_path, procs, sluice):
    store = tmp_path / "s"
    mport = free_port()
    p = procs.start(ingest_args(store, "lv", "lavfi:testsrc2=size=320x240:rate=15",
                                "--segment", "1s", "--listen", f"127.0.0.1:{mport}"))
    wait_http_ok(f"http://127.0.0.1:{mport}/healthz")
    wait_until(lambda: len(query(sluice, store, "lv")) >= 3, timeout=20, what="3 segments")
    m = metrics_of(mport)
    assert metric_sum(m, "sluice_ingest_segments_total") >= 3
    assert metric_sum(m, "sluice_ingest_input_bytes_total") > 0
    assert metric_sum(m, "sluice_ingest_sessions_total") == 1
    before = len(query(sluice, store, "lv"))
    stop_ok(p)
    out = p.output().decode(errors="replace")
    assert "finishing the current segment" in out and "exiting with status 0" in out
    recs = query(sluice, store, "lv")
    # the segment open at SIGTERM was stored too
    assert len(recs) > before
    assert recs[0]["discontinuity"] is True
    check_contiguous(recs)
    for r in recs:
        assert r["codecs"].startswith("avc1.") and "," not in r["codecs"]
        assert (r["width"], r["height"]) == (320, 240)
    # keyframes every segment: full segments are 1 s
    assert all(abs(r["duration_us"] - 1000000) < 5000 for r in recs[:-1])
    ok, err = decodable(blob_path(store, recs[0]["cid"]))
    assert ok, err
    # paced: 3+ segments of 1 s took about real time
    span = recs[-1]["start_us"] + recs[-1]["duration_us"] - recs[0]["start_us"]
    assert span < 30e6


def test_rtmp_listen_push(tmp_path, procs, sluice):
    need("ffmpeg")
    mp4 = make_mp4(tmp_path / "push.mp4", seconds=6)
    store = tmp_path / "s"
    port, mport = free_port(), free_port()
    ing = procs.start(ingest_args(store, "obs", f"rtmp://127.0.0.1:{port}/live/key?listen=1",
                                  "--listen", f"127.0.0.1:{mport}"))
    wait_until(lambda: listening(port), timeout=10, what="rtmp listen socket")
    push = procs.start(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", mp4,
                        "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/key"],
                       name="ffmpeg-push")
    wait_until(lambda: len(query(sluice, store, "obs")) >= 2, timeout=20, what="2 segments")
    assert push.wait(timeout=20) == 0
    # the publisher left: the session ends, its last segment is stored, and
    # ingest listens again (a live input never exits)
    wait_until(lambda: sum(r["duration_us"] for r in query(sluice, store, "obs")) >= 5.5e6,
               timeout=15, what="whole push stored")
    wait_until(lambda: listening(port), timeout=10, what="listening again")
    assert ing.alive()
    recs = query(sluice, store, "obs")
    check_contiguous(recs)
    assert recs[0]["discontinuity"] is True
    assert recs[0]["codecs"].endswith("mp4a.40.2")
    m = metrics_of(mport)
    assert metric_sum(m, "sluice_ingest_segments_total") == len(recs)
    assert metric_sum(m, "sluice_ingest_reconnects_total") >= 1
    stop_ok(ing)


def nginx_conf(tmp, port):
    rec = tmp / "rec"
    rec.mkdir()
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
load_module {NGINX_RTMP};
daemon off;
master_process off;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{
            live on;
            record all;
            record_path {rec};
        }}
    }}
}}
""")
    return conf, rec


def test_restream_one_good_one_dead(tmp_path, procs, sluice):
    need("nginx")
    if not os.path.exists(NGINX_RTMP):
        pytest.skip("libnginx-mod-rtmp not installed")
    if os.geteuid() != 0:
        pytest.skip("nginx config uses 'user root'")
    port, dead, mport = free_port(), free_port(), free_port()
    conf, rec = nginx_conf(tmp_path, port)
    procs.start(["nginx", "-p", str(tmp_path), "-e", str(tmp_path / "nginx-error.log"),
                 "-c", str(conf)], name="nginx")
    wait_until(lambda: listening(port), timeout=10, what="nginx rtmp")
    store = tmp_path / "s"
    mp4 = make_mp4(tmp_path / "in.mp4", seconds=10)
    ing = procs.start(ingest_args(store, "rs", mp4, "--realtime", "--loop",
                                  "--listen", f"127.0.0.1:{mport}",
                                  "--restream", f"rtmp://127.0.0.1:{port}/live/good",
                                  "--restream", f"rtmp://127.0.0.1:{dead}/live/dead"))
    wait_http_ok(f"http://127.0.0.1:{mport}/healthz")
    flv = rec / "good.flv"

    def grows():
        if not flv.exists():
            return False
        a = flv.stat().st_size
        time.sleep(0.5)
        return flv.stat().st_size > a > 0
    wait_until(grows, timeout=20, what="recorded flv growing")
    wait_until(lambda: len(query(sluice, store, "rs")) >= 2, timeout=20, what="segments")
    m = metrics_of(mport)
    assert m.get('sluice_ingest_restream_up{dest="0"}') == 1
    assert m.get('sluice_ingest_restream_up{dest="1"}') == 0
    assert m.get('sluice_ingest_restream_packets_total{dest="0"}', 0) > 0
    assert m.get('sluice_ingest_restream_dropped_total{dest="1"}', 0) > 0
    assert m.get('sluice_ingest_restream_reconnects_total{dest="1"}', 0) >= 1
    assert ing.alive()
    stop_ok(ing)
    cp = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                         "-of", "csv=p=0", str(flv)], capture_output=True, text=True,
                        timeout=30)
    assert "h264" in cp.stdout, cp.stderr
