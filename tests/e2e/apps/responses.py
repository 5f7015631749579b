"""`app` shows how the server turns what a WSGI app does into a response. Routes (PATH_INFO);
`?record=PATH` names a file the app appends a line to when the server calls close() on the
response iterable (so a test can count the calls):

  /list?n=K            a list of K chunks (K=1: one-element list)
  /tuple               a one-element tuple
  /gen                 a generator of 3 chunks
  /lazy-start          a generator that calls start_response on its first step
  /empty-first         yields b"" first, then replaces its status with exc_info -> 203
  /write               write() callable, then a returned list
  /write-only          everything through write(), returns []
  /cl?declared=N&actual=M   sets Content-Length: N, sends M bytes (b"0123456789"...)
  /hop?name=H          sets the header H (hop-by-hop)
  /raise-before        raises ValueError before start_response
  /raise-after-start   calls start_response, then raises before returning
  /raise-after         yields one chunk, then raises ValueError
  /no-start            returns a body without calling start_response
  /start-twice         calls start_response twice without exc_info; answers what happened
  /exc-info-before     start_response, then an error replaced via exc_info before any body
  /exc-info-after      one chunk, then start_response with exc_info: answers what was raised
  /closeable?chunks=K&fail=I&slow=S   a class iterable with close(); fails at step I;
                       S seconds between chunks (runs up to 60 s, for disconnect tests)
  /file?path=P&cl=N    wsgi.file_wrapper(open(P)); Content-Length N when given (-1: file size)
  /filelike?size=N     wsgi.file_wrapper over an object without fileno() (records close)
  /pieces?sizes=A,B,..&total=N&via=yield|write&progress=P
                       N bytes of pieces(N) (a seeded random stream) in pieces of the sizes
                       A, B, ... in turn, yielded or through write(); with P, the bytes handed
                       over so far are written to the file P after each piece
  /tracked?n=N&size=S  N pieces of S bytes (piece i is byte i % 256), each a bytes subclass
                       whose __del__ counts itself: the server gives back every piece it held
  /freed               how many tracked pieces were deleted so far
  /read-body?marker=P  writes P (if given), then reads the body: "LENGTH SHA256"
  /errors              writes two lines to wsgi.errors
"""

import hashlib
import io
import os
import random
import sys
import threading
import time

from apps.util import json_response, query, record

TEXT = [("Content-Type", "text/plain")]
PATTERN = b"0123456789"


class Closeable:
    """An iterable whose close() records into a file."""

    def __init__(self, chunks, record_path, fail_at=-1, slow=0.0, limit=60.0):
        self.chunks = chunks
        self.record_path = record_path
        self.fail_at = fail_at
        self.slow = slow
        self.limit = limit
        self.closes = 0

    def __iter__(self):
        deadline = time.monotonic() + self.limit
        i = 0
        while self.chunks < 0 or i < self.chunks:
            if i == self.fail_at:
                raise ValueError(f"closeable failed at step {i}")
            if self.slow:
                if time.monotonic() > deadline:
                    return
                time.sleep(self.slow)
            yield b"chunk %06d\n" % i + b"." * 4096
            i += 1

    def close(self):
        self.closes += 1
        record(self.record_path, f"closed {self.closes}")


class RecordingBytesIO(io.BytesIO):
    def __init__(self, data, record_path):
        super().__init__(data)
        self.record_path = record_path

    def fileno(self):  # like a socket-less stream: no descriptor to sendfile from
        raise io.UnsupportedOperation("no fileno")

    def close(self):
        if not self.closed:
            record(self.record_path, "filelike closed")
        super().close()


def pieces(n: int) -> bytes:
    """The body /pieces sends: the same bytes for the same length, in the test and the app."""
    return random.Random(n).randbytes(n)


def piece_stream(data, sizes, progress):
    sent = 0
    turn = 0
    while sent < len(data):
        piece = data[sent:sent + sizes[turn % len(sizes)]]
        turn += 1
        yield piece
        sent += len(piece)
        if progress:
            with open(progress, "w") as f:
                f.write(str(sent))


_freed = 0
_freed_lock = threading.Lock()


class Tracked(bytes):
    """A body piece that counts its deletion (a reference the server kept, given back)."""

    def __del__(self):
        global _freed
        with _freed_lock:
            _freed += 1


def tracked_pieces(n: int, size: int):
    for i in range(n):
        yield Tracked(bytes([i % 256]) * size)


def body_of(n: int) -> bytes:
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    rec = q.get("record", "")

    if path == "/list":
        start_response("200 OK", TEXT)
        return [b"item %d;" % i for i in range(int(q.get("n", "1")))]
    if path == "/tuple":
        start_response("200 OK", TEXT)
        return (b"one tuple element",)
    if path == "/gen":
        start_response("200 OK", TEXT)
        return (b"gen %d;" % i for i in range(3))
    if path == "/lazy-start":
        def lazy():
            start_response("200 OK", TEXT)
            yield b"lazy "
            yield b"start"
        return lazy()
    if path == "/empty-first":
        def empty_first():
            start_response("200 OK", TEXT)
            yield b""
            try:
                raise KeyError("replaced")
            except KeyError:
                start_response("203 Non-Authoritative Information", TEXT, sys.exc_info())
            yield b"replaced after an empty chunk"
        return empty_first()
    if path == "/write":
        write = start_response("200 OK", TEXT)
        write(b"Hello, ")
        write(b"")
        write(b"write")
        return [b"!"]
    if path == "/write-only":
        write = start_response("200 OK", TEXT + [("Content-Length", "12")])
        write(b"only ")
        write(b"write()")
        return []
    if path == "/cl":
        declared, actual = int(q["declared"]), int(q["actual"])
        start_response("200 OK", TEXT + [("Content-Length", str(declared))])
        data = body_of(actual)
        return [data[: actual // 2], data[actual // 2:]]
    if path == "/hop":
        start_response("200 OK", TEXT + [(q["name"], q.get("value", "x"))])
        return Closeable(1, rec)
    if path == "/raise-before":
        raise ValueError("boom before head")
    if path == "/raise-after-start":
        start_response("200 OK", TEXT)
        raise ValueError("boom after start_response")
    if path == "/raise-after":
        start_response("200 OK", TEXT)
        return Closeable(3, rec, fail_at=1)
    if path == "/no-start":
        return [b"no start_response"]
    if path == "/start-twice":
        start_response("200 OK", TEXT)
        try:
            start_response("202 Accepted", TEXT)
        except Exception as e:  # the server must refuse the second call
            raised = type(e).__name__
        else:
            raised = None
        return [f"raised={raised}".encode()]
    if path == "/exc-info-before":
        start_response("200 OK", TEXT)
        try:
            raise KeyError("before")
        except KeyError:
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
        return [b"handled before the head"]
    if path == "/exc-info-after":
        def after():
            start_response("200 OK", TEXT)
            yield b"first;"
            try:
                raise ValueError("original")
            except ValueError:
                try:
                    start_response("500 Internal Server Error", TEXT, sys.exc_info())
                except ValueError as e:
                    yield f"reraised:{e!r}".encode()
                    return
                except BaseException as e:  # noqa: BLE001 - reported to the client
                    yield f"other:{type(e).__name__}".encode()
                    return
                yield b"not raised"
        return after()
    if path == "/closeable":
        start_response("200 OK", TEXT)
        return Closeable(int(q.get("chunks", "3")), rec, fail_at=int(q.get("fail", "-1")),
                         slow=float(q.get("slow", "0")))
    if path == "/file":
        f = open(q["path"], "rb")
        headers = list(TEXT)
        if "cl" in q:
            cl = int(q["cl"])
            headers.append(("Content-Length", str(os.fstat(f.fileno()).st_size if cl < 0 else cl)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 8192)
    if path == "/filelike":
        data = body_of(int(q.get("size", "100000")))
        start_response("200 OK", TEXT)
        return environ["wsgi.file_wrapper"](RecordingBytesIO(data, rec), 4096)
    if path == "/pieces":
        data = pieces(int(q["total"]))
        sizes = [int(size) for size in q["sizes"].split(",")]
        stream = piece_stream(data, sizes, q.get("progress", ""))
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        if q.get("via") == "write":
            for piece in stream:
                write(piece)
            return []
        return stream
    if path == "/tracked":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return tracked_pieces(int(q["n"]), int(q["size"]))
    if path == "/freed":
        start_response("200 OK", TEXT)
        return [str(_freed).encode()]
    if path == "/read-body":
        record(q.get("marker", ""), "reading")
        if "delay" in q:
            time.sleep(float(q["delay"]))
        h = hashlib.sha256()
        n = 0
        while True:
            b = environ["wsgi.input"].read(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        start_response("200 OK", TEXT)
        return [f"{n} {h.hexdigest()}".encode()]
    if path == "/errors":
        environ["wsgi.errors"].write("errors line one\nerrors line two\n")
        environ["wsgi.errors"].flush()
        start_response("200 OK", TEXT)
        return [b"wrote to wsgi.errors"]
    return json_response(start_response, {"error": "no route", "path": path}, "404 Not Found")
