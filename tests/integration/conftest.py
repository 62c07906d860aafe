"""Shared fixtures for sluice integration tests.

Tests start real binaries (from $SLUICE_BIN, default ./bin) on 127.0.0.1
with free ports, wait for readiness by polling, and clean up after
themselves. A process started through `procs` is killed at teardown; if it
printed a sanitizer report, the test fails.
"""
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "bin"))


def binpath(name):
    """Absolute path of a sluice binary, skipping the test if it is not built."""
    p = os.path.join(BIN, name)
    if not os.path.exists(p):
        pytest.skip(f"{name} not built in {BIN}")
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """Return (status, headers dict (lowercase keys), body bytes); never raises on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def wait_until(pred, timeout=15.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling
            last = e
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what} (last error: {last!r})")


def wait_http_ok(url, timeout=15.0):
    def ok():
        st, _, _ = http("GET", url, timeout=2)
        return st == 200
    return wait_until(ok, timeout, what=f"200 from {url}")


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': value}; also 'name' for unlabelled."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?)\s+(\S+)", line)
        if m:
            out[m.group(1)] = float(m.group(3))
    return out


def metric_sum(metrics, name):
    """Sum of every series of one metric name."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


SAN_RE = re.compile(rb"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)")


class Proc:
    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=e, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout=20):
        return self.p.wait(timeout=timeout)

    def stop(self, sig=None, timeout=15):
        # (default resolved here: in the class body `signal` is the method above)
        sig = signal.SIGTERM if sig is None else sig
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


class Procs:
    """Start processes; at teardown stop them and check for sanitizer reports."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.list = []

    def start(self, args, env=None, name=None):
        name = name or os.path.basename(args[0])
        log = self.tmp_path / f"{name}-{len(self.list)}.log"
        pr = Proc([str(a) for a in args], str(log), env)
        self.list.append(pr)
        return pr

    def cleanup(self):
        bad = []
        for pr in self.list:
            pr.stop()
            out = pr.output()
            if SAN_RE.search(out):
                bad.append((pr.args, out[-6000:].decode(errors="replace")))
        if bad:
            msg = "\n\n".join(f"{a}:\n{o}" for a, o in bad)
            pytest.fail(f"sanitizer report from a process:\n{msg}")


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    yield ps
    ps.cleanup()


@pytest.fixture
def sluice():
    """Run bin/sluice with args; returns CompletedProcess (text)."""
    exe = binpath("sluice")

    def run(*args, input=None, timeout=60, check=None):
        cp = subprocess.run([exe] + [str(a) for a in args], input=input,
                            capture_output=True, text=True, timeout=timeout)
        if SAN_RE.search(cp.stderr.encode()):
            pytest.fail(f"sanitizer report from sluice {args}:\n{cp.stderr}")
        if check is not None:
            assert cp.returncode == check, (args, cp.returncode, cp.stdout, cp.stderr)
        return cp
    return run


@pytest.fixture
def store_dir(tmp_path, sluice):
    d = tmp_path / "store"
    sluice("store", "init", d, check=0)
    return d


def start_origin(procs, store, *extra, port=None):
    """Start bin/sluice-origin on 127.0.0.1 for a store; wait for /healthz.

    Returns (Proc, base URL)."""
    port = port or free_port()
    p = procs.start([binpath("sluice-origin"), "--listen", f"127.0.0.1:{port}",
                     "--store", store, *extra])
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(base + "/healthz")
    return p, base
