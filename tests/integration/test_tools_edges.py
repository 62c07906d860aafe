"""sluice edges ls|drain against a real bin/sluice-origin."""
import json
import os
import subprocess

import pytest

from conftest import start_origin
from conftest import SAN_RE, binpath, free_port, http, parse_metrics, wait_until


def register(base, eid, url, capacity, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"id": eid, "url": url, "capacity": capacity}).encode()
    st, _, resp = http("POST", base + "/api/v1/edges", body, headers)
    assert st in (200, 201), (st, resp)


def run(*args, env=None):
    """bin/sluice with an explicit environment (no SLUICE_* leaking in)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    e.update(env or {})
    cp = subprocess.run([binpath("sluice")] + [str(a) for a in args], capture_output=True,
                        text=True, timeout=30, env=e)
    if SAN_RE.search(cp.stderr.encode()):
        pytest.fail(f"sanitizer report from sluice {args}:\n{cp.stderr}")
    return cp


def ls_json(base, **kw):
    cp = run("edges", "ls", "--origin", base, "--json", **kw)
    assert cp.returncode == 0, cp.stderr
    return {o["id"]: o for o in (json.loads(x) for x in cp.stdout.splitlines() if x.strip())}


def test_ls_and_drain(procs, store_dir):
    _, base = start_origin(procs, store_dir)
    assert ls_json(base) == {}
    # unreachable edge URLs: they stay registered, probes fail
    register(base, "e1", f"http://127.0.0.1:{free_port()}", 10)
    register(base, "e2", f"http://127.0.0.1:{free_port()}", 20)

    edges = ls_json(base)
    assert set(edges) == {"e1", "e2"}
    assert edges["e1"]["capacity"] == 10 and edges["e2"]["capacity"] == 20
    assert all("state" in e and "url" in e for e in edges.values())

    cp = run("edges", "ls", "--origin", base + "/")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "URL", "STATE"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert set(rows) == {"e1", "e2"}
    assert rows["e2"][3] == "0.00/20"

    cp = run("edges", "drain", "e1", "--origin", base)
    assert cp.returncode == 0, cp.stderr
    assert set(ls_json(base)) == {"e2"}

    cp = run("edges", "drain", "nope", "--origin", base)
    assert cp.returncode == 1
    assert cp.stderr.strip().splitlines() == [
        f'sluice: edges drain: origin {base}: unknown edge "nope" (HTTP 404)']
    cp = run("edges", "drain", "e1", "--origin", base)      # already gone
    assert cp.returncode == 1 and 'unknown edge "e1"' in cp.stderr

    # the origin URL from the environment
    cp = run("edges", "ls", "--json", env={"SLUICE_ORIGIN": base})
    assert cp.returncode == 0 and '"e2"' in cp.stdout, cp.stderr

    def gauges():
        m = parse_metrics(http("GET", base + "/metrics")[2].decode())
        return sum(v for k, v in m.items() if k.startswith("sluice_origin_edges{"))
    wait_until(lambda: gauges() == 1, what="one registered edge in the metrics")
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="edges",status="404"}'] >= 2
    assert m['sluice_origin_requests_total{route="edges",status="200"}'] >= 4


def test_drain_needs_token(procs, store_dir):
    _, base = start_origin(procs, store_dir, "--token", "s3cret")
    register(base, "a", f"http://127.0.0.1:{free_port()}", 5, token="s3cret")
    register(base, "b", f"http://127.0.0.1:{free_port()}", 5, token="s3cret")
    assert set(ls_json(base)) == {"a", "b"}               # reading needs no token

    for tok in ([], ["--token", "wrong"]):
        cp = run("edges", "drain", "a", "--origin", base, *tok)
        assert cp.returncode == 1
        lines = cp.stderr.strip().splitlines()
        assert len(lines) == 1 and "bearer token" in lines[0] and "401" in lines[0], lines
    assert set(ls_json(base)) == {"a", "b"}

    assert run("edges", "drain", "a", "--origin", base, "--token", "s3cret").returncode == 0
    cp = run("edges", "drain", "b", "--origin", base, env={"SLUICE_TOKEN": "s3cret"})
    assert cp.returncode == 0, cp.stderr
    assert ls_json(base) == {}
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="edges",status="401"}'] >= 2


def test_usage_and_unreachable():
    for args in (["edges"], ["edges", "bogus"], ["edges", "ls"],
                 ["edges", "drain", "--origin", "http://127.0.0.1:1"],
                 ["edges", "drain", "a", "b", "--origin", "http://127.0.0.1:1"],
                 ["edges", "drain", "bad id", "--origin", "http://127.0.0.1:1"],
                 ["edges", "ls", "--origin", "127.0.0.1:1"],
                 ["edges", "ls", "--origin", "http://127.0.0.1:1", "--bogus"],
                 ["edges", "drain", "a", "--origin", "http://127.0.0.1:1", "--json"]):
        cp = run(*args)
        assert cp.returncode == 2, (args, cp.stderr)
        assert "usage:" in cp.stderr
    assert run("edges", "--help").returncode == 0
    cp = run("edges", "ls", "--origin", f"http://127.0.0.1:{free_port()}")
    assert cp.returncode == 1
    assert len(cp.stderr.strip().splitlines()) == 1 and "connect" in cp.stderr.lower()
