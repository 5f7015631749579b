"""Each HTTP/2 flood defence as a client sees it, against one server: the flooding connection
gets GOAWAY ENHANCE_YOUR_CALM and is closed (an oversized or HPACK-bombed header list costs only
its stream: 431), and afterwards the server answers a new connection at once."""

from __future__ import annotations

import json

import h2.errors
import hpack
import pytest
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, SettingsFrame

APP = "/a=asgi:apps.h2_asgi:app"
CALM = h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """One server for the module (each test floods a connection of its own)."""
    import conftest

    binary = conftest.junction_bin()
    s = conftest.Server([str(binary), "--bind", "127.0.0.1:0", "--log-level", "debug",
                         "--no-access-log", "--pythonpath", str(conftest.E2E_DIR),
                         "/w=apps.h2_wsgi:app", APP], binds=1, env=conftest.server_environment())
    yield s
    code = s.stop()
    print(s.dump())
    assert code == 0, s.dump()


def serves(server, h2client):
    """A new connection gets its answer (the flood did not stall the server)."""
    c = h2client(server.address, timeout=10)
    for path in ("/a/info", "/w/info"):
        r = c.get(path)
        assert r["status"] == 200 and json.loads(r["data"])["path"] == "/info", (r, server.dump())


def calmed(c) -> None:
    """The connection ends with GOAWAY ENHANCE_YOUR_CALM."""
    c.pump(lambda: c.goaway is not None, timeout=10)
    assert c.goaway is not None, f"no GOAWAY; events: {c.events[-5:]}"
    assert c.goaway.error_code == CALM, c.goaway
    c.pump(lambda: False, timeout=5)  # then the server closes it
    assert c.closed


def test_rapid_reset(server, h2client):
    """HEADERS then RST_STREAM, 1000 times in one burst (CVE-2023-44487)."""
    c = h2client(server.address)
    for _ in range(1000):
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", "/a/info"),
                                  (":authority", "localhost")], end_stream=True)
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    calmed(c)
    serves(server, h2client)


@pytest.mark.parametrize("frame", [SettingsFrame(0), PingFrame(0)], ids=["settings", "ping"])
def test_control_frame_flood(server, h2client, frame):
    c = h2client(server.address)
    c.pump(lambda: c.conn.remote_settings.max_concurrent_streams == 100, timeout=5)
    c.send_raw(frame.serialize() * 1000)
    calmed(c)
    serves(server, h2client)


def test_empty_data_flood(server, h2client):
    """1000 DATA frames with no payload and no END_STREAM on an open upload (CVE-2019-9518)."""
    c = h2client(server.address)
    sid = c.request("POST", "/a/hash", end=False)
    empty = DataFrame(sid)
    empty.data = b""
    c.send_raw(empty.serialize() * 1000)
    calmed(c)
    serves(server, h2client)


def test_continuation_flood(server, h2client):
    """A header block spread over HEADERS and 100 CONTINUATION frames (CVE-2024-28182)."""
    c = h2client(server.address)
    c.pump(lambda: c.conn.remote_settings.max_concurrent_streams == 100, timeout=5)
    block = c.conn.encoder.encode([(":method", "GET"), (":scheme", "http"),
                                   (":path", "/a/info"), (":authority", "localhost")])
    head = HeadersFrame(1)
    head.data = block
    out = head.serialize()
    for i in range(100):
        cont = ContinuationFrame(1)
        cont.data = c.conn.encoder.encode([("x-pad", "p" * 8)])
        out += cont.serialize()
    c.send_raw(out)
    calmed(c)
    serves(server, h2client)


@pytest.mark.parametrize("kind", ["hpack-bomb", "oversized"])
def test_header_list_too_large_is_431_and_the_connection_lives(server, h2client, kind):
    """A header list over the limit (64 KiB by default) gets 431 on its stream, whether it is
    sent (oversized) or only decoded (an HPACK bomb: one 4 KiB dynamic-table entry indexed 60
    times, a few hundred bytes on the wire); the connection serves the next stream."""
    c = h2client(server.address)
    if kind == "hpack-bomb":
        fields = [("x-bomb", "b" * 4000)] * 60
    else:
        fields = [(f"x-big-{i}", "v" * 7000) for i in range(10)]
    if kind == "hpack-bomb":
        assert len(hpack.Encoder().encode(fields)) < 5000  # what goes on the wire
    sid = c.request("GET", "/a/info", headers=fields)
    r = c.response(sid)
    print(kind, {k: v for k, v in r.items() if k != "data"})
    assert r["status"] == 431, r
    assert c.goaway is None
    r = c.get("/a/info")
    assert r["status"] == 200, r
    serves(server, h2client)
