"""`wsgi` and `asgi` for the hardening tests (test_request_buffering.py, test_min_rates.py,
test_dead_work.py, test_memory_returns.py). Both answer the same paths (PATH_INFO, or
scope["path"]); `record=P` appends lines to the file P, which is how a test sees when (and
whether) the app ran:

  /quick                    200 "quick"
  /echo?record=P            records "started" on entry (before reading any body), reads the
                            whole body, records "body N", answers the body as it came
  /hash?record=P            like /echo, but answers {"length": n, "sha256": hex}
  /upload?record=P          records "upload started", reads the body in 64 KiB reads, answers
                            {"length": n}; the ASGI app returns quietly when receive() gives
                            http.disconnect
  /hang?s=S&record=P        records "hang started", sleeps S seconds (default 2), answers "hung"
  /record?record=P&tag=T    records "ran T", answers "ran T"
  /never?record=P           (ASGI) records "never started", then awaits for ever; records
                            "never cancelled" when its task is cancelled
  /big?n=N&piece=K&record=P  N bytes of big_body(N) (the bytes 0..255 over and over) in pieces
                            of K bytes (default 65536), with Content-Length; records "big
                            started" on entry and "big returned" once the app has handed over
                            the last piece (WSGI: the iterable is exhausted; ASGI: the last
                            send() returned)

Anything else is a 404.
"""

import asyncio
import hashlib
import json
import time
from urllib.parse import parse_qs

from apps.util import query, record

_PATTERN = bytes(range(256))


def big_body(n: int) -> bytes:
    """The body /big?n=N answers (the tests compare against it)."""
    return (_PATTERN * (n // 256 + 1))[:n]


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True).encode()


# --- WSGI --------------------------------------------------------------------------------------

def _read_all(environ) -> bytes:
    out = bytearray()
    read = environ["wsgi.input"].read
    while True:
        b = read(65536)
        if not b:
            return bytes(out)
        out += b


def _answer(start_response, body: bytes, status="200 OK", ctype="text/plain"):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _wsgi_big(n: int, piece: int, rec: str):
    record(rec, "big started")
    data = big_body(n)
    for i in range(0, n, piece):
        yield data[i:i + piece]
    record(rec, "big returned")


def wsgi(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    rec = q.get("record", "")
    if path == "/quick":
        return _answer(start_response, b"quick")
    if path in ("/echo", "/hash"):
        record(rec, "started")
        body = _read_all(environ)
        record(rec, f"body {len(body)}")
        if path == "/echo":
            return _answer(start_response, body, ctype="application/octet-stream")
        return _answer(start_response, _json({"length": len(body),
                                              "sha256": hashlib.sha256(body).hexdigest()}),
                       ctype="application/json")
    if path == "/upload":
        record(rec, "upload started")
        n = 0
        read = environ["wsgi.input"].read
        while True:
            b = read(65536)
            if not b:
                break
            n += len(b)
        return _answer(start_response, _json({"length": n}), ctype="application/json")
    if path == "/hang":
        record(rec, "hang started")
        time.sleep(float(q.get("s", "2")))
        return _answer(start_response, b"hung")
    if path == "/record":
        line = f"ran {q.get('tag', '')}"
        record(rec, line)
        return _answer(start_response, line.encode())
    if path == "/big":
        n = int(q.get("n", "1048576"))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(n))])
        return _wsgi_big(n, int(q.get("piece", "65536")), rec)
    return _answer(start_response, b"no route", "404 Not Found")


# --- ASGI --------------------------------------------------------------------------------------

async def _send(send, body: bytes, status: int = 200, ctype: bytes = b"text/plain"):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _receive_all(receive):
    """The whole body, or None when the client left first."""
    out = bytearray()
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        out += msg.get("body", b"")
        if not msg.get("more_body", False):
            return bytes(out)


async def _lifespan(receive, send):
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] != "http":
        return
    path = scope["path"]
    q = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
    rec = q.get("record", "")
    if path == "/quick":
        return await _send(send, b"quick")
    if path in ("/echo", "/hash"):
        record(rec, "started")
        body = await _receive_all(receive)
        if body is None:
            record(rec, "client left")
            return
        record(rec, f"body {len(body)}")
        if path == "/echo":
            return await _send(send, body, ctype=b"application/octet-stream")
        return await _send(send, _json({"length": len(body),
                                        "sha256": hashlib.sha256(body).hexdigest()}),
                           ctype=b"application/json")
    if path == "/upload":
        record(rec, "upload started")
        n = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            n += len(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        return await _send(send, _json({"length": n}), ctype=b"application/json")
    if path == "/hang":
        record(rec, "hang started")
        await asyncio.sleep(float(q.get("s", "2")))
        return await _send(send, b"hung")
    if path == "/record":
        line = f"ran {q.get('tag', '')}"
        record(rec, line)
        return await _send(send, line.encode())
    if path == "/never":
        record(rec, "never started")
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            record(rec, "never cancelled")
            raise
    if path == "/big":
        n = int(q.get("n", "1048576"))
        piece = int(q.get("piece", "65536"))
        record(rec, "big started")
        data = big_body(n)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(n).encode())]})
        for i in range(0, n, piece):
            await send({"type": "http.response.body", "body": data[i:i + piece],
                        "more_body": i + piece < n})
        record(rec, "big returned")
        return
    return await _send(send, b"no route", 404)
