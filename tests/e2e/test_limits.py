"""Every limit and timeout gives its status on the wire (414, 431, 413, 408), then a close."""

from __future__ import annotations

import socket
import time

import pytest

from wire import Conn, request


def expect_error(c: Conn, status: int, timeout: float = 5.0):
    """Read one response with `status` and `Connection: close`, then see the server close."""
    r = c.read_response()
    assert r.status == status, (r.status, r.reason, r.body[:200])
    assert r.has_token("connection", "close"), r.headers
    c.wait_closed(timeout)
    return r


def roundtrip_error(address, data: bytes, status: int):
    with Conn(address) as c:
        c.send(data)
        return expect_error(c, status)


def ok(address, data: bytes):
    with Conn(address) as c:
        r = c.roundtrip(data)
    assert r.status == 200, (r.status, r.body[:200])


# --- request line --------------------------------------------------------------------------

def test_request_line_default_limit_414(server):
    """A request line longer than the default 8190 bytes gets 414."""
    roundtrip_error(server.address, request("GET", "/healthz?" + "a" * 9000), 414)


def test_request_line_limit_flag(start_server):
    """--limit-request-line 100 lets a 60-byte request line through and answers a 200-byte one with 414."""
    s = start_server("--limit-request-line", "100")
    ok(s.address, request("GET", "/healthz?" + "a" * 30))
    roundtrip_error(s.address, request("GET", "/healthz?" + "a" * 200), 414)


# --- header fields -------------------------------------------------------------------------

def many_headers(n: int, value_len: int = 8):
    return [(f"X-Field-{i}", "v" * value_len) for i in range(n)]


def test_field_count_default_limit_431(server):
    """More than the default 100 header fields gets 431."""
    roundtrip_error(server.address, request("GET", "/healthz", headers=many_headers(150)), 431)


def test_field_count_limit_flag(start_server):
    """--limit-request-fields 10 accepts 5 fields and answers 20 fields with 431."""
    s = start_server("--limit-request-fields", "10")
    ok(s.address, request("GET", "/healthz", headers=many_headers(5)))
    roundtrip_error(s.address, request("GET", "/healthz", headers=many_headers(20)), 431)


def test_field_size_default_limit_431(server):
    """One header field line longer than the default 8190 bytes gets 431."""
    roundtrip_error(server.address,
                    request("GET", "/healthz", headers=[("X-Big", "b" * 9000)]), 431)


def test_field_size_limit_flag(start_server):
    """--limit-request-field-size 100 accepts a 60-byte field and answers a 300-byte one with 431."""
    s = start_server("--limit-request-field-size", "100")
    ok(s.address, request("GET", "/healthz", headers=[("X-Big", "b" * 50)]))
    roundtrip_error(s.address, request("GET", "/healthz", headers=[("X-Big", "b" * 300)]), 431)


def test_header_block_size_limit_flag(start_server):
    """--limit-request-header-size 1000 answers a 2 KiB header block of small fields with 431."""
    s = start_server("--limit-request-header-size", "1000")
    ok(s.address, request("GET", "/healthz", headers=many_headers(5, 60)))
    roundtrip_error(s.address, request("GET", "/healthz", headers=many_headers(25, 60)), 431)


def test_header_block_default_limit_431(server):
    """A header block over the default 65536 bytes (90 fields of 1 KiB) gets 431."""
    roundtrip_error(server.address,
                    request("GET", "/healthz", headers=many_headers(90, 1000)), 431)


# --- body size -----------------------------------------------------------------------------

def test_declared_body_over_limit_413(start_server):
    """A Content-Length over --max-body-size gets 413 before the body is sent."""
    s = start_server("--max-body-size", "1000")
    with Conn(s.address) as c:
        r = c.roundtrip(request("POST", "/healthz?echo", body=b"x" * 1000))
        assert (r.status, len(r.body)) == (200, 1000)
    with Conn(s.address) as c:
        c.send(request("POST", "/healthz?echo", headers=[("Content-Length", "1001")]))
        expect_error(c, 413)


def test_declared_body_over_default_limit_413(server):
    """A Content-Length over the default 1 GiB limit gets 413."""
    with Conn(server.address) as c:
        c.send(request("POST", "/healthz?echo",
                       headers=[("Content-Length", str((1 << 30) + 1))]))
        expect_error(c, 413)


def test_chunked_body_growing_over_limit_413(start_server):
    """A chunked body (no declared length) that grows past --max-body-size gets 413."""
    s = start_server("--max-body-size", "1000")
    with Conn(s.address) as c:
        body = b"190\r\n" + b"a" * 400 + b"\r\n" + b"258\r\n" + b"b" * 600 + b"\r\n0\r\n\r\n"
        r = c.roundtrip(request("POST", "/healthz?echo", headers=[
            ("Transfer-Encoding", "chunked")]) + body)
        assert (r.status, len(r.body)) == (200, 1000), "exactly the limit is allowed"
    with Conn(s.address) as c:
        # The echo aid answers once it has the first chunk, so the first chunk already
        # crosses the limit: the 413 has to come before any response is started.
        body = b"4b0\r\n" + b"a" * 1200 + b"\r\n0\r\n\r\n"
        c.send(request("POST", "/healthz?echo", headers=[("Transfer-Encoding", "chunked")]) + body)
        expect_error(c, 413)


# --- timeouts ------------------------------------------------------------------------------

def test_header_timeout_408(start_server):
    """A request head not finished within --timeout-request-header gets 408 and a close."""
    s = start_server("--timeout-request-header", "1")
    with Conn(s.address, timeout=15) as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        expect_error(c, 408)
        assert 0.5 <= time.monotonic() - t0 < 10


def test_body_timeout_408(start_server):
    """A body that stalls for --timeout-request-body gets 408 when no response was started."""
    s = start_server("--timeout-request-body", "1")
    with Conn(s.address, timeout=15) as c:
        # The echo aid waits for the first body bytes before it answers; none come.
        c.send(request("POST", "/healthz?echo", headers=[("Content-Length", "100")]))
        t0 = time.monotonic()
        expect_error(c, 408)
        assert 0.5 <= time.monotonic() - t0 < 10


def test_client_that_never_reads_is_cut_at_send_timeout(start_server):
    """A client that uploads to the echo but never reads the echoed bytes is cut after --timeout-send, and others are still served."""
    s = start_server("--timeout-send", "1", "--timeout-request-body", "60")
    sock = socket.create_connection(s.address, timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"POST /healthz?echo HTTP/1.1\r\nHost: t\r\nContent-Length: 268435456\r\n\r\n")
    piece = b"x" * 65536
    t0 = time.monotonic()
    cut = False
    try:
        for _ in range(4096):  # at most the declared 256 MiB; the cut comes long before
            sock.sendall(piece)
            if time.monotonic() - t0 > 25:
                break
    except OSError:
        cut = True
    finally:
        sock.close()
    assert cut, "the server kept a connection whose client never read"
    assert time.monotonic() - t0 < 25
    ok(s.address, request("GET", "/healthz"))


@pytest.mark.parametrize("flag", ["--timeout-request-header", "--timeout-request-body",
                                  "--timeout-keep-alive", "--timeout-send",
                                  "--graceful-timeout"])
def test_timeouts_accept_fractional_seconds(start_server, flag):
    """Each timeout flag accepts fractional seconds such as 0.5."""
    s = start_server(flag, "0.5")
    ok(s.address, request("GET", "/healthz"))
