"""sluice-origin: the store replication API (/store/v1) round trip."""
import hashlib
import json
import threading
import time

from conftest import start_origin
from conftest import http, parse_metrics

T0 = int(time.time()) - 600


def put_file(sluice, store, path, start):
    cp = sluice("store", "put", store, "--stream", "cam", "--start", str(start),
                "--duration", "2", "--json", path, check=0)
    return json.loads(cp.stdout.strip().splitlines()[-1])


def changes(base, since, extra=""):
    st, h, body = http("GET", f"{base}/store/v1/changes?since={since}{extra}", timeout=30)
    assert st == 200, body
    assert h["content-type"] == "application/x-ndjson"
    lines = [json.loads(ln) for ln in body.decode().splitlines() if ln]
    return lines, int(h["x-sluice-last-seq"])


def record(cid, size, start, seq=0):
    return {"stream": "pushed", "variant": "src", "start_us": start * 10**6,
            "duration_us": 2 * 10**6, "seq": seq, "session": "p", "discontinuity": seq == 0,
            "cid": cid, "size": size, "tenant": "", "device": "", "codecs": "", "width": 0,
            "height": 0, "bandwidth": 0, "node": "ab" * 16}


def test_store_api_round_trip(procs, store_dir, sluice, tmp_path):
    f = tmp_path / "a.ts"
    f.write_bytes(b"A" * 3000)
    rec = put_file(sluice, store_dir, f, T0)
    origin, base = start_origin(procs, store_dir)

    st, _, body = http("GET", base + "/store/v1/info")
    info = json.loads(body)
    assert st == 200 and len(info["node"]) == 32
    assert info["last_seq"] >= 1 and info["records"] == 1 and info["blobs"] == 1

    lines, last = changes(base, 0)
    assert last == info["last_seq"] and lines[-1]["seq"] == last
    assert lines[-1]["op"] == "put" and lines[-1]["cid"] == rec["cid"]
    assert changes(base, last)[0] == []
    lines, _ = changes(base, 0, "&limit=1")
    assert len(lines) == 1

    # blobs: get/head, upload with a wrong and a right hash
    st, h, body = http("GET", f"{base}/store/v1/blobs/{rec['cid']}")
    assert st == 200 and body == b"A" * 3000
    st, _, _ = http("HEAD", f"{base}/store/v1/blobs/{'1' * 64}")
    assert st == 404
    data = b"pushed segment bytes" * 100
    cid = hashlib.sha256(data).hexdigest()
    st, _, body = http("PUT", f"{base}/store/v1/blobs/{'2' * 64}", body=data)
    assert st == 400 and "error" in json.loads(body)
    st, _, _ = http("PUT", f"{base}/store/v1/blobs/{cid}", body=data)
    assert st == 201
    st, _, _ = http("PUT", f"{base}/store/v1/blobs/{cid}", body=data)
    assert st == 200
    st, _, _ = http("PUT", f"{base}/store/v1/blobs/not-a-cid", body=data)
    assert st == 400

    # records: missing blob -> 409, bad JSON -> 400, good -> stored and in the feed
    missing = record("3" * 64, 10, T0)
    st, _, body = http("POST", base + "/store/v1/records",
                       body=(json.dumps(missing) + "\n").encode())
    assert st == 409 and "error" in json.loads(body)
    st, _, body = http("POST", base + "/store/v1/records", body=b"{\"stream\":\n")
    assert st == 400 and "error" in json.loads(body)
    good = [record(cid, len(data), T0 + 2 * i, seq=i) for i in range(2)]
    st, _, body = http("POST", base + "/store/v1/records",
                       body="".join(json.dumps(r) + "\n" for r in good).encode())
    assert st == 200, body
    assert json.loads(body) == {"accepted": 2, "created": 2}
    lines, last2 = changes(base, last)
    assert [x["stream"] for x in lines] == ["pushed", "pushed"] and last2 == last + 2
    assert lines[1]["media_seq"] == 1
    st, _, body = http("GET", base + "/api/v1/streams/pushed/segments")
    assert [r["seq"] for r in json.loads(body)] == [0, 1]

    for q in ("since=-1", "since=x", "limit=0", "limit=100000", "wait=999", "wait=x"):
        st, _, body = http("GET", f"{base}/store/v1/changes?{q}")
        assert st == 400, q
    st, _, _ = http("GET", base + "/store/v1/nothing")
    assert st == 404

    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m['sluice_origin_requests_total{route="store_blobs",status="201"}'] == 1
    assert m['sluice_origin_requests_total{route="store_blobs",status="400"}'] == 2
    assert m['sluice_origin_requests_total{route="store_records",status="409"}'] == 1
    assert m['sluice_origin_requests_total{route="store_changes",status="200"}'] >= 4


def test_changes_long_poll(procs, store_dir, sluice, tmp_path):
    f = tmp_path / "b.ts"
    f.write_bytes(b"B" * 500)
    origin, base = start_origin(procs, store_dir)
    _, last = changes(base, 0)
    # no change: returns empty after the wait
    t = time.monotonic()
    lines, _ = changes(base, last, "&wait=1")
    assert lines == [] and 0.8 <= time.monotonic() - t < 5

    result = {}

    def poll():
        result["t0"] = time.monotonic()
        result["lines"], result["last"] = changes(base, last, "&wait=20")
        result["t1"] = time.monotonic()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.3)                        # let the poll start waiting (not a readiness wait)
    # other requests are served while the long poll waits
    t = time.monotonic()
    st, _, _ = http("GET", base + "/healthz")
    assert st == 200 and time.monotonic() - t < 1
    rec = put_file(sluice, store_dir, f, T0 + 100)
    th.join(25)
    assert not th.is_alive()
    assert result["t1"] - result["t0"] < 10
    assert [x["cid"] for x in result["lines"]] == [rec["cid"]]
    assert result["last"] == last + 1
    m = parse_metrics(http("GET", base + "/metrics")[2].decode())
    assert m["sluice_origin_changes_long_polls_total"] >= 2

    # a long poll in progress does not hold up shutdown
    def doomed_poll():
        try:
            http("GET", f"{base}/store/v1/changes?since=999999&wait=30", timeout=40)
        except OSError:
            pass                           # the connection closes at shutdown

    th = threading.Thread(target=doomed_poll)
    th.start()
    time.sleep(0.3)
    t = time.monotonic()
    assert origin.stop() == 0
    assert time.monotonic() - t < 5
    th.join(10)
