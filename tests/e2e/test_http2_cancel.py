"""A client that cancels one stream (RST_STREAM) while the app streams its response: a WSGI
app's iterable gets close(), an ASGI app gets http.disconnect, and the server goes on serving
the other streams of the same connection and new connections."""

from __future__ import annotations

import json

import h2.errors
import pytest

from wsgi_util import q, wait_for_lines

APPS = ("/w=apps.h2_wsgi:app", "/a=asgi:apps.h2_asgi:app")


@pytest.mark.parametrize("prefix,seen", [("/w", "closed"), ("/a", "http.disconnect")],
                         ids=["wsgi", "asgi"])
def test_rst_stream_tells_the_app_and_the_connection_lives_on(start_app, h2client, tmp_path,
                                                               prefix, seen):
    server = start_app(*APPS)
    record = tmp_path / "record"
    c = h2client(server.address)
    slow = c.request("GET", f"{prefix}/slow?record={q(record)}")
    # The response has begun: head and some body on the wire.
    assert c.pump(lambda: len(c.responses[slow]["data"]) >= 4096), c.responses[slow]
    assert c.responses[slow]["status"] == 200
    c.conn.reset_stream(slow, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    assert wait_for_lines(record, timeout=10) == [seen]

    # The same connection serves another stream; the server sent no GOAWAY.
    r = c.get(f"{prefix}/info")
    assert r["status"] == 200 and json.loads(r["data"])["path"] == "/info", r
    assert c.goaway is None and not c.closed
    # And a new connection is served too.
    r = h2client(server.address).get(f"{prefix}/info")
    assert r["status"] == 200, r


@pytest.mark.parametrize("prefix,seen", [("/w", "closed"), ("/a", "http.disconnect")],
                         ids=["wsgi", "asgi"])
def test_closing_the_connection_mid_response_tells_the_app(start_app, h2client, tmp_path,
                                                           prefix, seen):
    server = start_app(*APPS)
    record = tmp_path / "record"
    c = h2client(server.address)
    slow = c.request("GET", f"{prefix}/slow?record={q(record)}")
    assert c.pump(lambda: len(c.responses[slow]["data"]) >= 4096), c.responses[slow]
    c.close()
    assert wait_for_lines(record, timeout=10) == [seen]
    r = h2client(server.address).get(f"{prefix}/info")
    assert r["status"] == 200, r
