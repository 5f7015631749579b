"""Minimum rates: --min-request-body-rate and --min-response-rate (bytes a second, default 512
each) apply once --min-rate-grace (default 10 s) is over, counting only time the server spends
waiting on the client. A request body arriving slower gets 408 and the connection closed
(HTTP/1.1), or a 408 on its stream (HTTP/2); a body at a good pace is never cut. A client
taking its response slower has its connection closed, long before --timeout-send. And
--response-buffer-total (default 256 MiB): the server holds up to 4 MiB of a slow reader's
response so that the app's writes complete and its WSGI thread is free for others.

The app is `apps.hardening`. The grace periods are shortened by flags; the only limits on time
here are the clients' socket timeouts and bounded polling.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import time

import pytest

from apps.hardening import big_body
from wire import Conn, request
from probe import Prober, probe
from wsgi_util import q, read_lines, wait_for_lines

WSGI = "wsgi:apps.hardening:wsgi"
SLOW_BODY = ("--min-rate-grace", "2", "--min-request-body-rate", "100")
MiB = 1 << 20


def post_head(target: str, length: int) -> bytes:
    return request("POST", target, headers=[("Content-Length", str(length))])


def quick(server, timeout: float = 10.0):
    return probe(server, "/quick", timeout)


def trickle_until_answered(sock: socket.socket, *, every: float, most: int) -> int:
    """Send one body byte every `every` s (at most `most` of them) until the server answers
    (or closes); returns how many bytes went."""
    sent = 0
    for _ in range(most):
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            return sent
        try:
            sock.sendall(b"x")
        except OSError:  # the server closed: its answer, if any, is there to read
            return sent
        sent += 1
    return sent


@pytest.mark.parametrize("buffering", [("--request-buffer-size", "0"), ()],
                         ids=["streamed", "buffered"])
def test_a_body_slower_than_the_minimum_gets_408(start_app, buffering):
    """With --min-rate-grace 2 --min-request-body-rate 100, a 10000-byte body sent one byte
    every 0.3 s is answered 408 and its connection closed (well within the client's 15 s
    socket timeout), whether the body streams to the app or is buffered first; the server goes
    on serving."""
    server = start_app(WSGI, extra=[*SLOW_BODY, *buffering])
    with Conn(server.address, timeout=15) as c:
        c.send(post_head("/hash", 10_000) + b"x")
        sent = trickle_until_answered(c.sock, every=0.3, most=50)
        r = c.read_response()
        assert r.status == 408, (r.status, r.reason, r.body[:200], sent)
        assert r.has_token("connection", "close"), r.headers
        c.wait_closed(10)
    assert quick(server) == (200, b"quick"), server.dump()


def test_http2_a_body_slower_than_the_minimum_gets_408(start_app, h2client):
    """Over HTTP/2 the same trickle (one DATA byte every 0.3 s) gets a 408 response on its
    stream, and the connection serves on."""
    server = start_app(WSGI, extra=SLOW_BODY)
    client = h2client(server.address, timeout=15)
    sid = client.request("POST", "/hash", end=False, headers=[("content-length", "10000")])

    def answered() -> bool:
        return client.done(sid) or client.responses[sid]["status"] is not None

    for _ in range(50):  # at most 15 s
        if client.pump(answered, timeout=0.3):
            break
        client.conn.send_data(sid, b"x")
        client.flush()
    r = client.response(sid, timeout=10)
    assert r["status"] == 408, {k: v for k, v in r.items() if k != "data"}
    assert client.get("/quick")["status"] == 200


@pytest.mark.parametrize("buffering", [("--request-buffer-size", "0"), ()],
                         ids=["streamed", "buffered"])
def test_a_body_at_a_good_pace_is_not_cut(start_app, buffering):
    """With --min-rate-grace 1 --min-request-body-rate 100, an 8000-byte body sent at 2 KB/s
    (200 bytes every 0.1 s, 4 s in all: longer than the grace) is received whole: 200."""
    server = start_app(WSGI, extra=["--min-rate-grace", "1", "--min-request-body-rate", "100",
                                    *buffering])
    body = bytes(i % 251 for i in range(8000))
    with Conn(server.address, timeout=15) as c:
        c.send(post_head("/hash", len(body)))
        for i in range(0, len(body), 200):
            time.sleep(0.1)
            c.send(body[i:i + 200])
        r = c.read_response()
    assert r.status == 200, (r.status, r.body[:200])
    assert json.loads(r.body) == {"length": 8000, "sha256": hashlib.sha256(body).hexdigest()}


class Adopted(Conn):
    """A wire.Conn over a socket connected already."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()


def slow_reader(server, target: str, rcvbuf: int = 4096) -> socket.socket:
    """A connection with a small receive buffer (set before connect) that has sent `target`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(15)
    s.connect(server.address)
    s.sendall(request("GET", target))
    return s


def read_slowly(sock: socket.socket, seconds: int) -> tuple[int, str]:
    """recv(100) once a second for up to `seconds` s: (bytes got, how it ended: "open" when
    the connection still delivered bytes at the end, "closed" on EOF, "reset" on a reset)."""
    got = 0
    for _ in range(seconds):
        try:
            data = sock.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            return got, "reset"
        if not data:
            return got, "closed"
        got += len(data)
        time.sleep(1)
    return got, "open"


def drain(sock: socket.socket, want: int) -> tuple[int, str]:
    """Reads up to `want` bytes as fast as they come: (bytes got, "closed", "reset", or
    "open" once it has them all). A cut connection still hands over what the client's kernel
    had received before the reset."""
    got = 0
    for _ in range(100000):  # 8 MiB in 64 KiB reads is 128 of them; bounded anyway
        if got >= want:
            break
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return got, "reset"
        if not data:
            return got, "closed"
        got += len(data)
    return got, "open"


def test_a_client_reading_slower_than_the_minimum_is_cut(start_app):
    """--min-rate-grace 2 --min-response-rate 5000 --timeout-send 60: a client that asks for
    8 MiB and takes 100 bytes a second for 10 s has had its connection cut, long before
    --timeout-send: reading on at full speed, it gets what its kernel had received and then
    the reset, far short of the 8 MiB. The server keeps serving others: a probe of the app every
    second gets its 200 within 1 s throughout."""
    server = start_app(WSGI, extra=["--min-rate-grace", "2", "--min-response-rate", "5000",
                                    "--timeout-send", "60"])
    with Prober(server) as prober, slow_reader(server, f"/big?n={8 * MiB}") as s:
        slow, _ = read_slowly(s, 10)
        rest, how = drain(s, 9 * MiB)
    prober.check()
    assert how == "reset" and slow + rest < 8 * MiB, (
        f"read {slow} bytes slowly, then {rest} more before the connection was {how}\n"
        + server.dump())
    assert quick(server) == (200, b"quick")


def test_without_a_minimum_response_rate_a_slow_reader_is_kept(start_app):
    """With --min-response-rate 0 the same slow reader is not cut: after 10 s at 100 B/s, it
    reads the whole 8 MiB response at full speed."""
    server = start_app(WSGI, extra=["--min-rate-grace", "2", "--min-response-rate", "0",
                                    "--timeout-send", "60"])
    with slow_reader(server, f"/big?n={8 * MiB}") as s:
        slow, how = read_slowly(s, 10)
        assert how == "open", (slow, how)
        s.settimeout(30)
        rest, how = drain(s, 8 * MiB - slow)  # the head and all but its last bytes
    assert how == "open" and slow + rest >= 8 * MiB, (slow, rest, how)


# A 5 MiB response: more than the kernel's socket buffers take on loopback (tcp_wmem's
# largest is 4 MiB), less than those and the 4 MiB the server holds for one connection.
HELD = 5 * MiB


def test_the_server_holds_a_slow_readers_response_and_frees_the_thread(start_app, tmp_path):
    """With one WSGI thread and no waiting place, an app writing a 5 MiB response in 64 KiB
    pieces to a client that does not read is done with it at once (the server holds the rest),
    so another client's request is answered 200 meanwhile; then the first client reads its
    response whole."""
    server = start_app(WSGI, extra=["--threads", "1", "--backlog", "0"])
    marks = tmp_path / "marks"
    with slow_reader(server, f"/big?n={HELD}&record={q(marks)}") as s:
        assert wait_for_lines(marks, 2, timeout=10) == ["big started", "big returned"], (
            "the app's writes did not complete while its client was not reading\n"
            + server.dump())
        assert quick(server) == (200, b"quick"), server.dump()
        s.settimeout(30)
        r = Adopted(s).read_response()
    assert r.status == 200
    assert len(r.body) == HELD and r.body == big_body(HELD)


def test_without_a_response_budget_the_thread_waits_for_the_reader(start_app, tmp_path):
    """With --response-buffer-total 0 the same app's writes wait for the client that does not
    read, holding the only thread: another request gets 503. Once the first client reads, its
    response is whole."""
    server = start_app(WSGI, extra=["--threads", "1", "--backlog", "0",
                                    "--response-buffer-total", "0"])
    marks = tmp_path / "marks"
    with slow_reader(server, f"/big?n={HELD}&record={q(marks)}") as s:
        assert wait_for_lines(marks, 1, timeout=10) == ["big started"], server.dump()
        time.sleep(0.5)  # the app writes what the socket buffers take (ordering only)
        status, body = quick(server)
        assert status == 503, (status, body)
        assert read_lines(marks) == ["big started"], "the app finished writing to a non-reader"
        s.settimeout(30)
        r = Adopted(s).read_response()
    assert r.status == 200
    assert len(r.body) == HELD and r.body == big_body(HELD)
    assert wait_for_lines(marks, 2, timeout=10) == ["big started", "big returned"]
    assert quick(server) == (200, b"quick")
