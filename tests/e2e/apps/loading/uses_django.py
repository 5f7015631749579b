"""Imports Django and answers which one it got: its version, its file and sys.prefix (for the
--venv tests)."""

import sys

import django


def app(environ, start_response):
    body = f"{django.__version__}\n{django.__file__}\n{sys.prefix}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
