"""Keep-alive, pipelining and the keep-alive idle timeout."""

from __future__ import annotations

import time

from wire import Conn, request


def test_keep_alive_100_requests(server):
    """One raw connection carries 100 requests in a row, each answered 200 `ok`."""
    with Conn(server.address) as c:
        for i in range(100):
            r = c.roundtrip(request("GET", f"/healthz?n={i}"))
            assert (r.status, r.body) == (200, b"ok"), i
            assert not r.has_token("connection", "close"), i
        c.assert_open(0.2)


def test_ten_pipelined_requests_answered_in_order(server):
    """Ten requests sent in one write are answered in request order on the same connection."""
    batch = b""
    expected = []
    for i in range(10):
        kind = i % 3
        if kind == 0:
            body = f"pipelined-{i}".encode()
            batch += request("POST", "/healthz?echo", body=body)
            expected.append(("echo", body))
        elif kind == 1:
            batch += request("GET", "/healthz")
            expected.append(("get", b"ok"))
        else:
            batch += request("HEAD", "/healthz")
            expected.append(("head", b""))
    with Conn(server.address) as c:
        c.send(batch)
        for i, (kind, body) in enumerate(expected):
            r = c.read_response(head_request=(kind == "head"))
            assert r.status == 200, (i, kind)
            assert r.body == body, (i, kind)
            if kind == "head":
                assert r.header("content-length") == "2"
        # Still usable afterwards.
        assert c.roundtrip(request("GET", "/healthz")).status == 200


def test_pipelined_statuses_in_order(server):
    """Pipelined requests with different outcomes (200, 404, 405) come back in request order."""
    plan = [("GET", "/healthz", 200), ("GET", "/a", 404), ("PUT", "/healthz", 405),
            ("GET", "/b", 404), ("GET", "/healthz", 200)] * 2
    with Conn(server.address) as c:
        c.send(b"".join(request(m, t) for m, t, _ in plan))
        got = [c.read_response().status for _ in plan]
    assert got == [s for _, _, s in plan]


def test_keep_alive_idle_timeout_closes_silently(start_server):
    """A connection idle between requests for --timeout-keep-alive is closed without a response."""
    s = start_server("--timeout-keep-alive", "1")
    with Conn(s.address) as c:
        assert c.roundtrip(request("GET", "/healthz")).status == 200
        t0 = time.monotonic()
        extra = c.wait_closed(10)
        elapsed = time.monotonic() - t0
    assert extra == b"", f"idle close should send nothing, got {extra!r}"
    assert 0.5 <= elapsed < 10


def test_keep_alive_timeout_accepts_fractions(start_server):
    """--timeout-keep-alive takes fractional seconds (0.5) and still serves requests meanwhile."""
    s = start_server("--timeout-keep-alive", "0.5")
    with Conn(s.address) as c:
        for _ in range(3):
            assert c.roundtrip(request("GET", "/healthz")).status == 200
            time.sleep(0.1)
        assert c.wait_closed(10) == b""


def test_idle_connection_without_request_is_closed(start_server):
    """A client that connects and never sends a byte does not hold the connection forever."""
    s = start_server("--timeout-keep-alive", "1", "--timeout-request-header", "1")
    with Conn(s.address) as c:
        extra = c.wait_closed(10)
    # Nothing was started, so a silent close or a 408 are both fine.
    assert extra == b"" or extra.startswith(b"HTTP/1.1 408"), extra
