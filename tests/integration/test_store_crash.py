"""Crash safety of the store: writers killed with SIGKILL at random points.

Several `sluice store stress` writers (each on its own stream) put segments and
print "ACK stream variant start_us cid" after each durable put. The test kills
them with SIGKILL at random moments, 30 times within about 20 s, then proves
that every acknowledged put is in the index with its blob, and that
`sluice store fsck` finds no problem (tmp leftovers of killed writers are
reported as notes and removed by --repair).
"""
import json
import random
import signal
import subprocess
import time

from conftest import binpath

KILLS = 30
PARALLEL = 3
BUDGET_S = 25.0


def test_kill9_writers(sluice, store_dir):
    exe = binpath("sluice")
    rng = random.Random()
    acked = {}          # stream -> {(start_us, cid)}
    running = []        # (Popen, stream, kill_at)
    kills = 0
    started = 0
    t_end = time.monotonic() + BUDGET_S

    def start():
        nonlocal started
        stream = f"crash{started}"
        started += 1
        p = subprocess.Popen([exe, "store", "stress", str(store_dir), "--stream", stream,
                              "--count", "100000", "--size", str(rng.choice([512, 8192, 65536]))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        running.append((p, stream, time.monotonic() + rng.uniform(0.15, 0.9)))

    def collect(p, stream):
        out, err = p.communicate(timeout=30)
        assert b"AddressSanitizer" not in err and b"runtime error" not in err, err
        got = acked.setdefault(stream, set())
        for line in out.split(b"\n"):
            parts = line.split()
            if len(parts) == 5 and parts[0] == b"ACK":
                got.add((int(parts[3]), parts[4].decode()))
        return err

    while kills < KILLS and time.monotonic() < t_end:
        while len(running) < PARALLEL:
            start()
        now = time.monotonic()
        for item in list(running):
            p, stream, kill_at = item
            if p.poll() is not None:
                err = collect(p, stream)
                running.remove(item)
                assert False, f"writer {stream} exited {p.returncode}: {err!r}"
            if now >= kill_at:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=10)
                collect(p, stream)
                running.remove(item)
                kills += 1
        time.sleep(0.02)
    for p, stream, _ in running:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        collect(p, stream)
    assert kills >= KILLS // 2, f"only {kills} kills in the time budget"

    total = sum(len(v) for v in acked.values())
    assert total > 0
    for stream, want in acked.items():
        if not want:
            continue
        cp = sluice("store", "query", store_dir, "--stream", stream, "--json", check=0)
        recs = [json.loads(line) for line in cp.stdout.splitlines()]
        have = {(r["start_us"], r["cid"]) for r in recs}
        missing = want - have
        assert not missing, f"{stream}: {len(missing)} acknowledged puts lost"
        for r in recs:
            assert (store_dir / "blobs" / r["cid"][:2] / r["cid"]).exists()
    cp = sluice("store", "fsck", store_dir)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "0 bad hash, 0 missing blob, 0 bad refcount" in cp.stdout
    sluice("store", "fsck", store_dir, "--repair", check=0)
    cp = sluice("store", "fsck", store_dir, check=0)
    assert cp.stdout.rstrip().endswith("0 tmp files"), cp.stdout
    st = json.loads(sluice("store", "stats", store_dir, "--json", check=0).stdout)
    assert st["records"] >= total
    print(f"{kills} kills, {total} acknowledged puts, all present; {st['records']} records")
