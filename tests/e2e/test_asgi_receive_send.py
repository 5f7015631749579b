"""receive() and send() of the ASGI HTTP protocol: request bodies as http.request events with
more_body, Expect: 100-continue, streamed responses, and http.disconnect — when the client
goes away while the app waits or streams, and once the response is complete. The app is
`apps.asgi_scope:app`; it writes what it saw to a file the request names."""

from __future__ import annotations

import hashlib
import json
import random
import time

import pytest

from wire import Conn, chunked, request
from wsgi_util import assert_serves, q, read_lines, wait_for_lines

APP = "apps.asgi_scope:app"
MiB = 1 << 20


@pytest.fixture
def server(start_app):
    return start_app(APP)


def echo(server, raw: bytes) -> dict:
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(raw)
    assert r.status == 200, (r.status, r.body[:300])
    return json.loads(r.body)


def test_small_body(server):
    r = echo(server, request("POST", "/echo", body=b"hello body"))
    assert (r["body"], r["length"]) == ("hello body", 10)


def test_no_body_is_one_empty_event(server):
    r = echo(server, request("GET", "/echo"))
    assert (r["events"], r["length"], r["body"]) == (1, 0, "")


def test_chunked_request_body(server):
    r = echo(server, request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
             + chunked(b"a" * 10, b"b" * 20, b"c"))
    assert (r["body"], r["length"]) == ("a" * 10 + "b" * 20 + "c", 31)


def test_big_body_arrives_in_several_events(server):
    """4 MiB arrive whole and in order, in more than one http.request event (more_body=True on
    all but the last: the app stops at the first false)."""
    data = random.Random(4).randbytes(4 * MiB)
    r = echo(server, request("POST", "/echo", body=data))
    assert r["length"] == len(data)
    assert r["sha256"] == hashlib.sha256(data).hexdigest()
    assert r["events"] > 1, r["events"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_slow_reader_gets_the_whole_body(server, framing):
    """An app that awaits something between receive() calls (here asyncio.sleep(0.002), as a
    framework writing each piece to a file would) still gets every byte: the server holds the
    client back; it must not end the body early (more_body=False before the end) or drop bytes."""
    data = random.Random(3).randbytes(MiB + 17)
    if framing == "chunked":
        raw = request("POST", "/echo?pause_ms=2", headers=[("Transfer-Encoding", "chunked")]) \
            + chunked(*(data[i:i + 65536] for i in range(0, len(data), 65536)))
    else:
        raw = request("POST", "/echo?pause_ms=2", body=data)
    r = echo(server, raw)
    assert (r["length"], r["sha256"]) == (len(data), hashlib.sha256(data).hexdigest()), (
        r["length"], r["events"])


def test_app_that_never_reads_the_body(server):
    """An app may answer without calling receive(): each such request gets its answer and the
    server goes on (bodies of several sizes, each on its own connection)."""
    for i in range(50):
        with Conn(server.address, timeout=10) as c:
            r = c.roundtrip(request("POST", "/stats", body=b"x" * (1 + 997 * i)))
        assert r.status == 200, (i, r.status)
    assert_serves(server, "/scope")


def test_expect_100_continue(server):
    """With Expect: 100-continue the client gets 100 Continue once the app calls receive(),
    then sends the body, then gets the answer."""
    body = b"after the 100"
    with Conn(server.address, timeout=10) as c:
        c.send(request("POST", "/echo", headers=[
            ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        interim = c.read_head()
        assert interim.status == 100
        c.send(body)
        r = c.read_response()
    assert r.status == 200
    assert json.loads(r.body)["body"] == body.decode()


def test_100_continue_waits_for_the_first_receive(server, tmp_path):
    """The 100 Continue is sent when the app first calls receive(), not when the head arrives:
    by the time the client sees it, the app has recorded that it is calling receive(). (For a
    body longer than --request-buffer-size, which streams to the app; a shorter one is read
    ahead of the app, so the server answers 100 Continue itself: test_request_buffering.py.)"""
    rec = tmp_path / "late"
    body = b"late body" * 10000
    with Conn(server.address, timeout=10) as c:
        c.send(request("POST", f"/late-receive?record={q(rec)}", headers=[
            ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        assert c.read_head().status == 100
        assert read_lines(rec) == ["receive called"]
        c.send(body)
        r = c.read_response()
    answer = json.loads(r.body)
    assert r.status == 200 and answer["length"] == len(body)
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()


def test_streamed_response(server):
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", "/stream?n=6"))
    assert r.status == 200
    assert r.chunked
    assert r.body == b"".join(b"chunk %d\n" % i for i in range(6))


def test_receive_after_response_is_disconnect(server, tmp_path):
    """Once the response is complete, receive() answers http.disconnect, even though the client
    keeps its connection open."""
    rec = tmp_path / "after"
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", f"/after?record={q(rec)}"))
        assert r.status == 200
        assert wait_for_lines(rec, timeout=12) == ["after: http.disconnect"]
        # the connection is still usable
        assert c.roundtrip(request("GET", "/stream?n=1")).body == b"chunk 0\n"


def test_disconnect_while_app_waits(server, tmp_path):
    """The app has read the body and waits in receive(): the client closing gives it
    http.disconnect."""
    rec = tmp_path / "wait"
    c = Conn(server.address)
    c.send(request("POST", f"/wait-disconnect?record={q(rec)}", body=b"x"))
    assert wait_for_lines(rec, timeout=10) == ["waiting"]
    c.close()
    assert wait_for_lines(rec, 2, timeout=10) == ["waiting", "receive: http.disconnect"]
    assert_serves(server, "/scope")


def test_disconnect_while_app_streams(server, tmp_path):
    """The client leaves in the middle of a streamed response: a receive() waiting alongside
    gets http.disconnect and the next send() raises an OSError."""
    rec = tmp_path / "gone"
    c = Conn(server.address)
    c.send(request("GET", f"/stream-until-gone?record={q(rec)}"))
    assert c.read_head().status == 200
    c.read_until(b"tick 2\n")
    c.close()
    lines = wait_for_lines(rec, 2, timeout=15)
    assert "receive: http.disconnect" in lines, lines
    sends = [line for line in lines if line.startswith("send: ")]
    assert len(sends) == 1 and "OSError" in sends[0].split(": ", 1)[1].split(","), lines
    assert_serves(server, "/scope")


def test_large_body_pieces_are_given_back_once_sent(server):
    """A `bytes` body of 16 KiB or more is sent from the app's object, which the connection
    holds until the bytes are out; then each is given back on a Python thread (its __del__
    runs, counted by the app), soon and exactly once."""
    n, size = 40, 65536
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("GET", f"/tracked?n={n}&size={size}"))
        assert r.status == 200
        assert r.body == b"".join(bytes([i % 256]) * size for i in range(n))
        deadline = time.monotonic() + 10
        while True:
            freed = json.loads(c.roundtrip(request("GET", "/freed")).body)["freed"]
            if freed >= n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert freed == n
