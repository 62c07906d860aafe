"""tools/bench/cold.py - cold-miss load for edge.sh.

usage: cold.py HOST PORT CLIENTS TIMEOUT_S CID...
Opens CLIENTS keep-alive connections, then releases them at once; client k asks for every
/seg/<cid>.ts in turn, starting at CID number k mod len(CIDs). Each answer must be 200 with
bytes hashing to the CID. Prints one line: COLD ok=N bad=M secs=S (S: release to last byte).
"""
import asyncio
import hashlib
import sys
import time


async def read_body(reader, headers):
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if "chunked" in headers.get("transfer-encoding", ""):
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()
    return await reader.read()


async def fetch(reader, writer, host, cid):
    writer.write(f"GET /seg/{cid}.ts HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip().lower()
    body = await read_body(reader, headers)
    return status == 200 and hashlib.sha256(body).hexdigest() == cid


async def client(k, host, port, cids, go, counts):
    reader, writer = await asyncio.open_connection(host, port)
    await go.wait()
    order = cids[k % len(cids):] + cids[:k % len(cids)]
    for cid in order:
        try:
            ok = await fetch(reader, writer, host, cid)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            ok = False
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
        counts["ok" if ok else "bad"] += 1
    writer.close()


async def main():
    host, port, nclients, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        float(sys.argv[4])
    cids = sys.argv[5:]
    go = asyncio.Event()
    counts = {"ok": 0, "bad": 0}
    tasks = [asyncio.create_task(client(k, host, port, cids, go, counts))
             for k in range(nclients)]
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    go.set()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    except asyncio.TimeoutError:
        print(f"COLD timeout after {timeout}s ok={counts['ok']} bad={counts['bad']}")
        return 1
    print(f"COLD ok={counts['ok']} bad={counts['bad']} secs={time.monotonic() - t0:.3f}")
    return 0


sys.exit(asyncio.run(main()))
