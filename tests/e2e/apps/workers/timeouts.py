"""Apps for --request-timeout: slow WSGI and ASGI views that say what happened to them.

/upload reads the whole body and answers its size (WSGI); /slow?s=N sleeps N seconds before
answering (WSGI: time.sleep in the pool thread; ASGI:
asyncio.sleep, which a cancel interrupts); /block?s=N blocks the ASGI event loop with
time.sleep; anything else answers the pid at once. What the app saw goes to the file named
by $TIMEOUTS_MARKS, one line per event ("wsgi returned", "asgi cancelled", ...).
"""

import asyncio
import os
import time
from urllib.parse import parse_qs


def mark(event: str) -> None:
    path = os.environ.get("TIMEOUTS_MARKS")
    if path:
        with open(path, "a") as marks:
            marks.write(event + "\n")


def seconds(query: str) -> float:
    return float(parse_qs(query).get("s", ["0"])[0])


def wsgi(environ, start_response):
    if environ["PATH_INFO"] == "/upload":
        size = len(environ["wsgi.input"].read())
        body = f"received {size}".encode()
    elif environ["PATH_INFO"] == "/slow":
        time.sleep(seconds(environ.get("QUERY_STRING", "")))
        mark("wsgi returned")
        body = b"slow done"
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    query = scope["query_string"].decode()
    if scope["path"] == "/slow":
        try:
            await asyncio.sleep(seconds(query))
        except asyncio.CancelledError:
            mark("asgi cancelled")
            raise
        mark("asgi returned")
        body = b"slow done"
    elif scope["path"] == "/block":
        time.sleep(seconds(query))  # holds the whole event loop
        mark("asgi block returned")
        body = b"block done"
    else:
        mark("asgi ran " + scope["path"])
        body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def _fastapi():
    try:
        from fastapi import FastAPI
    except ImportError:  # the e2e requirements have it; keep the module importable without
        return None
    api = FastAPI()

    @api.get("/slow")
    async def slow(s: float = 0):
        try:
            await asyncio.sleep(s)
        except asyncio.CancelledError:
            mark("fastapi cancelled")
            raise
        return {"slow": "done"}

    @api.get("/")
    async def index():
        return {"pid": os.getpid()}

    return api


fastapi_app = _fastapi()
