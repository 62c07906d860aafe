"""sluice-ingest on a full disk: a store error is logged and counted, ingest
keeps running, and once space is back the next segments are stored; nothing
half-written is left behind (fsck clean)."""
import os
import subprocess

import pytest

from conftest import free_port, metric_sum, wait_http_ok, wait_until
from test_ingest_util import ingest_args, metrics_of, query, stop_ok


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {cp.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path):
    """Write zeros into path until the filesystem is full."""
    chunk = b"\0" * 65536
    with open(path, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass


def test_store_full_then_space_back(tiny_fs, procs, sluice):
    store = tiny_fs / "store"
    sluice("store", "init", store, check=0)
    filler = tiny_fs / "filler"
    fill(filler)
    mport = free_port()
    p = procs.start(ingest_args(store, "full", "lavfi:testsrc2=size=320x240:rate=15",
                                "--segment", "1s", "--listen", f"127.0.0.1:{mport}"))
    wait_http_ok(f"http://127.0.0.1:{mport}/healthz")
    wait_until(lambda: metric_sum(metrics_of(mport), "sluice_ingest_store_errors_total") >= 2,
               timeout=30, what="store errors on the full disk")
    assert p.alive(), "ingest exited on a store error"
    assert metric_sum(metrics_of(mport), "sluice_ingest_segments_total") == 0
    assert not os.listdir(store / "tmp"), "a failed put left a temporary file"
    os.unlink(filler)
    wait_until(lambda: len(query(sluice, store, "full")) >= 2, timeout=30,
               what="segments stored once space is back")
    assert metric_sum(metrics_of(mport), "sluice_ingest_segments_total") >= 2
    stop_ok(p)
    out = p.output().decode(errors="replace")
    assert "No space left on device" in out
    sluice("store", "fsck", store, check=0)
