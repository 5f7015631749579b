"""bench/real_apps.sh, rows wsgi-stream-1mib and asgi-stream-1mib: 1 MiB streamed in 64 KiB
pieces, without a Content-Length (as a generator or a StreamingResponse sends it: the servers
frame it with chunked transfer coding), Content-Type application/octet-stream.

  * `wsgi_app`: the body is a generator yielding 16 pieces;
  * `asgi_app`: 16 `http.response.body` messages, the first 15 with more_body=True; it answers
    lifespan startup and shutdown at once.

GET /rows is the rows wsgi-stream-rows and asgi-stream-rows: 64 pieces of 200 bytes (CSV
rows, a template rendered in parts), Content-Type text/csv, chunked as well.

The pieces are bytes objects made at import (the app does no work per byte). GET /ready
answers "ready" (text/plain, with a Content-Length) in both.
"""

CHUNK = bytes(range(256)) * 256  # 64 KiB
CHUNKS = 16  # 1 MiB
READY = b"ready"
ROW = (b"12345,widget,4.99," + b"x" * 181 + b"\n")  # 200 bytes
ROWS = 64

STREAM_HEADERS = [("Content-Type", "application/octet-stream")]
ROWS_HEADERS = [("Content-Type", "text/csv")]
READY_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(READY)))]


def _pieces():
    for _ in range(CHUNKS):
        yield CHUNK


def _rows():
    for _ in range(ROWS):
        yield ROW


def wsgi_app(environ, start_response):
    if environ.get("PATH_INFO") == "/ready":
        start_response("200 OK", READY_HEADERS)
        return [READY]
    if environ.get("PATH_INFO") == "/rows":
        start_response("200 OK", ROWS_HEADERS)
        return _rows()
    start_response("200 OK", STREAM_HEADERS)
    return _pieces()


ASGI_STREAM_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(k.lower().encode(), v.encode()) for k, v in STREAM_HEADERS],
}
ASGI_ROWS_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(k.lower().encode(), v.encode()) for k, v in ROWS_HEADERS],
}
ASGI_READY_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(k.lower().encode(), v.encode()) for k, v in READY_HEADERS],
}


async def asgi_app(scope, receive, send):
    if scope["type"] == "http":
        if scope["path"] == "/ready":
            await send(ASGI_READY_START)
            await send({"type": "http.response.body", "body": READY})
            return
        if scope["path"] == "/rows":
            await send(ASGI_ROWS_START)
            for i in range(ROWS):
                await send({"type": "http.response.body", "body": ROW, "more_body": i < ROWS - 1})
            return
        await send(ASGI_STREAM_START)
        for i in range(CHUNKS):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": i < CHUNKS - 1})
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
