"""Request bodies: streamed uploads, echo, discarding unread bodies, Expect: 100-continue.

`POST /healthz?echo` is the server's test aid: it answers 200 with the request body streamed
back (chunked when the request was chunked, Content-Length otherwise).
"""

from __future__ import annotations

import hashlib
import random
import threading

from wire import Conn, request

MiB = 1 << 20


def send_in_background(conn: Conn, pieces, errors: list) -> threading.Thread:
    """Send `pieces` on a thread, so the test can read the response while it uploads."""

    def run():
        try:
            for p in pieces:
                conn.send(p)
        except OSError as e:  # surfaced by the test
            errors.append(e)

    t = threading.Thread(target=run, name="uploader", daemon=True)
    t.start()
    return t


def chunked_pieces(data: bytes, seed: int):
    """Yield `data` as chunks of random sizes (1 byte to 256 KiB), then the last-chunk."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 256 * 1024)
        piece = data[pos:pos + n]
        pos += len(piece)
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_chunked_upload_8mib_echoed(server):
    """An 8 MiB chunked upload is streamed back intact (same SHA-256) and the connection stays usable."""
    data = random.Random(8).randbytes(8 * MiB)
    head = request("POST", "/healthz?echo", headers=[("Transfer-Encoding", "chunked")])
    with Conn(server.address, timeout=60) as c:
        errors: list = []
        sender = send_in_background(c, [head, *chunked_pieces(data, seed=1)], errors)
        digest = hashlib.sha256()
        count = [0]

        def sink(b: bytes):
            digest.update(b)
            count[0] += len(b)

        r = c.read_response(sink=sink)
        sender.join(60)
        assert not sender.is_alive() and not errors, errors
        assert r.status == 200
        assert r.chunked, "a chunked request is echoed with a chunked response"
        assert count[0] == len(data)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        r2 = c.roundtrip(request("GET", "/healthz"))
        assert (r2.status, r2.body) == (200, b"ok")


def test_content_length_upload_echoed(server):
    """A 1 MiB Content-Length upload is echoed with a Content-Length response."""
    data = random.Random(1).randbytes(MiB)
    with Conn(server.address, timeout=30) as c:
        errors: list = []
        sender = send_in_background(c, [request("POST", "/healthz?echo", body=data)], errors)
        r = c.read_response()
        sender.join(30)
        assert not errors, errors
        assert r.status == 200
        assert not r.chunked
        assert r.header("content-length") == str(len(data))
        assert r.body == data


def test_empty_body_echoed(server):
    """A POST with `Content-Length: 0` to the echo aid gets an empty 200."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("POST", "/healthz?echo", headers=[("Content-Length", "0")]))
        assert r.status == 200
        assert r.body == b""
        assert c.roundtrip(request("GET", "/healthz")).status == 200


def test_small_chunked_body_with_extension_echoed(server):
    """A chunked body whose chunks carry extensions and a trailer is echoed without them."""
    body = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    with Conn(server.address) as c:
        r = c.roundtrip(
            request("POST", "/healthz?echo", headers=[("Transfer-Encoding", "chunked")]) + body
        )
        assert (r.status, r.body) == (200, b"hello world")
        assert c.roundtrip(request("GET", "/healthz")).status == 200


def test_unread_body_is_drained_or_connection_closed(server):
    """A 2 MiB chunked POST answered 405 without reading the body either drains it and serves the next request, or says `Connection: close` and closes."""
    data = random.Random(2).randbytes(2 * MiB)
    head = request("POST", "/healthz", headers=[("Transfer-Encoding", "chunked")])
    with Conn(server.address, timeout=30) as c:
        errors: list = []
        sender = send_in_background(c, [head, *chunked_pieces(data, seed=2)], errors)
        r = c.read_response()
        assert r.status == 405
        if r.has_token("connection", "close"):
            c.wait_closed(10)
            sender.join(30)  # the upload may fail with EPIPE/ECONNRESET: expected here
        else:
            sender.join(30)
            assert not errors, errors
            r2 = c.roundtrip(request("GET", "/healthz"))
            assert (r2.status, r2.body) == (200, b"ok")
    with Conn(server.address) as c:
        assert c.roundtrip(request("GET", "/healthz")).status == 200


def test_expect_100_continue_when_body_is_read(server):
    """With `Expect: 100-continue`, `100 Continue` arrives before the body is sent, then the body is echoed."""
    body = b"0123456789" * 100
    with Conn(server.address) as c:
        c.send(request("POST", "/healthz?echo", headers=[
            ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        interim = c.read_response(skip_informational=False)
        assert interim.status == 100
        assert interim.version == "HTTP/1.1"
        c.send(body)
        r = c.read_response()
        assert (r.status, r.body) == (200, body)
        assert c.roundtrip(request("GET", "/healthz")).status == 200


def test_expect_100_continue_not_sent_when_body_is_not_read(server):
    """A request with `Expect: 100-continue` answered without reading the body gets no `100 Continue`, and a close."""
    with Conn(server.address) as c:
        c.send(request("POST", "/healthz", headers=[
            ("Expect", "100-continue"), ("Content-Length", "1000")]))
        r = c.read_response(skip_informational=False)
        assert r.status == 405, "the final response comes first, no 100 Continue"
        assert r.has_token("connection", "close")
        c.wait_closed(5)

