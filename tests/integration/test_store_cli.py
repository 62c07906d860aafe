"""sluice store CLI: round trips, error cases, concurrent writers, fsck damage, full disk.

The CLI has no /metrics endpoint; the counters checked here are the store's own
(`sluice store stats --json`).
"""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import binpath

FIELDS = ["stream", "variant", "start_us", "duration_us", "seq", "session", "discontinuity",
          "cid", "size", "tenant", "device", "codecs", "width", "height", "bandwidth", "node"]
T0 = 1795000000  # 2026-11-18T...Z, Unix seconds


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def stats(sluice, d):
    cp = sluice("store", "stats", d, "--json", check=0)
    return json.loads(cp.stdout)


def query(sluice, d, *args):
    cp = sluice("store", "query", d, *args, "--json", check=0)
    return [json.loads(line) for line in cp.stdout.splitlines()]


def one_error_line(cp):
    lines = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, cp.stderr
    assert lines[0].startswith("sluice: "), cp.stderr
    return lines[0]


def test_put_query_json_fields(sluice, store_dir, tmp_path):
    node = (store_dir / "node-id").read_text().strip()
    assert len(node) == 32 and all(c in "0123456789abcdef" for c in node)
    files = [write(tmp_path / f"s{i}.ts", os.urandom(1000 + i)) for i in range(3)]
    cids = []
    for i, fp in enumerate(files):
        cp = sluice("store", "put", store_dir, "--stream", "cam1", "--variant", "720p",
                    "--start", str(T0 + 2 * i), "--duration", "2s", "--tenant", "acme",
                    "--device", "door", "--codecs", "avc1.64001f", "--width", "1280",
                    "--height", "720", "--bandwidth", "2500000", "--session", "run1", fp,
                    check=0)
        cid = cp.stdout.strip()
        assert cid == hashlib.sha256(open(fp, "rb").read()).hexdigest()
        cids.append(cid)
        assert (store_dir / "blobs" / cid[:2] / cid).exists()
    recs = query(sluice, store_dir, "--stream", "cam1")
    assert len(recs) == 3
    for i, r in enumerate(recs):
        assert list(r.keys()) == FIELDS
        assert r == {
            "stream": "cam1", "variant": "720p", "start_us": (T0 + 2 * i) * 1000000,
            "duration_us": 2000000, "seq": i, "session": "run1", "discontinuity": i == 0,
            "cid": cids[i], "size": 1000 + i, "tenant": "acme", "device": "door",
            "codecs": "avc1.64001f", "width": 1280, "height": 720, "bandwidth": 2500000,
            "node": node,
        }
    # Overlap semantics through the CLI: [T0+2, T0+4) is exactly the middle one.
    mid = query(sluice, store_dir, "--stream", "cam1", "--from", str(T0 + 2), "--to", str(T0 + 4))
    assert [r["seq"] for r in mid] == [1]
    # RFC 3339 form of the same instant, fraction inside the first segment.
    rfc = query(sluice, store_dir, "--stream", "cam1", "--from", "2026-11-18T11:06:41.5Z",
                "--to", "2026-11-18T12:06:41.6+01:00")
    assert [r["seq"] for r in rfc] == [0]
    # --json on put prints the stored record.
    cp = sluice("store", "put", store_dir, "--stream", "cam1", "--variant", "720p",
                "--start", str(T0 + 6), "--duration", "2", "--json", files[0], check=0)
    r = json.loads(cp.stdout)
    assert list(r.keys()) == FIELDS and r["seq"] == 3 and r["cid"] == cids[0]
    # Human table names the cids.
    cp = sluice("store", "query", store_dir, "--stream", "cam1", check=0)
    assert all(c in cp.stdout for c in cids)
    st = stats(sluice, store_dir)
    assert st["records"] == 4 and st["blobs"] == 3 and st["streams"] == 1
    assert st["last_seq"] == 4 and st["node"] == node
    assert st["blob_bytes"] == 1000 + 1001 + 1002
    cp = sluice("store", "stats", store_dir, check=0)
    assert "cam1" in cp.stdout and "records" in cp.stdout


def test_dedup_and_idempotent_put(sluice, store_dir, tmp_path):
    fp = write(tmp_path / "a.ts", b"x" * 5000)
    for start in (T0, T0, T0 + 2):
        sluice("store", "put", store_dir, "--stream", "s", "--start", str(start),
               "--duration", "2", fp, check=0)
    st = stats(sluice, store_dir)
    assert st["records"] == 2 and st["blobs"] == 1 and st["last_seq"] == 2
    sluice("store", "fsck", store_dir, check=0)


def test_gc(sluice, store_dir, tmp_path):
    old = write(tmp_path / "old.ts", os.urandom(3000))
    new = write(tmp_path / "new.ts", os.urandom(3000))
    shared = write(tmp_path / "shared.ts", os.urandom(3000))
    sluice("store", "put", store_dir, "--stream", "a", "--start", "2001-01-01T00:00:00Z",
           "--duration", "2", old, check=0)
    sc = sluice("store", "put", store_dir, "--stream", "a", "--start", "2001-01-01T00:00:02Z",
                "--duration", "2", shared, check=0).stdout.strip()
    sluice("store", "put", store_dir, "--stream", "b", "--start", "-10s", "--duration", "2",
           shared, check=0)
    sluice("store", "put", store_dir, "--stream", "a", "--start", "now", "--duration", "2",
           new, check=0)
    # Per-stream gc touches only that stream.
    cp = sluice("store", "gc", store_dir, "--older-than", "1d", "--stream", "b", check=0)
    assert "removed 0 records" in cp.stdout
    cp = sluice("store", "gc", store_dir, "--older-than", "1d", check=0)
    assert "removed 2 records, 1 blobs" in cp.stdout
    assert [r["start_us"] > 1700000000 * 10**6 for r in query(sluice, store_dir, "--stream", "a")] == [True]
    assert (store_dir / "blobs" / sc[:2] / sc).exists()   # still used by stream b
    st = stats(sluice, store_dir)
    assert st["records"] == 2 and st["blobs"] == 2
    assert st["last_seq"] == 6   # 4 puts + 2 tombstones
    sluice("store", "fsck", store_dir, check=0)
    cp = sluice("store", "gc", store_dir, check=None)
    assert cp.returncode == 2 and "usage:" in cp.stderr


def test_errors(sluice, store_dir, tmp_path):
    fp = write(tmp_path / "ok.ts", b"data")
    put = ["store", "put", store_dir, "--stream", "s", "--start", "now", "--duration", "2"]

    cp = sluice(*put, tmp_path / "missing.ts")
    assert cp.returncode == 1
    line = one_error_line(cp)
    assert line == f'sluice: store put: open "{tmp_path}/missing.ts": No such file or directory'

    cp = sluice("store", "put", store_dir, "--stream", "s", "--start", "yesterday-ish",
                "--duration", "2", fp)
    assert cp.returncode == 2 and "--start" in cp.stderr and "usage:" in cp.stderr

    cp = sluice("store", "put", store_dir, "--stream", "s", "--start", "now",
                "--duration", "fast", fp)
    assert cp.returncode == 2 and "--duration" in cp.stderr

    cp = sluice("store", "put", store_dir, "--stream", "bad name", "--start", "now",
                "--duration", "2", fp)
    assert cp.returncode == 2

    cp = sluice("store", "query", store_dir, "--stream", "nosuch")
    assert cp.returncode == 1
    assert one_error_line(cp) == 'sluice: store query: unknown stream "nosuch"'

    missing = tmp_path / "nostore"
    cp = sluice("store", "put", missing, "--stream", "s", "--start", "now", "--duration", "2", fp)
    assert cp.returncode == 1
    assert "No such file or directory" in one_error_line(cp)
    assert not missing.exists()   # never created implicitly
    cp = sluice("store", "query", missing, "--stream", "s")
    assert cp.returncode == 1 and not missing.exists()

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x").write_text("x")
    for args in (("store", "stats", plain), ("store", "fsck", plain),
                 ("store", "query", plain, "--stream", "s")):
        cp = sluice(*args)
        assert cp.returncode == 1
        assert "not a sluice store" in one_error_line(cp)
    cp = sluice("store", "init", plain)
    assert cp.returncode == 1

    for args in (("store", "put", store_dir, "--bogus"), ("store", "query", store_dir),
                 ("store", "stats"), ("store", "frobnicate"), ("store",), ("nosuchcmd",),
                 ("store", "put", store_dir, "--stream", "s", fp),
                 ("store", "query", store_dir, "--stream", "s", "--from", "x")):
        cp = sluice(*args)
        assert cp.returncode == 2, (args, cp.stderr)
        assert "usage:" in cp.stderr, (args, cp.stderr)
    cp = sluice()
    assert cp.returncode == 2
    for args in (("--help",), ("store", "--help"), ("store", "put", "--help")):
        cp = sluice(*args, check=0)
        assert "usage:" in cp.stdout


def test_two_writers(sluice, store_dir):
    exe = binpath("sluice")
    ps = [subprocess.Popen([exe, "store", "stress", str(store_dir), "--stream", f"w{i}",
                            "--count", "60", "--size", "2000"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(2)]
    outs = [p.communicate(timeout=120) for p in ps]
    for p, (out, err) in zip(ps, outs):
        assert p.returncode == 0, err
        assert "AddressSanitizer" not in err and "runtime error" not in err
    for i, (out, _) in enumerate(outs):
        acks = {(int(ln.split()[3]), ln.split()[4]) for ln in out.splitlines()}
        assert len(acks) == 60
        got = {(r["start_us"], r["cid"]) for r in query(sluice, store_dir, "--stream", f"w{i}")}
        assert got == acks
        seqs = [r["seq"] for r in query(sluice, store_dir, "--stream", f"w{i}")]
        assert seqs == list(range(60))
    st = stats(sluice, store_dir)
    assert st["records"] == 120 and st["last_seq"] == 120
    cp = sluice("store", "fsck", store_dir, check=0)
    assert "0 bad hash, 0 missing blob, 0 bad refcount" in cp.stdout


def test_fsck_detects_damage(sluice, store_dir, tmp_path):
    a = write(tmp_path / "a.ts", os.urandom(4000))
    b = write(tmp_path / "b.ts", os.urandom(4000))
    ca = sluice("store", "put", store_dir, "--stream", "s", "--start", str(T0),
                "--duration", "2", a, check=0).stdout.strip()
    cb = sluice("store", "put", store_dir, "--stream", "s", "--start", str(T0 + 2),
                "--duration", "2", b, check=0).stdout.strip()
    sluice("store", "fsck", store_dir, check=0)
    pa = store_dir / "blobs" / ca[:2] / ca
    data = bytearray(pa.read_bytes())
    data[100] ^= 0x01
    os.chmod(pa, 0o644)
    pa.write_bytes(bytes(data))
    cp = sluice("store", "fsck", store_dir)
    assert cp.returncode == 1
    assert ca in cp.stdout and "bad_hash" in cp.stdout
    assert ca in one_error_line(cp)
    pa.write_bytes(open(a, "rb").read())   # restore
    sluice("store", "fsck", store_dir, check=0)
    (store_dir / "blobs" / cb[:2] / cb).unlink()
    cp = sluice("store", "fsck", store_dir)
    assert cp.returncode == 1
    assert f"missing_blob {cb}" in cp.stdout
    assert cb in one_error_line(cp)


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {cp.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk(sluice, tiny_fs, tmp_path):
    d = tiny_fs / "store"
    sluice("store", "init", d, check=0)
    big = write(tmp_path / "big.ts", os.urandom(3 * 1024 * 1024))
    cp = sluice("store", "put", d, "--stream", "s", "--start", "now", "--duration", "2", big)
    assert cp.returncode == 1
    line = one_error_line(cp)
    assert "No space left on device" in line and "big.ts" in line
    assert os.listdir(d / "tmp") == []
    assert all(os.listdir(d / "blobs" / sub) == [] for sub in os.listdir(d / "blobs"))
    cp = sluice("store", "query", d, "--stream", "s")
    assert cp.returncode == 1 and "unknown stream" in cp.stderr
    assert stats(sluice, d)["records"] == 0
    # The store still works once there is room.
    small = write(tmp_path / "small.ts", b"small")
    sluice("store", "put", d, "--stream", "s", "--start", "now", "--duration", "2", small, check=0)
    assert stats(sluice, d)["records"] == 1
    sluice("store", "fsck", d, check=0)
