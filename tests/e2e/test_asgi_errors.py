"""What a client sees when an ASGI app fails, and that the server goes on serving:
an exception before http.response.start → 500 (traceback in the log); after it → the
connection is cut (no complete response); returning without a response → 500."""

from __future__ import annotations

import pytest

from wire import Conn, request
from wsgi_util import assert_serves, get, log_has

APP = "apps.asgi_scope:app"


@pytest.fixture
def server(start_app):
    return start_app(APP)


def test_exception_before_start_is_500_with_traceback_logged(server):
    r = get(server, "/raise-before")
    assert r.status == 500
    assert log_has(server, "Traceback (most recent call last):")
    assert log_has(server, "RuntimeError: asgi boom before start")
    assert_serves(server, "/scope")


def test_exception_after_start_cuts_the_response(server):
    """The head and the first chunk arrive, then the connection closes without the last-chunk."""
    with Conn(server.address) as c:
        c.send(request("GET", "/raise-after"))
        head = c.read_head()
        assert head.status == 200
        assert head.has_token("transfer-encoding", "chunked")
        rest = c.wait_closed(10)
    assert b"first chunk\n" in rest
    assert not rest.endswith(b"0\r\n\r\n"), "a cut response must not end with the last-chunk"
    assert log_has(server, "RuntimeError: asgi boom after start")
    assert_serves(server, "/scope")


def test_return_without_response_is_500(server):
    assert get(server, "/no-response").status == 500
    assert_serves(server, "/scope")


def test_keeps_serving_after_many_failures(server):
    """A mix of failing requests, each on its own connection, then normal ones still work."""
    for i in range(20):
        target = ["/raise-before", "/no-response"][i % 2]
        assert get(server, target).status == 500
    for _ in range(5):
        with Conn(server.address) as c:
            c.send(request("GET", "/raise-after"))
            assert c.read_head().status == 200
            c.wait_closed(10)
    with Conn(server.address) as c:  # keep-alive still works after all that
        for _ in range(3):
            assert c.roundtrip(request("GET", "/stream?n=2")).body == b"chunk 0\nchunk 1\n"


def test_a_header_that_cannot_be_sent_is_the_apps_error(server):
    """A header value with a line break (a response-splitting attempt) makes send() raise
    ValueError: the client gets a 500 without the injected field, the log the traceback."""
    with Conn(server.address) as c:
        c.send(request("GET", "/bad-header"))
        r = c.read_response()
    assert r.status == 500
    assert r.header("set-cookie") is None and r.header("x-injected") is None
    assert log_has(server, "ValueError: http.response.start: header 'x-injected' has a line break")
    assert_serves(server, "/scope")


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_hop_by_hop_headers_from_the_app_are_dropped(server, h2client, http2):
    """Transfer-Encoding, Keep-Alive and Upgrade are the connection's (RFC 9110 §7.6.1): an
    ASGI app that sends them gets its response through, framed by the server, without them."""
    if http2:
        resp = h2client(server.address).get("/hop-by-hop")
        names = [name for name, _ in resp["headers"]]
        assert resp["status"] == 200 and bytes(resp["data"]) == b"kept"
    else:
        with Conn(server.address) as c:
            c.send(request("GET", "/hop-by-hop"))
            r = c.read_response()
        assert r.status == 200 and r.body == b"kept"
        names = [name for name, _ in r.headers]
        assert r.header("content-length") == "4"
    assert "transfer-encoding" not in names and "keep-alive" not in names
    assert "upgrade" not in names
