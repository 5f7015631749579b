"""How the server turns a WSGI app's behaviour into HTTP responses (PEP 3333 and docs/wsgi.md,
"The response"): framing, start_response rules, write(), close(), app errors,
hop-by-hop headers, wsgi.file_wrapper, wsgi.errors and Expect: 100-continue.

The app is `apps.responses:app` (its docstring lists the routes). After every failure case the
server must still serve.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import subprocess
import time

import pytest

from apps.responses import pieces
from wire import Conn, chunked, request
from wsgi_util import assert_serves, get, log_has, q, read_lines, wait_for_lines

APP = "apps.responses:app"
CHUNK = 4109  # one chunk of apps.responses.Closeable


def pattern(n: int) -> bytes:
    return (b"0123456789" * (n // 10 + 1))[:n]


@pytest.fixture
def server(start_app):
    return start_app(APP)


# --- framing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target,body", [
    ("/list?n=1", b"item 0;"),
    ("/tuple", b"one tuple element"),
])
def test_one_element_iterable_gets_content_length(server, target, body):
    """A one-element list or tuple is sent with Content-Length, not chunked."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", target))
        assert r.status == 200
        assert not r.chunked
        assert r.header("content-length") == str(len(body))
        assert r.body == body
        assert c.roundtrip(request("GET", "/list?n=1")).status == 200  # keep-alive


@pytest.mark.parametrize("target,body", [
    ("/gen", b"gen 0;gen 1;gen 2;"),
    ("/list?n=3", b"item 0;item 1;item 2;"),
    ("/lazy-start", b"lazy start"),
])
def test_other_iterables_are_chunked(server, target, body):
    """A generator or a longer list without Content-Length is sent chunked (HTTP/1.1), and
    start_response may be called on the generator's first step."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", target))
        assert r.status == 200
        assert r.chunked
        assert r.header("content-length") is None
        assert r.body == body
        assert c.roundtrip(request("GET", "/list?n=1")).status == 200


def test_http10_client_gets_no_chunked_response(server):
    """An HTTP/1.0 client never gets chunked encoding: a generator's body is delimited by close."""
    with Conn(server.address) as c:
        c.send(request("GET", "/gen", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert not r.chunked
        assert r.body == b"gen 0;gen 1;gen 2;"


def test_head_request_has_no_body(server):
    """HEAD runs the app but sends no body; the connection stays usable."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("HEAD", "/list?n=1"), head_request=True)
        assert r.status == 200
        r = c.roundtrip(request("GET", "/tuple"))
        assert (r.status, r.body) == (200, b"one tuple element")


def test_write_callable(server):
    """Bytes passed to write() come first, then the returned iterable; empty writes add nothing."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/write"))
        assert (r.status, r.body) == (200, b"Hello, write!")
        r = c.roundtrip(request("GET", "/write-only"))
        assert (r.status, r.body) == (200, b"only write()")
        assert r.header("content-length") == "12"


def test_app_content_length_shorter_than_body_truncates(server):
    """The app says Content-Length: 5 and sends 100 bytes: the client gets exactly 5 bytes, and the
    next response on the connection (if it stays open) is not corrupted by the rest; the
    truncation is logged (a warning or error line)."""
    seen = len(server.stderr.snapshot())
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/cl?declared=5&actual=100"))
        assert r.status == 200
        assert r.header("content-length") == "5"
        assert r.body == pattern(5)
        try:
            r2 = c.roundtrip(request("GET", "/tuple"))
        except (EOFError, ConnectionResetError):
            pass  # closing after a broken response is acceptable
        else:
            assert (r2.status, r2.body) == (200, b"one tuple element")
    assert server.stderr.wait_for(
        lambda lines: any("[warning]" in l or "[error]" in l for l in lines[seen:]), 5
    ), f"the truncation is not logged\n{server.dump()}"
    assert_serves(server)


def test_app_content_length_longer_than_body_closes_connection(server):
    """The app says Content-Length: 100 and sends 10 bytes: the client gets the 10 bytes and then
    the connection closes (so it can tell the response is incomplete)."""
    with Conn(server.address) as c:
        c.send(request("GET", "/cl?declared=100&actual=10"))
        head = c.read_head()
        assert head.status == 200
        assert head.header("content-length") == "100"
        rest = c.wait_closed(5)
        assert rest == pattern(10)
    assert_serves(server)


@pytest.mark.parametrize("name", [
    "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer",
    "Proxy-Authenticate", "Proxy-Connection",
])
def test_hop_by_hop_header_from_app_is_500(server, name):
    """An app that sets a hop-by-hop header gets a 500 instead, without that header."""
    r = get(server, f"/hop?name={name}&value=x-hop-test")
    assert r.status == 500, (r.status, r.headers)
    assert all(v != "x-hop-test" for _, v in r.headers), r.headers
    assert_serves(server)


# --- errors ----------------------------------------------------------------------------------

def test_exception_before_head_is_500_with_traceback_logged(server):
    """An exception before start_response gives 500; the log has the traceback at error level."""
    r = get(server, "/raise-before")
    assert r.status == 500
    assert log_has(server, "Traceback (most recent call last):")
    assert log_has(server, "ValueError: boom before head")
    assert log_has(server, "[error]")
    assert_serves(server)


def test_exception_after_start_response_before_body_is_500(server):
    """start_response then an exception before any body was sent: still a 500 (nothing was sent)."""
    r = get(server, "/raise-after-start")
    assert r.status == 500
    assert log_has(server, "ValueError: boom after start_response")
    assert_serves(server)


def test_no_start_response_is_500(server):
    """An app that returns a body without calling start_response gets a 500."""
    assert get(server, "/no-start").status == 500
    assert_serves(server)


def test_exception_after_first_chunk_truncates_and_closes_once(server, tmp_path):
    """An exception after the first chunk aborts the connection: the client sees the head and the
    first chunk but no last-chunk; the traceback is logged; close() is called exactly once."""
    rec = tmp_path / "closed"
    with Conn(server.address) as c:
        c.send(request("GET", f"/raise-after?record={q(rec)}"))
        head = c.read_head()
        assert head.status == 200
        assert head.has_token("transfer-encoding", "chunked")
        rest = c.wait_closed(5)
    assert b"chunk 000000\n" in rest
    assert b"chunk 000001" not in rest
    assert not rest.endswith(b"0\r\n\r\n"), "a truncated response must not end with the last-chunk"
    assert log_has(server, "ValueError: closeable failed at step 1")
    assert wait_for_lines(rec) == ["closed 1"]
    assert_serves(server)
    assert read_lines(rec) == ["closed 1"]


# --- start_response rules --------------------------------------------------------------------

def test_second_start_response_without_exc_info_raises(server):
    """A second start_response call without exc_info raises in the app; the first status stands."""
    r = get(server, "/start-twice")
    assert r.status == 200
    assert r.body.startswith(b"raised=") and r.body != b"raised=None", r.body
    assert_serves(server)


def test_exc_info_before_head_replaces_status(server):
    """start_response with exc_info before any body was sent replaces the status and headers."""
    r = get(server, "/exc-info-before")
    assert (r.status, r.body) == (500, b"handled before the head")


def test_empty_chunk_does_not_send_the_head(server):
    """A b"" chunk does not send the head: a later start_response with exc_info still replaces it."""
    r = get(server, "/empty-first")
    assert (r.status, r.body) == (203, b"replaced after an empty chunk")


def test_exc_info_after_head_reraises(server):
    """start_response with exc_info after the head was sent re-raises the app's exception."""
    r = get(server, "/exc-info-after")
    assert r.status == 200
    assert r.body == b"first;reraised:ValueError('original')", r.body


# --- close() ---------------------------------------------------------------------------------

def test_close_called_once_after_normal_response(server, tmp_path):
    """close() on the response iterable is called exactly once after a complete response."""
    rec = tmp_path / "closed"
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", f"/closeable?chunks=3&record={q(rec)}"))
        assert r.status == 200 and len(r.body) == 3 * CHUNK
        assert wait_for_lines(rec) == ["closed 1"]
        assert c.roundtrip(request("GET", "/list?n=1")).status == 200
    time.sleep(0.2)
    assert read_lines(rec) == ["closed 1"]


def test_close_called_once_after_head_request(server, tmp_path):
    """close() is called once for a HEAD request too (the body is not sent)."""
    rec = tmp_path / "closed"
    with Conn(server.address) as c:
        r = c.roundtrip(request("HEAD", f"/closeable?chunks=3&record={q(rec)}"), head_request=True)
        assert r.status == 200
        assert c.roundtrip(request("GET", "/list?n=1")).status == 200
    assert wait_for_lines(rec) == ["closed 1"]


def test_close_called_once_after_client_disconnect_mid_stream(server, tmp_path):
    """The app streams slowly without end; the client reads a little and disconnects: the server
    stops iterating and calls close() exactly once, within a few seconds."""
    rec = tmp_path / "closed"
    c = Conn(server.address)
    c.send(request("GET", f"/closeable?chunks=-1&slow=0.02&record={q(rec)}"))
    head = c.read_head()
    assert head.status == 200
    c.read_exact(2 * CHUNK)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # a reset: the peer is gone at once
    assert wait_for_lines(rec, timeout=5) == ["closed 1"], "close() not called after disconnect"
    time.sleep(0.3)
    assert read_lines(rec) == ["closed 1"]
    assert_serves(server)


def test_close_called_once_after_graceful_client_close_mid_stream(server, tmp_path):
    """Same with a plain close (FIN, no reset): the server notices on its next write."""
    rec = tmp_path / "closed"
    c = Conn(server.address)
    c.send(request("GET", f"/closeable?chunks=-1&slow=0.02&record={q(rec)}"))
    assert c.read_head().status == 200
    c.read_exact(CHUNK)
    c.close()
    assert wait_for_lines(rec, timeout=5) == ["closed 1"], "close() not called after disconnect"
    time.sleep(0.3)
    assert read_lines(rec) == ["closed 1"]
    assert_serves(server)


# --- streamed pieces (docs/wsgi.md, "Streaming") ----------------------------------------------
# Pieces go on without waiting while up to 1 MiB is on their way, and those of 16 KiB or more
# travel as references to the app's bytes objects. Either way: every byte in order, every
# reference given back, the app held back by a client that does not read, and the iteration
# stopped when the client goes.

MIB = 1 << 20


def progress_of(path) -> int:
    try:
        return int(path.read_text() or 0)
    except FileNotFoundError:
        return 0


def wait_until_still(path, quiet: float = 1.0, limit: float = 20.0) -> int:
    """Poll the app's progress file until it has not moved for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = progress_of(path)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        time.sleep(0.05)
    raise AssertionError(f"the app kept going: {last} bytes after {limit}s")


@pytest.mark.parametrize("via", ["yield", "write"])
@pytest.mark.parametrize("sizes", ["65536", "1,100,16383,16384,16385,200000", "300000,7"])
def test_streamed_pieces_arrive_whole_and_in_order(server, via, sizes):
    """Pieces below, at and above the gathered-write threshold (16 KiB), yielded or written: the
    body is the app's bytes in order, and the connection stays usable."""
    total = 6 * MIB + 3
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("GET", f"/pieces?sizes={sizes}&total={total}&via={via}"))
        assert r.status == 200
        assert r.chunked
        assert len(r.body) == total
        assert r.body == pieces(total)
        assert c.roundtrip(request("GET", "/list?n=1")).body == b"item 0;"


def test_streamed_pieces_over_http2(server, tmp_path):
    """The same over an HTTP/2 stream (h2c, curl)."""
    total = 5 * MIB + 11
    out = tmp_path / "body.bin"
    subprocess.run(["curl", "-sS", "--fail", "--http2-prior-knowledge", "-o", str(out),
                    f"{server.base_url}/pieces?sizes=65536,1000&total={total}"],
                   check=True, timeout=60)
    assert out.read_bytes() == pieces(total)


def tracked_body(n: int, size: int) -> bytes:
    return b"".join(bytes([i % 256]) * size for i in range(n))


def freed_after(fetch, n: int, limit: float = 10.0) -> int:
    """Polls the app's count of deleted pieces until it reaches `n` (or `limit` passes)."""
    deadline = time.monotonic() + limit
    while True:
        freed = fetch()
        if freed >= n or time.monotonic() > deadline:
            return freed
        time.sleep(0.05)


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_large_pieces_are_given_back_once_sent(server, tmp_path, http2):
    """A piece of 16 KiB or more is sent from the app's own bytes object, which the connection
    holds until the bytes are out. Each one is then given back on a Python thread (its __del__
    runs, counted by the app), soon and exactly once, and the bytes arrive as the app made them:
    here 48 pieces of 64 KiB from a bytes subclass."""
    n, size = 48, 65536
    target = f"/tracked?n={n}&size={size}"
    if http2:
        out = tmp_path / "body.bin"
        subprocess.run(["curl", "-sS", "--fail", "--http2-prior-knowledge", "-o", str(out),
                        server.base_url + target], check=True, timeout=60)
        body = out.read_bytes()
    else:
        with Conn(server.address, timeout=30) as c:
            body = c.roundtrip(request("GET", target)).body
    assert body == tracked_body(n, size)
    with Conn(server.address, timeout=30) as c:
        freed = freed_after(lambda: int(c.roundtrip(request("GET", "/freed")).body), n)
    assert freed == n


@pytest.mark.parametrize("piece", [65536, 4000])
def test_client_that_reads_nothing_holds_the_app_back(start_app, tmp_path, piece):
    """A client that reads nothing stops the app's iteration within a bound: the connection's
    output (4 MiB at most past its 64 KiB mark), what the app's thread has on its way (a large
    piece, or 64 KiB of small ones) and the kernel's socket buffers (up to about 10 MiB on
    loopback); then it reads all 48 MiB, intact. (--min-response-rate 0: by default a client that
    takes nothing for a while is cut, test_min_rates.py.)"""
    server = start_app(APP, extra=["--min-response-rate", "0"])
    total = 48 * MIB
    progress = tmp_path / "progress"
    with Conn(server.address, timeout=30) as c:
        c.send(request("GET", f"/pieces?sizes={piece}&total={total}&progress={q(progress)}"))
        held = wait_until_still(progress)
        assert 0 < held < 24 * MIB, f"the app was not held back: {held} bytes handed over"
        r = c.read_response()
        assert r.status == 200
        assert r.body == pieces(total)
    assert progress_of(progress) == total
    assert_serves(server)


@pytest.mark.parametrize("via", ["yield", "write"])
@pytest.mark.parametrize("piece", [65536, 4000])
def test_streamed_pieces_stop_when_the_client_resets(server, tmp_path, via, piece):
    """The client reads 1 MiB of 64 MiB and resets: the failure reaches the app at its next
    piece, its iteration stops far short of the end, and the server still serves."""
    total = 64 * MIB
    progress = tmp_path / "progress"
    c = Conn(server.address, timeout=30)
    c.send(request("GET", f"/pieces?sizes={piece}&total={total}&via={via}&progress={q(progress)}"))
    assert c.read_head().status == 200
    c.read_exact(MIB)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    stopped = wait_until_still(progress)
    assert stopped < total // 2, f"the app went on after the reset: {stopped} bytes"
    assert_serves(server)


# --- wsgi.file_wrapper -----------------------------------------------------------------------

@pytest.fixture
def data_file(tmp_path):
    data = random.Random(7).randbytes(3 * (1 << 20) + 12345)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
def test_file_wrapper_serves_file(server, data_file, with_length):
    """wsgi.file_wrapper sends the file's exact bytes, with the app's Content-Length or without."""
    path, data = data_file
    target = f"/file?path={q(path)}" + ("&cl=-1" if with_length else "")
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("GET", target))
        assert r.status == 200
        if with_length:
            assert r.header("content-length") == str(len(data))
        assert len(r.body) == len(data)
        assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(data).hexdigest()
        r2 = c.roundtrip(request("GET", "/tuple"))
        assert (r2.status, r2.body) == (200, b"one tuple element")


def test_file_wrapper_with_shorter_content_length(server, data_file):
    """A file_wrapper response with Content-Length below the file size sends exactly that many
    bytes (the rest of the file is not sent), and the connection is not corrupted."""
    path, data = data_file
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("GET", f"/file?path={q(path)}&cl=100000"))
        assert r.status == 200
        assert r.body == data[:100000]
        try:
            r2 = c.roundtrip(request("GET", "/tuple"))
        except (EOFError, ConnectionResetError):
            pass
        else:
            assert (r2.status, r2.body) == (200, b"one tuple element")


def test_file_wrapper_without_fileno_falls_back_and_closes(server, tmp_path):
    """wsgi.file_wrapper over an object with no usable fileno() iterates it; its close() is called once."""
    rec = tmp_path / "closed"
    r = get(server, f"/filelike?size=300001&record={q(rec)}")
    assert r.status == 200
    assert r.body == pattern(300001)
    assert wait_for_lines(rec) == ["filelike closed"]


def test_file_wrapper_keeps_descriptors_closed(server, data_file):
    """Serving a file many times does not leak descriptors in the server."""
    path, data = data_file
    fd_dir = f"/proc/{server.proc.pid}/fd"
    with Conn(server.address, timeout=30) as c:
        c.roundtrip(request("GET", f"/file?path={q(path)}&cl=-1"))
        before = len(os.listdir(fd_dir))
        for _ in range(20):
            r = c.roundtrip(request("GET", f"/file?path={q(path)}&cl=-1"))
            assert r.status == 200 and len(r.body) == len(data)
        time.sleep(0.2)
        after = len(os.listdir(fd_dir))
    assert after <= before + 2, f"{after - before} descriptors more after 20 file responses"


# --- wsgi.errors -----------------------------------------------------------------------------

def test_wsgi_errors_lines_are_logged_at_error_level(server):
    """Each line written to wsgi.errors becomes one error-level log line."""
    r = get(server, "/errors")
    assert r.status == 200
    assert log_has(server, "[error]", "errors line one")
    assert log_has(server, "[error]", "errors line two")
    lines = server.stderr.snapshot()
    assert not any("errors line one" in l and "errors line two" in l for l in lines)


# --- Expect: 100-continue --------------------------------------------------------------------

def test_expect_100_continue_sent_when_app_reads(server, tmp_path):
    """`100 Continue` is sent when the app first reads wsgi.input (the app is already running when
    it arrives), then the body is read whole."""
    marker = tmp_path / "marker"
    body = random.Random(3).randbytes(200000)
    with Conn(server.address) as c:
        c.send(request("POST", f"/read-body?marker={q(marker)}&delay=0.3", headers=[
            ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        interim = c.read_response(skip_informational=False)
        assert interim.status == 100
        assert read_lines(marker) == ["reading"], "100 Continue came before the app read the body"
        c.send(body)
        r = c.read_response()
        assert (r.status, r.body.decode()) == (
            200, f"{len(body)} {hashlib.sha256(body).hexdigest()}")
        assert c.roundtrip(request("GET", "/tuple")).status == 200


def test_expect_100_continue_not_sent_when_app_does_not_read(server):
    """An app that never reads the body answers without a `100 Continue` first (a body longer
    than --request-buffer-size: a shorter one is read ahead, test_request_buffering.py)."""
    with Conn(server.address) as c:
        c.send(request("POST", "/tuple", headers=[
            ("Expect", "100-continue"), ("Content-Length", "100000")]))
        r = c.read_response(skip_informational=False)
        assert r.status == 200, "the final response comes first, no 100 Continue"
        assert r.body == b"one tuple element"
    assert_serves(server)


# --- connection reuse ------------------------------------------------------------------------

@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_unread_body_does_not_leak_into_next_request(server, framing):
    """An app that ignores a 256 KiB request body answers it; the next request on the connection
    gets its own response (the body was drained), or the server closed the connection."""
    data = random.Random(5).randbytes(256 * 1024)
    if framing == "chunked":
        req = request("POST", "/tuple", headers=[("Transfer-Encoding", "chunked")]) + chunked(
            *[data[i:i + 10000] for i in range(0, len(data), 10000)])
    else:
        req = request("POST", "/tuple", body=data)
    with Conn(server.address, timeout=10) as c:
        c.send(req)
        r = c.read_response()
        assert (r.status, r.body) == (200, b"one tuple element")
        if r.has_token("connection", "close"):
            c.wait_closed(5)
        else:
            r2 = c.roundtrip(request("GET", "/list?n=1"))
            assert (r2.status, r2.body) == (200, b"item 0;")
    assert_serves(server)


def test_pipelined_requests_answered_in_order(server):
    """Five requests sent in one write are answered in order on the one connection."""
    targets = ["/list?n=1", "/gen", "/tuple", "/write", "/list?n=2"]
    bodies = [b"item 0;", b"gen 0;gen 1;gen 2;", b"one tuple element", b"Hello, write!",
              b"item 0;item 1;"]
    with Conn(server.address) as c:
        c.send(b"".join(request("GET", t) for t in targets))
        got = [c.read_response() for _ in targets]
    assert [(r.status, r.body) for r in got] == [(200, b) for b in bodies]
