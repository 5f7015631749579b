"""A WSGI app that leaks: every request keeps 4 MiB more, so --max-rss recycles its worker."""

import os

_kept = []


def app(environ, start_response):
    _kept.append(bytearray(4 << 20))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
