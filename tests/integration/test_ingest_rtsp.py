"""sluice-ingest pulling RTSP (TCP) from a real gst-rtsp-server, which is
restarted mid-stream: ingest reconnects and starts a new session."""
import signal
import subprocess

import pytest

from conftest import free_port, metric_sum, wait_http_ok, wait_until
from test_ingest_util import (blob_path, check_contiguous, decodable, ingest_args,
                              metrics_of, query, stop_ok)

SERVER = r"""
import sys
import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch('( videotestsrc is-live=true ! video/x-raw,width=320,height=240,'
                   'framerate=15/1 ! x264enc tune=zerolatency speed-preset=ultrafast '
                   'key-int-max=15 ! rtph264pay name=pay0 pt=96 config-interval=1 )')
factory.set_shared(True)
server.get_mount_points().add_factory('/cam', factory)
if server.attach(None) == 0:
    sys.exit(1)
print('ready', flush=True)
GLib.MainLoop().run()
"""


def have_gst():
    cp = subprocess.run(["/usr/bin/python3", "-c",
                         "import gi; gi.require_version('GstRtspServer','1.0');"
                         "from gi.repository import GstRtspServer"],
                        capture_output=True, timeout=30)
    return cp.returncode == 0


def start_server(procs, script, port):
    p = procs.start(["/usr/bin/python3", script, str(port)], name="rtsp-server")
    wait_until(lambda: b"ready" in p.output() or not p.alive(), timeout=15,
               what="rtsp server ready")
    assert p.alive(), p.output()
    return p


def test_rtsp_pull_and_server_restart(tmp_path, procs, sluice):
    if not have_gst():
        pytest.skip("gst-rtsp-server python bindings not installed")
    script = tmp_path / "rtsp_server.py"
    script.write_text(SERVER)
    port, mport = free_port(), free_port()
    store = tmp_path / "s"
    srv = start_server(procs, script, port)
    ing = procs.start(ingest_args(store, "cam", f"rtsp://127.0.0.1:{port}/cam",
                                  "--segment", "1s", "--listen", f"127.0.0.1:{mport}",
                                  "--tenant", "acme", "--read-timeout", "1500ms"))
    wait_http_ok(f"http://127.0.0.1:{mport}/healthz")
    wait_until(lambda: len(query(sluice, store, "cam")) >= 2, timeout=30, what="2 segments")
    first_session = query(sluice, store, "cam")[0]["session"]
    srv.stop()  # the camera goes away mid-stream
    srv = start_server(procs, script, port)  # and comes back on the same address

    def new_session():
        recs = query(sluice, store, "cam")
        later = [r for r in recs if r["session"] != first_session]
        return len(later) >= 2 and later
    later = wait_until(new_session, timeout=40, what="segments of a new session")
    assert later[0]["discontinuity"] is True
    assert all(not r["discontinuity"] for r in later[1:])
    assert ing.alive()
    recs = query(sluice, store, "cam")
    check_contiguous(recs)
    starts = [r["start_us"] for r in recs]
    assert starts == sorted(starts)
    for r in recs:
        assert r["codecs"].startswith("avc1.") and r["tenant"] == "acme"
        assert (r["width"], r["height"]) == (320, 240)
    ok, err = decodable(blob_path(store, later[0]["cid"]))
    assert ok, err
    m = metrics_of(mport)
    assert metric_sum(m, "sluice_ingest_reconnects_total") >= 1
    assert metric_sum(m, "sluice_ingest_sessions_total") >= 2
    assert metric_sum(m, "sluice_ingest_segments_total") >= 4

    # a stall (connection open, no data): the read timeout fires, ingest
    # reconnects once the camera answers again, in a third session
    seen = {r["session"] for r in query(sluice, store, "cam")}
    srv.signal(signal.SIGSTOP)
    wait_until(lambda: b"timed out" in ing.output(), timeout=15, what="read timeout")
    srv.signal(signal.SIGCONT)

    def third_session():
        return [r for r in query(sluice, store, "cam") if r["session"] not in seen]
    third = wait_until(third_session, timeout=30, what="segments after the stall")
    assert third[0]["discontinuity"] is True
    assert ing.alive()
    assert metric_sum(metrics_of(mport), "sluice_ingest_sessions_total") >= 3
    stop_ok(ing)
