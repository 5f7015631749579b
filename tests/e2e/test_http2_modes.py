"""--http auto|1|2 on a plain listener, as a client sees it: auto serves HTTP/1.1 and h2c prior
knowledge on the same port; 1 answers the HTTP/2 preface as a bad HTTP/1.1 request; 2 answers
an HTTP/1.1 request with an HTTP/2 GOAWAY and closes."""

from __future__ import annotations

import json
import socket

import httpx
from hyperframe.frame import Frame, GoAwayFrame, SettingsFrame

from conftest import H2_PREFACE
from wire import Conn, request

APP = "apps.h2_wsgi:app"


def read_all(address, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send data; read until the server closes (True) or the timeout (False)."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except socket.timeout:
            return out, False
        except ConnectionResetError:
            pass
        return out, True


def frames(data: bytes) -> list:
    out = []
    while len(data) >= 9:
        f, length = Frame.parse_frame_header(memoryview(data[:9]))
        assert len(data) >= 9 + length, f"truncated frame {f!r}"
        f.parse_body(memoryview(data[9:9 + length]))
        out.append(f)
        data = data[9 + length:]
    assert not data, data
    return out


def test_auto_serves_http1_and_h2c_on_one_port(start_app, h2client):
    server = start_app(APP)
    with Conn(server.address) as c:  # keep-alive: two HTTP/1.1 requests on one connection
        for _ in range(2):
            r = c.roundtrip(request("GET", "/info", host="h1.test"))
            assert (r.version, r.status) == ("HTTP/1.1", 200)
            assert json.loads(r.body) == {"protocol": "HTTP/1.1", "host": "h1.test",
                                          "method": "GET", "path": "/info"}
    r = h2client(server.address).get("/info", authority="h2.test")
    assert r["status"] == 200
    assert json.loads(r["data"])["protocol"] == "HTTP/2"
    with httpx.Client(http1=False, http2=True, base_url=server.base_url, timeout=10) as client:
        assert client.get("/info").http_version == "HTTP/2"
    assert httpx.get(server.base_url + "/info", timeout=10).json()["protocol"] == "HTTP/1.1"


def test_http1_only_refuses_prior_knowledge(start_app):
    """--http 1: the preface is an HTTP/1.1 request it cannot take: an HTTP/1.1 error, then
    the connection is closed; no HTTP/2 frame is ever sent. HTTP/1.1 is served as usual."""
    server = start_app(APP, extra=["--http", "1"])
    out, closed = read_all(server.address, H2_PREFACE + SettingsFrame(0).serialize())
    assert closed, out
    head = out.split(b"\r\n", 1)[0]
    assert head in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 505 HTTP Version Not Supported"), out
    with httpx.Client(http1=False, http2=True, base_url=server.base_url, timeout=10) as client:
        try:
            client.get("/info")
        except httpx.RemoteProtocolError:
            pass
        else:
            raise AssertionError("an HTTP/2-only client got an answer from --http 1")
    with Conn(server.address) as c:
        assert c.roundtrip(request("GET", "/info")).status == 200


def test_http2_only_refuses_http1(start_app, h2client):
    """--http 2: an HTTP/1.1 request gets the server's SETTINGS and a GOAWAY (PROTOCOL_ERROR,
    no stream processed), then the close; an HTTP/1.1 client sees no HTTP response at all."""
    server = start_app(APP, extra=["--http", "2"])
    out, closed = read_all(server.address, request("GET", "/info"))
    assert closed, out
    got = frames(out)
    assert isinstance(got[0], SettingsFrame) and "ACK" not in got[0].flags, got
    assert isinstance(got[-1], GoAwayFrame), got
    assert (got[-1].error_code, got[-1].last_stream_id) == (1, 0), got[-1]  # PROTOCOL_ERROR
    try:
        httpx.get(server.base_url + "/info", timeout=10)
    except httpx.RemoteProtocolError:
        pass
    else:
        raise AssertionError("an HTTP/1.1 client got an answer from --http 2")
    r = h2client(server.address).get("/info")
    assert r["status"] == 200 and json.loads(r["data"])["protocol"] == "HTTP/2"
