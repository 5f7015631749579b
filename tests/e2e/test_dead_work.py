"""Dead work is dropped, and departures are quiet. A WSGI request whose client leaves while it
waits for a thread is taken out of the backlog: its place is free at once and the app never
runs for it. An ASGI request stuck past --request-timeout is cancelled, and its concurrency
slot is free again even though its client is long gone. Clients that leave mid-upload cost at
most one line each in the server's log (at --log-level info), and never a traceback.

The app is `apps.hardening` (its /record, /hang and /never write to a record file, which is how
the tests see whether, and for whom, the app ran); nothing here asserts on a measured duration
beyond a client's socket timeout and bounded polling.
"""

from __future__ import annotations

import contextlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from probe import Prober, probe
from test_admin_metrics import ADMIN, value, wait_metrics
from wire import Conn, request
from wsgi_util import q, read_lines, wait_for_lines

APPS = {"wsgi": "wsgi:apps.hardening:wsgi", "asgi": "asgi:apps.hardening:asgi"}


@contextlib.contextmanager
def closing_all(conns):
    try:
        yield conns
    finally:
        for c in conns:
            c.close()


def status_of(server, target: str, timeout: float = 10.0):
    """(status, body) of one GET on a fresh connection, or (None, what went wrong)."""
    return probe(server, target, timeout)


def test_wsgi_requests_whose_clients_left_while_queued_never_run(start_app, tmp_path):
    """--threads 2 --backlog 6: two requests hang in the app for 2 s, holding both threads; six
    clients send a request and leave at once while it waits. A seventh request is then queued
    (not 503: the six places were freed) and answered once the hanging work is done, and the
    app never ran for the six who left. /metrics counts them in junction_wsgi_dropped_total.
    Throughout, a probe every second on a new connection gets the health path's 200 within 1 s."""
    server = start_app(APPS["wsgi"], extra=["--threads", "2", "--backlog", "6", "--admin-bind",
                                            "127.0.0.1:0"])
    admin = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    hangs, ran = tmp_path / "hangs", tmp_path / "ran"
    hanging = [Conn(server.address, timeout=20) for _ in range(2)]
    # The app is full by design; the server itself answers its health path every second.
    with Prober(server, "/healthz", b"ok") as prober, closing_all(hanging):
        for c in hanging:
            c.send(request("GET", f"/hang?s=2&record={q(hangs)}"))
        assert wait_for_lines(hangs, 2, timeout=10) == ["hang started"] * 2, server.dump()

        for i in range(6):
            with socket.create_connection(server.address, timeout=5) as gone:
                gone.sendall(request("GET", f"/record?record={q(ran)}&tag=gone-{i}"))
        time.sleep(0.5)  # the server sees them leave (ordering only; nothing is timed)

        # Served once a hanging request is done: a socket timeout of a few seconds.
        status, body = status_of(server, f"/record?record={q(ran)}&tag=stayed", timeout=6)
        assert (status, body) == (200, b"ran stayed"), (status, body, server.dump())
        for c in hanging:
            r = c.read_response()
            assert (r.status, r.body) == (200, b"hung")
    prober.check()
    # The queue is first come, first served: had the six run, they would be before "stayed".
    assert read_lines(ran) == ["ran stayed"], server.dump()
    assert status_of(server, "/quick") == (200, b"quick")
    samples = wait_metrics(admin, lambda s: value(s, "junction_wsgi_dropped_total") == 6)
    assert value(samples, "junction_wsgi_dropped_total") == 6
    assert value(samples, "junction_request_buffer_bytes") == 0


def test_asgi_slots_held_by_stuck_requests_come_back(start_app, tmp_path):
    """--limit-concurrency 3 --request-timeout 2: three requests whose app never answers fill
    every slot, and their clients leave. Within a few seconds (polled every 0.5 s for up to
    10 s) a new request is answered 200: the request timeout cancelled the stuck tasks and
    gave their slots back. Throughout, a probe every second gets the health path's 200 within
    1 s."""
    server = start_app(APPS["asgi"], extra=["--limit-concurrency", "3", "--request-timeout", "2"])
    marks = tmp_path / "marks"
    stuck = [Conn(server.address, timeout=10) for _ in range(3)]
    # Every slot is taken by design; the server itself answers its health path every second.
    with Prober(server, "/healthz", b"ok") as prober:
        with closing_all(stuck):
            for c in stuck:
                c.send(request("GET", f"/never?record={q(marks)}"))
            assert wait_for_lines(marks, 3, timeout=10) == ["never started"] * 3, server.dump()
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, _ = status_of(server, "/quick", timeout=5)
            seen.append(status)
            if status == 200:
                break
            time.sleep(0.5)
    assert seen and seen[-1] == 200, (seen, server.dump())
    prober.check()
    assert wait_for_lines(marks, 6, timeout=5).count("never cancelled") == 3, server.dump()


def leave_mid_upload(address, target: str) -> None:
    """Start a POST of 1000000 bytes, send 100 KB of it, and leave."""
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(request("POST", target, headers=[("Content-Length", "1000000")]))
        s.sendall(b"u" * 100_000)


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_clients_leaving_mid_upload_are_quiet(start_app, tmp_path, kind):
    """40 clients start a 1000000-byte upload (more than the request buffer, so it streams to
    the app, which reads it), send 100 KB and leave: the server's log gains at most one line
    for each, with no traceback, and the server serves on: a probe of the app every second gets
    its 200 within 1 s throughout."""
    server = start_app(APPS[kind])
    marks = tmp_path / "marks"
    assert status_of(server, "/quick") == (200, b"quick")
    before = len(server.stderr.snapshot())
    target = f"/upload?record={q(marks)}"
    with Prober(server) as prober:
        with ThreadPoolExecutor(40) as pool:
            list(pool.map(lambda _: leave_mid_upload(server.address, target), range(40)))
        time.sleep(1)  # the server notices the departures (ordering only)
    prober.check()
    assert status_of(server, "/quick") == (200, b"quick")
    # The app was reading bodies when their clients left (a WSGI request still waiting for a
    # thread when its client left is dropped, so not necessarily all 40).
    assert "upload started" in read_lines(marks)
    time.sleep(0.5)
    new = server.stderr.snapshot()[before:]
    assert len(new) <= 40, f"{len(new)} log lines for 40 departures:\n" + "\n".join(new[:60])
    assert not any("Traceback" in line for line in new), "\n".join(new[:60])
