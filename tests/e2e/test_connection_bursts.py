"""Many connections changing hands at once: h2c upgrades (RFC 7540 §3.2), WebSocket upgrades
(RFC 6455) and TLS handshakes, each cut at every step by clients that leave, 32 at a time for
5 rounds. A connection's owner must outlive everything bound to it whichever handler ends it
first; the server stays up and keeps answering. Run against the ASan/UBSan build too
(scripts/test.sh), where a lifetime bug is a report, not a lucky pass."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import H2_PREFACE

ROUNDS = 5
PARALLEL = 32

# An empty SETTINGS frame (RFC 9113 §6.5), and its payload as HTTP2-Settings carries it.
SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
HTTP2_SETTINGS = base64.urlsafe_b64encode(b"\x00\x03\x00\x00\x00\x64").rstrip(b"=")


def upgrade_request(path: str) -> bytes:
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: " + HTTP2_SETTINGS + b"\r\n\r\n")


def read_until(sock: socket.socket, needle: bytes, limit: float = 5.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    try:
        while needle not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def reset_close(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a client that crashes does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def burst(server, step) -> list:
    """Runs step(i, address) for i in 0..PARALLEL-1 at once, ROUNDS times; after each round the
    server must be alive and answer its health path. Returns what the steps returned."""
    results = []
    with ThreadPoolExecutor(PARALLEL) as pool:
        for _ in range(ROUNDS):
            results += list(pool.map(lambda i: step(i, server.address), range(PARALLEL)))
            assert server.running(), server.dump()
            assert httpx.get(f"{server.base_url}/healthz", timeout=10).text == "ok"
    return results


def h2c_step(i: int, address) -> bool:
    """One upgrade, ended by the client at step i % 6; True when the 101 came."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(upgrade_request("/w/info"))
        how = i % 6
        if how == 0:  # the whole preface and SETTINGS at once, then gone
            sock.sendall(H2_PREFACE + SETTINGS_FRAME)
            return True
        got = read_until(sock, b"\r\n\r\n")
        if how == 1:  # gone right after the 101
            pass
        elif how == 2:  # half the preface
            sock.sendall(H2_PREFACE[:11])
        elif how == 3:  # the preface, no SETTINGS
            sock.sendall(H2_PREFACE)
        elif how == 4:  # the preface and SETTINGS, gone before the answer on stream 1
            sock.sendall(H2_PREFACE + SETTINGS_FRAME)
        else:  # the preface and SETTINGS, then a reset instead of a close
            sock.sendall(H2_PREFACE + SETTINGS_FRAME)
            reset_close(sock)
        return got.startswith(b"HTTP/1.1 101")


def test_h2c_upgrades_cut_at_every_step_in_bursts(start_app):
    """5 rounds of 32 parallel h2c upgrades whose clients leave after the request, after the
    101, mid-preface, before SETTINGS or with a reset: the server stays up and answers."""
    server = start_app("/w=apps.h2_wsgi:app")
    results = burst(server, h2c_step)
    # Every client that waited saw the 101 (those that sent all at once did not wait).
    assert all(results), results


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_parallel_curl_http2_upgrades(start_app):
    """16 `curl --http2` at once on an http:// URL (each an h2c upgrade) all get HTTP/2 200
    from the WSGI app, and the server answers after them."""
    server = start_app("/w=apps.h2_wsgi:app")
    url = f"{server.base_url}/w/info"
    procs = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                               "--http2", "--max-time", "20", url],
                              stdout=subprocess.PIPE, text=True) for _ in range(16)]
    outputs = [p.communicate(timeout=30)[0] for p in procs]
    assert outputs == ["2 200"] * 16, outputs
    assert server.running(), server.dump()
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).text == "ok"


WS_REQUEST = (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
# A masked text frame "hi" and a masked close frame 1000 (RFC 6455 §5.2, §5.5.1).
WS_TEXT = b"\x81\x82\x01\x02\x03\x04" + bytes(a ^ b for a, b in zip(b"hi", b"\x01\x02"))
WS_CLOSE = b"\x88\x82\x01\x02\x03\x04" + bytes(a ^ b for a, b in zip(b"\x03\xe8", b"\x01\x02"))


def ws_step(i: int, address) -> bool:
    """One WebSocket upgrade, ended by the client at step i % 5; True when the 101 came."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(WS_REQUEST)
        how = i % 5
        if how == 0:  # gone before the answer
            return True
        got = read_until(sock, b"\r\n\r\n")
        if how == 2:  # a message, then gone without reading the echo
            sock.sendall(WS_TEXT)
        elif how == 3:  # a message and a close frame at once
            sock.sendall(WS_TEXT + WS_CLOSE)
        elif how == 4:  # a reset after the 101
            reset_close(sock)
        return got.startswith(b"HTTP/1.1 101")


def test_websocket_upgrades_cut_at_every_step_in_bursts(start_app):
    """5 rounds of 32 parallel WebSocket handshakes to an ASGI app, whose clients leave before
    the 101, after it, after a message, with a close frame or with a reset: the server stays up,
    answers HTTP, and a WebSocket after the bursts still echoes."""
    from websockets.sync.client import connect

    server = start_app("apps.ws_app:app")
    results = burst(server, ws_step)
    assert all(results), results
    with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=10) as ws:
        ws.send("after")
        assert ws.recv(timeout=10) == "after"


def client_hello() -> bytes:
    """The first flight of a real TLS client, from a memory BIO."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def tls_step_factory(hello: bytes):
    def step(i: int, address) -> bool:
        """One TLS connection, ended by the client at step i % 6 of its handshake."""
        how = i % 6
        with socket.create_connection(address, timeout=10) as sock:
            if how == 0:  # connect and leave
                return True
            if how == 1:  # half a ClientHello
                sock.sendall(hello[: len(hello) // 2])
            elif how == 2:  # the ClientHello, gone before the ServerHello
                sock.sendall(hello)
            elif how == 3:  # the ClientHello, the ServerHello read, then a reset
                sock.sendall(hello)
                read_until(sock, b"\x16\x03", 5.0)
                reset_close(sock)
                return True
            else:  # a full handshake, then gone (4: close, 5: reset) without a request
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                tls = ctx.wrap_socket(sock, server_hostname="localhost")
                if how == 5:
                    reset_close(tls)
                    return True
            return True

    return step


def test_tls_connections_closing_during_the_handshake_in_bursts(start_tls, tls_pki):
    """5 rounds of 32 parallel TLS clients that leave at once, mid-ClientHello, before the
    ServerHello, after it with a reset, or right after the handshake: the server stays up and
    a TLS request after the bursts is answered."""
    from tls_util import tls_get

    server = start_tls()
    hello = client_hello()
    step = tls_step_factory(hello)
    with ThreadPoolExecutor(PARALLEL) as pool:
        for _ in range(ROUNDS):
            assert all(pool.map(lambda i: step(i, server.address), range(PARALLEL)))
            assert server.running(), server.dump()
    response, _ = tls_get(server, tls_pki, "/healthz")
    assert response.status == 200 and response.body == b"ok", server.dump()
