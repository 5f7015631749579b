"""`app` is wrapped in wsgiref.validate.validator, which raises AssertionError (or warns with
WSGIWarning) on any PEP 3333 violation by the server or the app. Routes (PATH_INFO):

  /get                     a small text body
  /read?n=N                reads the body with read(N) until b""    -> "LENGTH SHA256"
  /readline                reads it with readline() until b""       -> "LENGTH SHA256 LINES"
  /readline-limit?n=N      reads it with readline(N) until b""      -> "LENGTH SHA256 LINES"
  /readlines               reads it with readlines()                -> "LENGTH SHA256 LINES"
  /iter                    iterates over wsgi.input                 -> "LENGTH SHA256 LINES"
  /write                   sends its body through the write() callable
  /stream                  a generator of several chunks
  /errors                  writes to wsgi.errors (str), writelines, flush
"""

import hashlib
from wsgiref.validate import validator

from apps.util import query

TEXT = [("Content-Type", "text/plain")]


def _digest(pieces):
    h = hashlib.sha256()
    n = 0
    for p in pieces:
        h.update(p)
        n += len(p)
    return n, h.hexdigest()


def _read_n(inp, n):
    while True:
        b = inp.read(n)
        if not b:
            return
        yield b


def _readline(inp, *args):
    while True:
        line = inp.readline(*args)
        if not line:
            return
        yield line


def _inner(environ, start_response):
    path = environ.get("PATH_INFO", "")
    inp = environ["wsgi.input"]
    q = query(environ)
    if path == "/get":
        start_response("200 OK", TEXT)
        return [b"validated get\n"]
    if path == "/write":
        write = start_response("200 OK", TEXT)
        write(b"written ")
        write(b"then ")
        return [b"returned\n"]
    if path == "/stream":
        start_response("200 OK", TEXT)
        return (b"part %d\n" % i for i in range(5))
    if path == "/errors":
        err = environ["wsgi.errors"]
        err.write("validated errors line\n")
        err.writelines(["validated writelines a\n", "validated writelines b\n"])
        err.flush()
        start_response("200 OK", TEXT)
        return [b"ok\n"]
    if path == "/read":
        pieces = list(_read_n(inp, int(q.get("n", "65536"))))
        lines = None
    elif path == "/readline":
        pieces = list(_readline(inp))
        lines = len(pieces)
    elif path == "/readline-limit":
        pieces = list(_readline(inp, int(q.get("n", "7"))))
        lines = len(pieces)
    elif path == "/readlines":
        pieces = inp.readlines()
        lines = len(pieces)
    elif path == "/iter":
        pieces = list(inp)
        lines = len(pieces)
    else:
        start_response("404 Not Found", TEXT)
        return [b"not found\n"]
    n, digest = _digest(pieces)
    start_response("200 OK", TEXT)
    out = f"{n} {digest}" + ("" if lines is None else f" {lines}")
    return [out.encode()]


app = validator(_inner)
