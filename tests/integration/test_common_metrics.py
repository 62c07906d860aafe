"""libcommon metrics exposition checked by the real promtool.

The unit-test binary test_metrics can dump a rendered sample registry
(`test_metrics --dump FILE`); this test feeds that to `promtool check metrics`.
It builds nothing: it uses the unit binary next to $SLUICE_BIN if that is a
build/<kind>/bin directory, else build/san or build/rel, and skips if none is
built or promtool is missing.
"""
import os
import shutil
import subprocess

import pytest

from conftest import BIN, ROOT, parse_metrics

UNIT = os.path.join("tests", "unit", "common", "test_metrics")
PROMTOOL = "/usr/bin/promtool"


def unit_binary():
    cands = []
    if os.path.basename(os.path.normpath(BIN)) == "bin":
        cands.append(os.path.join(os.path.dirname(os.path.normpath(BIN)), UNIT))
    cands += [os.path.join(ROOT, "build", "san", UNIT), os.path.join(ROOT, "build", "rel", UNIT)]
    for c in cands:
        if os.path.exists(c):
            return c
    pytest.skip("test_metrics unit binary not built (make build/rel/" + UNIT + ")")


def promtool():
    p = PROMTOOL if os.path.exists(PROMTOOL) else shutil.which("promtool")
    if not p:
        pytest.skip("promtool not installed (Debian package prometheus)")
    return p


def promtool_check(text):
    r = subprocess.run([promtool(), "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def test_promtool_accepts_rendered_registry(tmp_path):
    out = tmp_path / "out.prom"
    r = subprocess.run([unit_binary(), "--dump", str(out)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    text = out.read_text()
    rc, msg = promtool_check(text)
    assert rc == 0 and msg.strip() == "", msg

    m = parse_metrics(text)
    assert m['sluice_requests_total{route="/hls",status="200"}'] == 42
    assert m["sluice_connections"] == 3
    assert m['sluice_request_seconds_count{route="/hls"}'] == 100
    assert m['sluice_request_seconds_bucket{route="/hls",le="+Inf"}'] == 100
    assert m["sluice_empty_seconds_count"] == 0
    # One HELP/TYPE per name even though series were registered apart.
    assert text.count("# TYPE sluice_requests_total ") == 1
    # Buckets are cumulative (non-decreasing in le order).
    buckets = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('sluice_request_seconds_bucket{')]
    assert buckets == sorted(buckets) and len(buckets) == 7


def test_promtool_rejects_broken_exposition():
    """Guard that the check above is meaningful: promtool does flag errors."""
    bad = ("# TYPE x counter\nx 1\n# TYPE x counter\nx 2\n")
    rc, _ = promtool_check(bad)
    assert rc != 0
