"""Request buffering (--request-buffer-size, default 64 KiB; --request-buffer-total, default
256 MiB): a request whose body fits in the buffer reaches its app only once the whole body has
arrived, for WSGI and ASGI apps alike, so slow uploaders hold connections, not WSGI threads or
ASGI concurrency slots. A body longer than the buffer (by Content-Length, or a chunked body that
has not ended within the buffer) streams to its app as it comes, and so does every body once
the total budget is spent. A small body sent with `Expect: 100-continue` is answered
`100 Continue` by the server itself, before the app runs.

The app is `apps.hardening` (its /echo and /hash record "started" on entry, before reading the
body, so the record file tells when the app ran); nothing here asserts on a measured duration
beyond a client's socket timeout.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import time

import pytest

from probe import probe
from wire import Conn, request
from wsgi_util import q, read_lines, wait_for_lines

APPS = {"wsgi": "wsgi:apps.hardening:wsgi", "asgi": "asgi:apps.hardening:asgi"}
# What makes the app scarce: 2 WSGI threads with 2 waiting places, or 5 ASGI slots.
SCARCE = {"wsgi": ("--threads", "2", "--backlog", "2"), "asgi": ("--limit-concurrency", "5")}
KINDS = pytest.mark.parametrize("kind", ["wsgi", "asgi"])

SLOW_CLIENTS = 300
SLOW_LENGTH = 1000


def post_head(target: str, length: int, *headers: tuple[str, str]) -> bytes:
    return request("POST", target, headers=[("Content-Length", str(length)), *headers])


def chunked_head(target: str) -> bytes:
    return request("POST", target, headers=[("Transfer-Encoding", "chunked")])


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def open_slow_uploads(server, n: int, target: str) -> list[socket.socket]:
    """n connections, each having sent a POST head (Content-Length 1000) and 1 byte of its
    body; non-blocking from then on, so holding them costs nothing."""
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(server.address, timeout=10)
            socks.append(s)
            s.sendall(post_head(target, SLOW_LENGTH) + b"x")
            s.setblocking(False)
    except BaseException:
        close_all(socks)
        raise
    return socks


def trickle(socks: list[socket.socket]) -> None:
    """One more byte from each slow client (one the server closed just drops out)."""
    for s in socks:
        try:
            s.send(b"x")
        except OSError:
            pass


def still_waiting(sock: socket.socket) -> bool:
    """Whether the server has neither answered nor closed this (non-blocking) connection."""
    try:
        sock.recv(1, socket.MSG_PEEK)  # bytes of an answer, or b"" for a close
    except BlockingIOError:
        return True
    except OSError:
        pass
    return False


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


@KINDS
def test_300_slow_uploads_do_not_starve_the_app(start_app, tmp_path, kind):
    """300 clients each upload a 1000-byte body one byte a second to an app with 2 WSGI threads
    and 2 waiting places (or 5 ASGI slots). Meanwhile a normal request on a new connection,
    every half second for 6 s, is answered 200 within its 1 s socket timeout every time: the
    slow uploads wait in the server, not in the app, which has not run for any of them."""
    server = start_app(APPS[kind], extra=SCARCE[kind])
    started = tmp_path / "started"
    socks = open_slow_uploads(server, SLOW_CLIENTS, f"/echo?record={q(started)}")
    try:
        answers = []
        last_trickle = time.monotonic()
        for i in range(12):  # 12 probes, half a second apart: about 6 s
            status, body = probe(server)
            answers.append(status)
            assert (status, body) == (200, b"quick"), (
                f"probe {i} of {len(answers)} (earlier: {answers[:-1]}) while {SLOW_CLIENTS} "
                f"uploads trickle: got {status} {body!r}\n{server.dump()}")
            time.sleep(0.5)
            if time.monotonic() - last_trickle >= 1.0:
                trickle(socks)
                last_trickle = time.monotonic()
        assert read_lines(started) == [], "the app ran for an upload whose body had not arrived"
        # And the slow clients are all still there, unanswered (the minimum body rate's grace,
        # 10 s by default, is not over yet).
        answered = sum(1 for s in socks if not still_waiting(s))
        assert answered == 0, f"{answered} of the slow uploads were answered or closed"
    finally:
        close_all(socks)
    status, body = probe(server, timeout=10)
    assert (status, body) == (200, b"quick"), server.dump()
    assert read_lines(started) == []


@KINDS
def test_without_buffering_slow_uploads_do_hold_the_app(start_app, tmp_path, kind):
    """The contrast: with --request-buffer-size 0 the same slow uploads reach the app at once
    and hold it, so (2 running and 2 waiting WSGI requests, or 5 ASGI ones) a normal request is
    answered 503."""
    server = start_app(APPS[kind], extra=[*SCARCE[kind], "--request-buffer-size", "0"])
    started = tmp_path / "started"
    running = 2 if kind == "wsgi" else 5
    socks = open_slow_uploads(server, 4 if kind == "wsgi" else 5, f"/echo?record={q(started)}")
    try:
        assert wait_for_lines(started, running, timeout=10) == ["started"] * running, \
            server.dump()
        time.sleep(0.3)  # the WSGI requests past the threads reach the backlog (ordering only)
        status, body = probe(server, timeout=10)
        assert status == 503, (status, body)
    finally:
        close_all(socks)


def two_part_upload(server, target: str, marks, *, app_runs_early: bool) -> None:
    """POST a 1000-byte body in two halves half a second apart; between them, the record file
    shows whether the app has started (`app_runs_early`). The app then echoes the whole body."""
    body = random.Random(7).randbytes(1000)
    with Conn(server.address, timeout=10) as c:
        c.send(post_head(target, len(body)) + body[:500])
        if app_runs_early:
            assert wait_for_lines(marks, 1, timeout=10) == ["started"], (
                "the app did not start while half the body was still to come\n" + server.dump())
        else:
            time.sleep(0.5)
            assert read_lines(marks) == [], "the app ran before its body had arrived"
        c.send(body[500:])
        r = c.read_response()
    assert r.status == 200, (r.status, r.body[:200])
    assert r.body == body
    assert read_lines(marks) == ["started", "body 1000"]


@KINDS
def test_a_small_body_reaches_the_app_whole(start_app, tmp_path, kind):
    """By default, an app whose 1000-byte body comes in two halves does not start until the
    second half is in; then it gets the whole body at once."""
    server = start_app(APPS[kind])
    marks = tmp_path / "marks"
    two_part_upload(server, f"/echo?record={q(marks)}", marks, app_runs_early=False)


@KINDS
@pytest.mark.parametrize("flags", [("--request-buffer-size", "0"),
                                   ("--request-buffer-total", "1")],
                         ids=["buffer-size-0", "budget-spent"])
def test_without_buffering_the_app_starts_before_the_body_ends(start_app, tmp_path, kind,
                                                               flags):
    """With buffering off (--request-buffer-size 0), or its budget too small for the body
    (--request-buffer-total 1), the app starts while the body is still coming and reads it as
    it arrives, as before."""
    server = start_app(APPS[kind], extra=flags)
    marks = tmp_path / "marks"
    two_part_upload(server, f"/echo?record={q(marks)}", marks, app_runs_early=True)


@KINDS
def test_a_chunked_body_longer_than_the_buffer_streams_whole_and_correct(start_app, tmp_path,
                                                                        kind):
    """With --request-buffer-size 1024, a 10 KB chunked body: the app starts once the buffer
    is full, before the body ends, and gets every byte (same length and SHA-256)."""
    server = start_app(APPS[kind], extra=["--request-buffer-size", "1024"])
    marks = tmp_path / "marks"
    body = random.Random(10).randbytes(10_000)
    pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    with Conn(server.address, timeout=10) as c:
        c.send(chunked_head(f"/hash?record={q(marks)}") + b"".join(map(chunk, pieces[:5])))
        assert wait_for_lines(marks, 1, timeout=10) == ["started"], (
            "the app did not start while a body longer than the buffer was still coming\n"
            + server.dump())
        c.send(b"".join(map(chunk, pieces[5:])) + b"0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, (r.status, r.body[:200])
    assert json.loads(r.body) == {"length": 10_000, "sha256": hashlib.sha256(body).hexdigest()}
    assert read_lines(marks) == ["started", "body 10000"]


@KINDS
def test_a_small_chunked_body_is_buffered_whole(start_app, tmp_path, kind):
    """A 300-byte chunked body in three chunks, the last two half a second after the first:
    the app does not start before the last chunk, then gets every byte."""
    server = start_app(APPS[kind])
    marks = tmp_path / "marks"
    body = random.Random(3).randbytes(300)
    with Conn(server.address, timeout=10) as c:
        c.send(chunked_head(f"/hash?record={q(marks)}") + chunk(body[:100]))
        time.sleep(0.5)
        assert read_lines(marks) == [], "the app ran before the chunked body ended"
        c.send(chunk(body[100:200]) + chunk(body[200:]) + b"0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, (r.status, r.body[:200])
    assert json.loads(r.body) == {"length": 300, "sha256": hashlib.sha256(body).hexdigest()}
    assert read_lines(marks) == ["started", "body 300"]


@KINDS
def test_expect_100_continue_is_answered_by_the_server(start_app, tmp_path, kind):
    """A 100-byte body with `Expect: 100-continue`: `100 Continue` comes at once, from the
    server (the app has not run); then the body goes, and the app answers 200 with it."""
    server = start_app(APPS[kind])
    marks = tmp_path / "marks"
    body = bytes(range(100))
    with Conn(server.address, timeout=10) as c:
        c.send(post_head(f"/echo?record={q(marks)}", len(body), ("Expect", "100-continue")))
        interim = c.read_head()
        assert interim.status == 100, (interim.status, interim.reason, interim.headers)
        assert read_lines(marks) == [], "the app ran before the body was sent"
        c.send(body)
        r = c.read_response()
    assert r.status == 200, (r.status, r.body[:200])
    assert r.body == body
    assert read_lines(marks) == ["started", "body 100"]


def test_http2_slow_upload_does_not_hold_the_only_thread(start_app, tmp_path, h2client):
    """Over HTTP/2 (h2c), with one WSGI thread: a stream uploading its 1000-byte body slowly
    does not keep a second stream on the same connection from being answered 200 (had the
    upload taken the thread, the second would wait for ever); once its body is in, the first
    gets its echo. One waiting place, so that a request arriving while the thread is still
    finishing the one before is queued rather than refused."""
    server = start_app(APPS["wsgi"], extra=["--threads", "1", "--backlog", "1"])
    marks = tmp_path / "marks"
    body = random.Random(2).randbytes(1000)
    client = h2client(server.address)
    slow = client.request("POST", f"/echo?record={q(marks)}", body=body[:10], end=False,
                          headers=[("content-length", str(len(body)))])
    quick = client.get("/quick")
    assert quick["status"] == 200 and bytes(quick["data"]) == b"quick", quick
    assert read_lines(marks) == [], "the app ran before the slow stream's body had arrived"
    # Another client on its own connection is served too.
    status, answer = probe(server, timeout=10)
    assert (status, answer) == (200, b"quick")
    client.send_body(slow, body[10:])
    r = client.response(slow)
    assert r["status"] == 200, r
    assert bytes(r["data"]) == body
    assert read_lines(marks) == ["started", "body 1000"]
