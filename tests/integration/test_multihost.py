"""Multi-host deployment in network namespaces (DESIGN.md: origin and edges on
separate hosts, edges added when a talk goes viral).

Hosts are network namespaces joined by a bridge (netns_util.Lab): origin
10.77.0.1 (origin + ingest sharing one store), edge-a 10.77.0.2, edge-b
10.77.0.3, viewer 10.77.0.4. A viewer script in the viewer namespace plays
the live playlist like an HLS player (reload every second, fetch every newly
listed segment, verify sha256 == CID, record each media sequence's first
URI) while the test adds edge-b, drains edge-a (SIGTERM) and cuts edge-b's
link. Skipped without CAP_NET_ADMIN.
"""
import hashlib
import json
import re
import signal
import subprocess
import time

import pytest

from conftest import binpath, metric_sum, parse_metrics, wait_until
from netns_util import Lab, LabUnavailable

PY = "/usr/bin/python3"
HEALTH_INTERVAL_S = 0.5
OPORT, EPORT = 8080, 8081
VIEWER_MAX_S = 90          # hard bound on the viewer's run
POLL_S = 0.1

VIEWER = r"""
import hashlib, json, os, re, sys, time, urllib.request

playlist, origin, out, progress, stop, max_s = sys.argv[1:7]
max_s = float(max_s)
RELOAD_S, PL_TIMEOUT_S, SEG_TIMEOUT_S = 1.0, 2.0, 1.5
first = {}      # seq -> {"uri", "t_listed", "last_seen"}
fetches = []    # {"seq","uri","t","ok","verified","error","fallback"}
mismatches = []
reloads = {"ok": 0, "fail": 0, "errors": []}


def get(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def fetch_verify(url, cid):
    try:
        st, body = get(url, SEG_TIMEOUT_S)
    except Exception as e:
        return False, False, repr(e)
    return st == 200, hashlib.sha256(body).hexdigest() == cid, None


def dump(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"first": first, "fetches": fetches, "mismatches": mismatches,
                   "reloads": reloads}, f)
    os.replace(tmp, path)


t_end = time.monotonic() + max_s
while time.monotonic() < t_end and not os.path.exists(stop):
    t = time.monotonic()
    try:
        st, body = get(playlist, PL_TIMEOUT_S)
        assert st == 200, st
        text = body.decode()
        mseq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
        uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        reloads["ok"] += 1
    except Exception as e:
        reloads["fail"] += 1
        reloads["errors"].append(repr(e))
        uris = []
    new = []
    for i, uri in enumerate(uris):
        seq = str(mseq + i)
        if seq not in first:
            first[seq] = {"uri": uri, "t_listed": t, "last_seen": t}
            new.append((seq, uri))
        else:
            first[seq]["last_seen"] = t
            if first[seq]["uri"] != uri:
                mismatches.append({"seq": seq, "first": first[seq]["uri"], "now": uri})
    for seq, uri in new:
        cid = re.search(r"/seg/([0-9a-f]{64})\.ts$", uri).group(1)
        tf = time.monotonic()
        ok, verified, err = fetch_verify(uri, cid)
        rec = {"seq": seq, "uri": uri, "t": tf, "ok": ok, "verified": verified, "error": err,
               "fallback": None}
        if not (ok and verified):
            # a player's failover to its redundant stream: the origin itself
            fok, fver, ferr = fetch_verify(origin + "/seg/" + cid + ".ts", cid)
            rec["fallback"] = {"ok": fok, "verified": fver, "error": ferr}
        fetches.append(rec)
    dump(progress)
    time.sleep(max(0.0, min(RELOAD_S, t + RELOAD_S - time.monotonic())))
dump(out)
"""


@pytest.fixture
def lab():
    for tool in ("/usr/bin/curl", PY):
        try:
            subprocess.run([tool, "--version"], capture_output=True, timeout=10)
        except OSError:
            pytest.skip(f"{tool} not available")
    lb = Lab()
    try:
        lb.create(["origin", "edgea", "edgeb", "viewer"])
    except LabUnavailable as e:
        lb.destroy()
        pytest.skip(f"cannot create network namespaces: {e}")
    except Exception:
        lb.destroy()
        raise
    yield lb
    errors = lb.destroy()
    assert not errors, errors


def parse_playlist(text):
    mseq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
    uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {mseq + i: u for i, u in enumerate(uris)}


def host_of(uri):
    return uri.split("/seg/")[0]


def test_origin_edges_on_separate_hosts(lab, procs, tmp_path):
    # `lab` comes before `procs`: processes are stopped (and checked) before
    # the namespaces are torn down.
    origin_bin, edge_bin = binpath("sluice-origin"), binpath("sluice-edge")
    ingest_bin, cli = binpath("sluice-ingest"), binpath("sluice")
    O = f"http://{lab.addr('origin')}:{OPORT}"
    EA = f"http://{lab.addr('edgea')}:{EPORT}"
    EB = f"http://{lab.addr('edgeb')}:{EPORT}"
    store = tmp_path / "origin-host-store"
    subprocess.run([cli, "store", "init", str(store)], check=True, capture_output=True,
                   timeout=30)

    def get(role, url, timeout=3.0):
        return lab.http(role, url, timeout=timeout)

    def get_ok(role, url):
        st, body = get(role, url)
        assert st == 200, (url, st, body[:300])
        return body

    def edges():
        return {e["id"]: e for e in json.loads(get_ok("viewer", O + "/api/v1/edges"))}

    def playlist(sid):
        return parse_playlist(get_ok("viewer", f"{O}/hls/cam/src/live.m3u8?sid={sid}").decode())

    def max_seq():
        return max(playlist("probe"))

    def metrics(role, base):
        return parse_metrics(get_ok(role, base + "/metrics").decode())

    def start_edge(role, eid, base):
        p = procs.start(lab.exec_args(role, [
            edge_bin, "--listen", f"{lab.addr(role)}:{EPORT}", "--upstream", O,
            "--origin", O, "--advertise", base, "--id", eid, "--capacity", "100",
            "--threads", "1"]), name=eid)
        wait_until(lambda: get(role, base + "/healthz")[0] == 200, timeout=15, interval=POLL_S,
                   what=f"{eid} /healthz")
        return p

    # 1. origin host: origin + ingest on one store
    procs.start(lab.exec_args("origin", [
        origin_bin, "--listen", f"{lab.addr('origin')}:{OPORT}", "--store", store,
        "--health-interval", f"{int(HEALTH_INTERVAL_S * 1000)}ms"]), name="origin")
    wait_until(lambda: get("viewer", O + "/healthz")[0] == 200, timeout=15, interval=POLL_S,
               what="origin /healthz from the viewer host")
    procs.start(lab.exec_args("origin", [
        ingest_bin, "--input", "lavfi:testsrc2=size=320x240:rate=25", "--stream", "cam",
        "--store", store, "--segment", "1s", "--realtime", "--preset", "ultrafast"]),
        name="ingest")

    # 2. edge-a host
    edge_a = start_edge("edgea", "edge-a", EA)
    wait_until(lambda: edges().get("edge-a", {}).get("healthy"), timeout=20, interval=POLL_S,
               what="edge-a healthy at the origin")
    assert edges()["edge-a"]["url"].rstrip("/") == EA
    wait_until(lambda: get("viewer", f"{O}/hls/cam/src/live.m3u8?sid=probe")[0] == 200
               and len(playlist("probe")) >= 2, timeout=20, interval=0.2,
               what="two live segments")
    m_a = max_seq()      # later segments are first listed with edge-a healthy

    # 3. viewer host: an HLS-player-like loop
    vscript = tmp_path / "viewer.py"
    vscript.write_text(VIEWER)
    vout, vprog, vstop = (tmp_path / "viewer.json", tmp_path / "viewer-progress.json",
                          tmp_path / "viewer.stop")
    viewer = procs.start(lab.exec_args("viewer", [
        PY, vscript, f"{O}/hls/cam/src/live.m3u8?sid=v1", O, vout, vprog, vstop,
        VIEWER_MAX_S]), name="viewer")

    def fetched_after(seq_floor, n):
        def pred():
            if not viewer.alive():
                pytest.fail("viewer exited early:\n" + viewer.output().decode(errors="replace"))
            try:
                prog = json.loads(vprog.read_text())
            except (OSError, ValueError):
                return None
            return sum(1 for f in prog["fetches"] if int(f["seq"]) > seq_floor) >= n
        return pred

    wait_until(fetched_after(m_a, 2), timeout=15, interval=0.2,
               what="viewer fetched 2 segments listed with edge-a")

    # 4a. edge-b joins at runtime; both healthy; new segments split by viewer
    m_b0 = max_seq()     # listed before edge-b existed: edge-a only
    edge_b = start_edge("edgeb", "edge-b", EB)
    e = wait_until(lambda: (lambda x: x if all(
        x.get(i, {}).get("healthy") and x[i].get("last_heartbeat") for i in ("edge-a", "edge-b"))
        else None)(edges()), timeout=20, interval=POLL_S,
        what="edge-a and edge-b healthy and sending heartbeats")
    assert e["edge-b"]["url"].rstrip("/") == EB
    m_b = max_seq()
    wait_until(lambda: max_seq() > m_b, timeout=10, interval=0.2, what="a new segment")
    split = {}
    for v in range(1, 21):
        pl = playlist(f"v{v}")
        new = [pl[s] for s in pl if s > m_b]
        assert new, pl
        split[f"v{v}"] = {host_of(u) for u in new}
        assert len(split[f"v{v}"]) == 1, split        # one edge per viewer per snapshot
    assert set().union(*split.values()) == {EA, EB}, split
    # each edge serves (and caches) what it was given: fetch one of each twice
    newest = {}
    for v in range(1, 21):
        pl = playlist(f"v{v}")
        newest.setdefault(host_of(pl[max(pl)]), pl[max(pl)])
    for base in (EA, EB):
        uri = newest.get(base) or next(iter(newest.values()))
        for _ in range(2):
            body = get_ok("viewer", uri)
            assert f"/seg/{hashlib.sha256(body).hexdigest()}.ts" in uri
    ma = metrics("edgea", EA)
    assert metric_sum(ma, "sluice_edge_cache_misses_total") >= 1
    assert metric_sum(ma, "sluice_edge_cache_hits_total") >= 1
    assert metric_sum(ma, "sluice_edge_upstream_requests_total") >= 1
    assert ma.get('sluice_edge_requests_total{status="200"}', 0) >= 3
    assert metric_sum(ma, "sluice_edge_verify_failures_total") == 0

    # 4b. drain edge-a (SIGTERM): deregisters; new segments go to edge-b only
    t_term_a = time.monotonic()
    edge_a.signal(signal.SIGTERM)
    assert edge_a.wait(15) == 0
    assert "deregistered" in edge_a.output().decode(errors="replace")
    wait_until(lambda: (lambda x: x is None or x.get("draining"))(edges().get("edge-a")),
               timeout=10, interval=POLL_S, what="edge-a gone from the registry")
    t_drained = time.monotonic()
    m_drain = max_seq()
    wait_until(fetched_after(m_drain, 2), timeout=15, interval=0.2,
               what="viewer fetched 2 segments listed after the drain")
    mb = metrics("edgeb", EB)
    assert metric_sum(mb, "sluice_edge_cache_misses_total") >= 2
    assert metric_sum(mb, "sluice_edge_cache_hits_total") >= 1
    assert metric_sum(mb, "sluice_edge_verify_failures_total") == 0

    # 4c. edge-b's host drops off the network: unhealthy within ~2 intervals,
    # new segments fall back to the origin's own /seg URIs
    m_pre_down = max_seq()
    t_down = time.monotonic()
    lab.link("edgeb", up=False)
    wait_until(lambda: not edges()["edge-b"]["healthy"], timeout=10, interval=POLL_S,
               what="edge-b unhealthy")
    t_unhealthy = time.monotonic() - t_down
    # two failed probes (timeout = interval) or 3 missed heartbeat intervals,
    # plus one interval of phase and our polling
    assert t_unhealthy < 6 * HEALTH_INTERVAL_S + 0.5, t_unhealthy
    m_down = max_seq()
    wait_until(fetched_after(m_down, 2), timeout=15, interval=0.2,
               what="viewer fetched 2 segments listed after edge-b went away")
    vstop.write_text("stop")
    assert viewer.wait(10) == 0, viewer.output().decode(errors="replace")
    log = json.loads(vout.read_text())

    # 5. the viewer's story
    assert log["mismatches"] == [], log["mismatches"]           # steering invariant
    assert log["reloads"]["fail"] == 0, log["reloads"]
    first = {int(s): v for s, v in log["first"].items()}
    fetched = {int(f["seq"]): f for f in log["fetches"]}
    assert set(first) == set(fetched)                          # every listed segment fetched
    for seq, f in fetched.items():
        host = host_of(f["uri"])
        if f["ok"] and f["verified"]:
            continue
        # only segments listed on an edge before it went away, and fetched
        # after, may fail; the player's failover to the origin gets them
        gone_at, last_seq = {EA: (t_term_a, m_drain), EB: (t_down, m_down)}.get(host, (None, 0))
        assert gone_at is not None and f["t"] >= gone_at and seq <= last_seq, f
        assert f["fallback"]["ok"] and f["fallback"]["verified"], f
    for seq, v in first.items():
        host = host_of(v["uri"])
        if seq > m_down:
            assert host == O, (seq, v, m_down)
        elif seq > m_pre_down:
            assert host in (EB, O), (seq, v)
        elif seq > m_drain:
            assert host == EB, (seq, v, m_drain)
        elif seq > m_a:
            assert host in (EA, EB), (seq, v)                   # from edges once healthy
        if m_a < seq <= m_b0:
            assert host == EA, (seq, v)
    assert any(host_of(v["uri"]) == EA for v in first.values())
    assert any(host_of(v["uri"]) == EB for v in first.values())
    assert sum(1 for s in first if s > m_down) >= 2
    # edge-a URIs listed before the drain stayed listed, unchanged, after it
    assert any(host_of(v["uri"]) == EA and v["last_seen"] > t_drained for v in first.values()), \
        "no edge-a URI was re-listed after the drain"
    direct_ok = sum(1 for f in fetched.values() if f["ok"] and f["verified"])

    # origin metrics (read on the origin host)
    mo = metrics("origin", O)
    assert mo.get('sluice_origin_steering_decisions_total{edge="edge-a"}', 0) > 0
    assert mo.get('sluice_origin_steering_decisions_total{edge="edge-b"}', 0) > 0
    assert mo.get('sluice_origin_steering_decisions_total{edge="origin"}', 0) > 0
    assert mo.get('sluice_origin_edge_probes_total{result="fail"}', 0) >= 1
    assert mo.get('sluice_origin_edge_probes_total{result="ok"}', 0) >= 2
    assert metric_sum(mo, "sluice_origin_edge_heartbeats_total") >= 2
    assert mo.get('sluice_origin_edges{state="unhealthy"}', 0) >= 1
    assert mo.get('sluice_origin_edges{state="healthy"}', 0) == 0
    assert metric_sum(mo, "sluice_origin_segment_bytes_total") > 0

    # edge-b's host comes back: it answers again and gets new segments again
    assert edge_b.alive(), edge_b.output()[-3000:].decode(errors="replace")
    lab.link("edgeb", up=True)
    wait_until(lambda: edges()["edge-b"]["healthy"], timeout=10, interval=POLL_S,
               what="edge-b healthy again")
    m_up = max_seq()
    wait_until(lambda: max_seq() > m_up, timeout=10, interval=0.2, what="a new segment")
    pl = playlist("v1")
    assert all(host_of(pl[s]) == EB for s in pl if s > m_up), pl
    assert all(pl[s] == first[s]["uri"] for s in pl if s in first)   # still no rewrites
    print(f"edge-a drained in {t_drained - t_term_a:.2f}s; "
          f"edge-b unhealthy after {t_unhealthy:.2f}s; seqs a={m_a} b0={m_b0} b={m_b} "
          f"drain={m_drain} pre_down={m_pre_down} down={m_down}; "
          f"viewer fetched {len(fetched)} ({direct_ok} direct)")
