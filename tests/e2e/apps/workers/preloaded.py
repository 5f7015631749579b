"""A WSGI app that says which process imported it and which one serves: with --preload the
master imports it (the workers inherit the module), without it each worker does."""

import os

IMPORTED_BY = os.getpid()


def app(environ, start_response):
    body = f"{IMPORTED_BY} {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
