"""sluice-canvas: Pixelflut protocol, limits, /snapshot.png, /metrics, and
`sluice flood` against it. Real bin/sluice-canvas on free ports."""
import re
import shutil
import socket
import subprocess

import pytest

from conftest import binpath, free_port, http, metric_sum, parse_metrics, wait_http_ok, wait_until

W, H = 320, 240


def start_canvas(procs, store, *extra):
    """Start sluice-canvas (small, 10 fps, 1 s segments); wait until both
    ports answer. Returns (proc, pixelflut port, http base)."""
    px, hp = free_port(), free_port()
    p = procs.start([binpath("sluice-canvas"), "--listen", f"127.0.0.1:{px}",
                     "--http", f"127.0.0.1:{hp}", "--store", store, "--size", f"{W}x{H}",
                     "--fps", "10", "--segment", "1s", "--threads", "2", *extra])
    base = f"http://127.0.0.1:{hp}"
    wait_http_ok(base + "/healthz")

    def can_connect():
        with socket.create_connection(("127.0.0.1", px), timeout=2):
            return True
    wait_until(can_connect, what="pixelflut port")
    # the probe connection is gone before the test starts counting
    wait_until(lambda: (lambda m: m["sluice_canvas_accepted_total"] >= 1 and
                        m["sluice_canvas_connections"] == 0)(metrics(base)), what="probe closed")
    return p, px, base


def metrics(base):
    st, _, body = http("GET", base + "/metrics")
    assert st == 200
    return parse_metrics(body.decode())


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode()

    def ask(self, cmd):
        self.send(cmd.encode() + b"\n")
        return self.line()

    def closed_by_peer(self):
        try:
            return self.s.recv(4096) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def test_protocol_semantics(procs, store_dir):
    _, px, base = start_canvas(procs, store_dir)
    c = Conn(px)
    assert c.ask("SIZE") == f"SIZE {W} {H}"
    c.send(b"HELP\n")
    help_lines = [c.line()]
    assert "PX" in help_lines[0] or "Pixelflut" in help_lines[0]
    while "HELP" not in help_lines[-1]:          # the text's last line names HELP
        help_lines.append(c.line())

    # set and read back, tolerating CRLF and upper-case hex
    c.send(b"PX 10 20 ff8000\nPX 11 20 ABCDEF\r\n")
    assert c.ask("PX 10 20") == "PX 10 20 ff8000"
    assert c.ask("PX 11 20") == "PX 11 20 abcdef"
    # grey
    c.send(b"PX 12 20 7f\n")
    assert c.ask("PX 12 20") == "PX 12 20 7f7f7f"
    # alpha blending onto the current pixel: 50% blue over orange
    c.send(b"PX 10 20 0000ff80\n")
    assert c.ask("PX 10 20") == "PX 10 20 7f4080"
    # fully transparent changes nothing; opaque alpha replaces
    c.send(b"PX 11 20 00000000\nPX 12 20 123456ff\n")
    assert c.ask("PX 11 20") == "PX 11 20 abcdef"
    assert c.ask("PX 12 20") == "PX 12 20 123456"
    # OFFSET applies to later PX (write and read) on this connection only
    c.send(b"OFFSET 100 50\nPX 1 2 00ff00\n")
    assert c.ask("PX 1 2") == "PX 101 52 00ff00"
    c.send(b"OFFSET 0 0\n")
    assert c.ask("PX 101 52") == "PX 101 52 00ff00"
    other = Conn(px)
    assert other.ask("PX 1 2") == "PX 1 2 000000"   # no offset there
    # out of range: ignored and counted, including through an offset
    c.send(f"PX {W} 0 ffffff\nPX 0 {H} ffffff\nPX 9999999 1 ff\n".encode())
    c.send(b"OFFSET 300 0\nPX 30 0 ffffff\nOFFSET 0 0\n")
    assert c.ask(f"PX {W - 1} 0") == f"PX {W - 1} 0 000000"
    # garbage lines are counted, the connection stays usable
    c.send(b"hello\nPX 1 2 zzzzzz\nPX 1\nPX 1 2 fff\n\nPX 1 2 ffffff extra\n")
    assert c.ask("SIZE") == f"SIZE {W} {H}"

    m = metrics(base)
    assert m["sluice_canvas_pixels_total"] == 7
    assert m["sluice_canvas_bad_lines_total"] == 6
    assert m["sluice_canvas_out_of_range_total"] == 4
    assert m["sluice_canvas_reads_total"] >= 9
    assert m["sluice_canvas_bytes_total"] > 200
    assert m["sluice_canvas_connections"] == 2
    assert m['sluice_canvas_ip_pixels{ip="127.0.0.1"}'] == 7
    assert m['sluice_canvas_ip_bytes{ip="127.0.0.1"}'] > 200
    c.close()
    other.close()
    wait_until(lambda: metrics(base)["sluice_canvas_connections"] == 0, what="conns gauge 0")


def test_long_line_closes_but_bad_lines_do_not(procs, store_dir):
    _, px, base = start_canvas(procs, store_dir)
    ok = Conn(px)
    ok.send(b"X" * 4000 + b"\n")              # long but under 4 KiB: a bad line only
    assert ok.ask("SIZE") == f"SIZE {W} {H}"
    bad = Conn(px)
    bad.send(b"PX 1 1 ffffff\n" + b"Y" * 5000)  # more than 4 KiB without newline
    wait_until(bad.closed_by_peer, timeout=10, what="server closes the long line")
    assert ok.ask("PX 1 1") == "PX 1 1 ffffff"
    m = metrics(base)
    assert m['sluice_canvas_closed_total{reason="line_too_long"}'] == 1
    assert m["sluice_canvas_bad_lines_total"] == 1
    ok.close()
    bad.close()


def test_per_ip_limit(procs, store_dir):
    _, px, base = start_canvas(procs, store_dir, "--max-conns-per-ip", "2")
    a, b = Conn(px), Conn(px)
    assert a.ask("SIZE") == f"SIZE {W} {H}"
    assert b.ask("SIZE") == f"SIZE {W} {H}"
    c = Conn(px)
    wait_until(c.closed_by_peer, timeout=10, what="third connection closed")
    m = metrics(base)
    assert m['sluice_canvas_closed_total{reason="per_ip_limit"}'] == 1
    assert m["sluice_canvas_connections"] == 2
    assert m["sluice_canvas_accepted_total"] >= 3
    # a slot frees when a connection goes
    a.close()
    wait_until(lambda: metrics(base)["sluice_canvas_connections"] == 1, what="conn gone")
    d = Conn(px)
    assert d.ask("SIZE") == f"SIZE {W} {H}"
    for x in (b, c, d):
        x.close()


def decode_png(path):
    cp = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo",
                         "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def test_snapshot_png(procs, store_dir, tmp_path):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe missing")
    _, px, base = start_canvas(procs, store_dir)
    c = Conn(px)
    lines = "".join(f"PX {x} {y} 12ab34\n" for x in range(50, 54) for y in range(60, 63))
    c.send(lines.encode())
    assert c.ask("PX 53 62") == "PX 53 62 12ab34"
    st, h, body = http("GET", base + "/snapshot.png")
    assert st == 200 and h["content-type"] == "image/png"
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    f = tmp_path / "snap.png"
    f.write_bytes(body)
    cp = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                         "stream=codec_name,width,height", "-of", "csv=p=0", str(f)],
                        capture_output=True, text=True, timeout=30)
    assert cp.stdout.strip() == f"png,{W},{H}", cp.stderr
    raw = decode_png(f)
    assert len(raw) == W * H * 3

    def rgb(x, y):
        o = (y * W + x) * 3
        return raw[o:o + 3].hex()
    assert rgb(50, 60) == "12ab34" and rgb(53, 62) == "12ab34"
    assert rgb(49, 60) == "000000" and rgb(54, 62) == "000000" and rgb(50, 63) == "000000"
    m = metrics(base)
    assert m["sluice_canvas_snapshots_total"] == 1
    assert m["sluice_canvas_pixels_total"] == 12
    c.close()


def test_flood_against_canvas(procs, store_dir, sluice):
    _, px, base = start_canvas(procs, store_dir)
    before = metrics(base)["sluice_canvas_pixels_total"]
    cp = sluice("flood", f"127.0.0.1:{px}", "--conns", "2", "--seconds", "3", timeout=30)
    assert cp.returncode == 0, cp.stderr
    m = re.search(r"pixels=(\d+) bytes=(\d+) px/s=(\d+) Mpx/s=([\d.]+) MB/s=([\d.]+) "
                  r"canvas=(\d+)x(\d+)", cp.stdout)
    assert m, cp.stdout
    pixels, rate = int(m.group(1)), int(m.group(3))
    assert pixels > 0 and rate > 0 and float(m.group(5)) > 0
    assert (int(m.group(6)), int(m.group(7))) == (W, H)      # it asked SIZE first
    dur = float(re.search(r"seconds=([\d.]+)", cp.stdout).group(1))
    assert 2.9 <= dur < 6, cp.stdout

    # the canvas counted (nearly) everything flood sent: bytes still in
    # flight when flood closed may be dropped, nothing more
    def grew():
        got = metrics(base)["sluice_canvas_pixels_total"] - before
        return got if got >= pixels * 0.9 else None
    got = wait_until(grew, timeout=10, what="canvas pixel counter")
    assert got <= pixels
    mm = metrics(base)
    assert mm["sluice_canvas_bad_lines_total"] == 0
    assert mm["sluice_canvas_out_of_range_total"] == 0
    assert metric_sum(mm, "sluice_canvas_bytes_total") > pixels * 10


def test_flood_usage(sluice):
    assert sluice("flood").returncode == 2
    assert sluice("flood", "127.0.0.1:1", "--conns", "0").returncode == 2
    port = free_port()   # nothing listens there
    cp = sluice("flood", f"127.0.0.1:{port}", "--seconds", "1")
    assert cp.returncode == 1 and "flood" in cp.stderr
