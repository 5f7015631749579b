"""`app`: an ASGI app for the HTTP/2 end-to-end tests (test_http2_*.py). Routes (scope path,
root_path taken off):

  /info                {"http_version", "host" (the host header), "method", "path"}
  /hash                reads the body to the end: {"length": n, "sha256": hex}; any method
  /download?size=N     N bytes of apps.h2_wsgi.pattern, sent in 64 KiB http.response.body events
  /slow?record=P       sends the head and a 4 KiB chunk, then awaits receive() (at most 30 s)
                       and appends the event's type (http.disconnect) to the file P
"""

import asyncio
import hashlib
import json
from urllib.parse import parse_qs

from apps.h2_wsgi import pattern
from apps.util import record


async def _json(send, obj, status=200):
    body = json.dumps(obj, sort_keys=True).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive):
    h = hashlib.sha256()
    n = 0
    while True:
        event = await receive()
        if event["type"] != "http.request":
            return None
        h.update(event.get("body", b""))
        n += len(event.get("body", b""))
        if not event.get("more_body", False):
            return {"length": n, "sha256": h.hexdigest()}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            await send({"type": event["type"] + ".complete"})
            if event["type"] == "lifespan.shutdown":
                return
    root = scope.get("root_path", "")
    path = scope["path"][len(root):] if scope["path"].startswith(root) else scope["path"]
    q = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if path == "/info":
        await _json(send, {"http_version": scope["http_version"], "host": headers.get("host"),
                           "method": scope["method"], "path": path})
    elif path == "/hash":
        result = await _read_body(receive)
        if result is not None:
            await _json(send, result)
    elif path == "/download":
        body = pattern(int(q["size"]))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(len(body)).encode())]})
        for i in range(0, len(body), 65536):
            await send({"type": "http.response.body", "body": body[i:i + 65536],
                        "more_body": i + 65536 < len(body)})
    elif path == "/slow":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"." * 4096, "more_body": True})
        while True:
            try:
                event = await asyncio.wait_for(receive(), 30)
            except asyncio.TimeoutError:
                record(q.get("record", ""), "timeout")
                return
            if event["type"] != "http.request":
                record(q.get("record", ""), event["type"])
                return
    else:
        await _json(send, {"error": "no route"}, 404)
