"""ASGI WebSockets, driven with the `websockets` sync client: the websocket scope, accept with a
subprotocol and extra headers, text and binary echo, close codes and reasons both ways,
websocket.disconnect with the peer's code, --ws-max-message-size (1009), closing before accept
(HTTP 403), and a WebSocket request to a WSGI app (an HTTP error, not 101).
The app is `apps.ws_app:app`."""

from __future__ import annotations

import json
import random

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from wsgi_util import assert_serves, get, log_has, q, wait_for_lines

APP = "apps.ws_app:app"


def ws(server, path: str, **kw):
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    return connect(f"ws://127.0.0.1:{server.port}{path}", **kw)


@pytest.fixture
def server(start_app):
    return start_app(APP)


def test_websocket_scope(server):
    with ws(server, "/scope?a=1&b=%20", additional_headers={"X-Extra": "Yes"}) as c:
        s = json.loads(c.recv(timeout=10))
        local_port = c.socket.getsockname()[1]
    assert s["type"] == "websocket"
    assert s["asgi"]["version"] == "3.0"
    assert s["http_version"] == "1.1"
    assert s["scheme"] == "ws"
    assert (s["path"], s["raw_path"], s["query_string"], s["root_path"]) == (
        "/scope", "/scope", "a=1&b=%20", "")
    assert s["subprotocols"] == []
    assert s["header_types"] == ["bytes,bytes"]
    names = [h[0] for h in s["headers"]]
    assert "sec-websocket-key" in names and "upgrade" in names
    assert ["x-extra", "Yes"] in s["headers"]
    assert s["client"] == ["127.0.0.1", local_port]
    assert s["server"] == ["127.0.0.1", server.port]


def test_subprotocol_and_extra_headers(server):
    with ws(server, "/subprotocol", subprotocols=["chat.v1", "chat.v2"]) as c:
        assert c.subprotocol == "chat.v2"
        assert c.response.headers["x-ws-test"] == "accepted"
        s = json.loads(c.recv(timeout=10))
    assert s["subprotocols"] == ["chat.v1", "chat.v2"]


def test_text_and_binary_echo(server):
    with ws(server, "/echo") as c:
        for i in range(50):
            c.send(f"message {i} \u00e9\u4e2d")
            assert c.recv(timeout=10) == f"message {i} \u00e9\u4e2d"
        c.send(b"\x00\x01binary\xff")
        assert c.recv(timeout=10) == b"\x00\x01binary\xff"


def test_200kb_binary_message(server):
    data = random.Random(200).randbytes(200_000)
    with ws(server, "/echo") as c:
        c.send(data)
        assert c.recv(timeout=15) == data


def test_client_close_code_reaches_app(server, tmp_path):
    rec = tmp_path / "ws"
    with ws(server, f"/echo?record={q(rec)}") as c:
        c.send("hi")
        assert c.recv(timeout=10) == "hi"
        c.close(code=4000, reason="client says bye")
    assert wait_for_lines(rec, timeout=10) == ["disconnect 4000"]


def test_app_close_code_and_reason_reach_client(server, tmp_path):
    rec = tmp_path / "ws"
    with ws(server, f"/echo?record={q(rec)}") as c:
        c.send("close 4001 app says bye")
        with pytest.raises(ConnectionClosed):
            c.recv(timeout=10)
        assert c.close_code == 4001
        assert c.close_reason == "app says bye"
    assert wait_for_lines(rec, timeout=10) == ["closed by app"]


def test_message_over_the_limit_closes_1009(start_app):
    server = start_app("--ws-max-message-size", "65536", APP)
    with ws(server, "/echo") as c:
        c.send(b"x" * 60_000)  # under the limit: echoed
        assert c.recv(timeout=10) == b"x" * 60_000
        c.send(b"y" * 100_000)
        with pytest.raises(ConnectionClosed):
            c.recv(timeout=10)
        assert c.close_code == 1009
    with ws(server, "/echo") as c:  # the server goes on
        c.send("still here")
        assert c.recv(timeout=10) == "still here"


def test_close_before_accept_is_403(server):
    with pytest.raises(InvalidStatus) as e:
        ws(server, "/deny")
    assert e.value.response.status_code == 403
    assert get(server, "/http").body == b"plain http"


def test_abrupt_client_close_reaches_app(server, tmp_path):
    """The client's TCP connection goes away without a close frame: the app gets
    websocket.disconnect with 1005 or 1006 (no status received / abnormal closure)."""
    rec = tmp_path / "ws"
    with ws(server, f"/echo?record={q(rec)}") as c:
        c.send("hi")
        assert c.recv(timeout=10) == "hi"
        c.socket.shutdown(2)  # the close handshake on leaving the block then fails quietly
    lines = wait_for_lines(rec, timeout=10)
    assert lines in (["disconnect 1005"], ["disconnect 1006"]), lines
    with ws(server, "/echo") as c2:
        c2.send("next")
        assert c2.recv(timeout=10) == "next"


def test_exception_before_accept_is_http_500(server):
    with pytest.raises(InvalidStatus) as e:
        ws(server, "/raise-before-accept")
    assert e.value.response.status_code == 500
    assert log_has(server, "RuntimeError: ws boom before accept")
    assert get(server, "/http").status == 200


def test_exception_after_accept_closes_1011(server):
    with ws(server, "/raise-after-accept") as c:
        assert c.recv(timeout=10) == "accepted"
        c.send("go")
        with pytest.raises(ConnectionClosed):
            c.recv(timeout=10)
        assert c.close_code == 1011
    assert log_has(server, "RuntimeError: ws boom after accept")
    assert get(server, "/http").status == 200


def test_websocket_to_wsgi_app_is_an_http_error(start_app):
    server = start_app("apps.environ_app:app")
    with pytest.raises(InvalidStatus) as e:
        ws(server, "/anything")
    assert 400 <= e.value.response.status_code < 600, e.value.response.status_code
    assert_serves(server, "/")


def test_many_connections_in_turn(server):
    """Connections opened and closed one after another (both ways of closing) leave the server
    serving."""
    for i in range(20):
        with ws(server, "/echo") as c:
            c.send(str(i))
            assert c.recv(timeout=10) == str(i)
            if i % 2:
                c.send("close 1000 done")
                with pytest.raises(ConnectionClosed):
                    c.recv(timeout=10)
    assert get(server, "/http").status == 200


def test_a_receive_cancelled_by_a_timeout_loses_no_message(server):
    """An app whose receive() timed out (asyncio.wait_for cancels it) still gets every later
    message in order: the message that arrives next is not read over by the one after it."""
    with ws(server, "/timed-receive") as c:
        assert c.recv(timeout=10) == "ready"
        c.send("a")
        c.send("b")
        assert c.recv(timeout=10) == "a,b"
