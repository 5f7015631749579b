"""`app`: a WSGI app for the HTTP/2 end-to-end tests (test_http2_*.py). Routes (PATH_INFO):

  /info                {"protocol": SERVER_PROTOCOL, "host": HTTP_HOST, "method", "path"}
  /hash                reads wsgi.input to the end: {"length": n, "sha256": hex}; any method
                       (h2spec's path: it reads the whole request before it answers)
  /download?size=N     N bytes of a fixed pattern (see `pattern`), streamed in 64 KiB chunks
                       with Content-Length
  /slow?record=P       streams a 4 KiB chunk every 20 ms (at most 30 s) from an iterable whose
                       close() appends "closed" to the file P
"""

import hashlib
import time

from apps.util import json_response, query, record


def pattern(size: int) -> bytes:
    """The download body: a repeated 251-byte ramp (a prime length, so chunks do not align)."""
    ramp = bytes(range(251))
    return (ramp * (size // 251 + 1))[:size]


class Slow:
    def __init__(self, record_path):
        self.record_path = record_path

    def __iter__(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            yield b"." * 4096
            time.sleep(0.02)

    def close(self):
        record(self.record_path, "closed")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    if path == "/info":
        return json_response(start_response, {
            "protocol": environ.get("SERVER_PROTOCOL"), "host": environ.get("HTTP_HOST"),
            "method": environ.get("REQUEST_METHOD"), "path": path,
        })
    if path == "/hash":
        h = hashlib.sha256()
        n = 0
        read = environ["wsgi.input"].read
        while b := read(65536):
            h.update(b)
            n += len(b)
        return json_response(start_response, {"length": n, "sha256": h.hexdigest()})
    if path == "/download":
        body = pattern(int(q["size"]))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return (body[i:i + 65536] for i in range(0, len(body), 65536))
    if path == "/slow":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Slow(q.get("record", ""))
    return json_response(start_response, {"error": "no route"}, "404 Not Found")
