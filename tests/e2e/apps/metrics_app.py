"""Apps for the /metrics tests (test_admin_metrics.py).

`wsgi` (PATH_INFO):
  /ok                  200, "ok"
  /stream?chunks=N&ms=M  N chunks, M ms apart: a streamed response the duration must cover
  /fail                raises: 500
  /hold?release=R      waits (up to 20 s) until the file R exists: keeps a WSGI thread busy
`asgi` (path):
  /ok                  200, "ok"
  /block?ms=M          blocks the event loop for M ms (time.sleep): event-loop lag
  /ws                  WebSocket: echoes every message until the client closes
"""

import os
import time

from apps.util import query


def wsgi(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    if path == "/ok":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/stream":
        chunks, ms = int(q.get("chunks", "3")), float(q.get("ms", "100"))

        def body():
            for i in range(chunks):
                if i:
                    time.sleep(ms / 1000.0)
                yield b"chunk %d\n" % i

        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()
    if path == "/fail":
        raise RuntimeError("metrics_app: /fail fails on purpose")
    if path == "/hold":
        deadline = time.monotonic() + 20
        while not os.path.exists(q["release"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"held"]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text"),
                        "bytes": message.get("bytes")})
    if path.endswith("/block"):
        ms = float(dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)
                   .get("ms", "100"))
        time.sleep(ms / 1000.0)  # on purpose: the loop is held
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
