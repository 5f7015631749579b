"""--request-timeout S: a request whose response has not started within S gets 504 and the
server goes on. ASGI: the app's task is cancelled. WSGI: the thread cannot be stopped, so it is
counted overdue until the app returns, and a worker whose every thread is overdue recycles."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from test_workers import APPS, pid_of_answer, ready


def marks(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def in_background(url: str, results: list) -> threading.Thread:
    def get() -> None:
        try:
            response = httpx.get(url, headers={"Connection": "close"}, timeout=20)
            results.append((response.status_code, response.text))
        except httpx.HTTPError as e:
            results.append((0, repr(e)))

    thread = threading.Thread(target=get)
    thread.start()
    return thread


@pytest.fixture
def mark_file(tmp_path) -> Path:
    return tmp_path / "marks"


def start(start_server, mark_file, app: str, *extra: str):
    server = start_server("--request-timeout", "1", *extra, *APPS, app,
                          env={"TIMEOUTS_MARKS": str(mark_file)})
    ready(server, 1)
    return server


def test_a_wsgi_request_past_the_limit_gets_504_and_its_thread_is_overdue(start_server,
                                                                          mark_file):
    server = start(start_server, mark_file, "timeouts:wsgi", "--threads", "2")
    response = httpx.get(server.base_url + "/slow?s=3", timeout=20)
    assert response.status_code == 504, response.text
    assert "504 Gateway Timeout" in response.text
    # The log names the request by the ID the client was given, too.
    request_id = response.headers["x-request-id"]
    # The server goes on: the other thread serves, while the app still runs in the first.
    assert pid_of_answer(server) > 0
    assert "wsgi returned" not in marks(mark_file)
    assert server.stderr.wait_for(lambda lines: any(
        f"GET /slow?s=3 [{request_id}]: timeouts:wsgi has not started its response after 1s "
        "(--request-timeout): answered 504; its WSGI thread is overdue until the app returns (1 of 2 threads overdue)"
        in x for x in lines), 10), server.dump()
    # The app returns in the end: its answer goes nowhere, and the thread is back.
    assert server.stderr.wait_for(lambda lines: [x for x in lines if re.search(
        rf"GET /slow\?s=3 \[{request_id}\]: timeouts:wsgi returned after [\d.]+s, past its 504 "
        r"\(--request-timeout\): its WSGI thread is back \(0 of 2 threads overdue\)", x)],
        10), server.dump()
    assert marks(mark_file) == ["wsgi returned"]
    assert " 504 " in "\n".join(server.stdout.snapshot())  # the access log shows the 504
    assert not any("recycling" in x for x in server.stderr.snapshot())


def test_an_asgi_request_past_the_limit_gets_504_and_its_task_is_cancelled(start_server,
                                                                           mark_file):
    server = start(start_server, mark_file, "timeouts:asgi")
    response = httpx.get(server.base_url + "/slow?s=30", timeout=20)
    assert response.status_code == 504, response.text
    assert wait_until(lambda: "asgi cancelled" in marks(mark_file), 5), server.dump()
    assert server.stderr.wait_for(lambda lines: any(
        f"GET /slow?s=30 [{response.headers['x-request-id']}]: timeouts:asgi has not started its response after 1s "
        "(--request-timeout): answered 504, cancelling its task" in x for x in lines), 5)
    assert server.stderr.wait_for(lambda lines: any(
        "task cancelled after its 504 (--request-timeout)" in x for x in lines), 5)
    # The server goes on, and a request that answers in time is untouched.
    assert httpx.get(server.base_url + "/", timeout=10).status_code == 200
    assert "asgi returned" not in marks(mark_file)
    assert not any("Traceback" in x for x in server.stderr.snapshot()), server.dump()


def test_a_fastapi_endpoint_past_the_limit_is_cancelled(start_server, mark_file):
    server = start(start_server, mark_file, "timeouts:fastapi_app")
    response = httpx.get(server.base_url + "/slow?s=30", timeout=20)
    assert response.status_code == 504
    assert wait_until(lambda: "fastapi cancelled" in marks(mark_file), 5), server.dump()
    fast = httpx.get(server.base_url + "/slow?s=0.1", timeout=10)
    assert fast.status_code == 200 and fast.json() == {"slow": "done"}


def test_a_blocked_event_loop_still_gets_its_clients_504s(start_server, mark_file):
    """The timer runs on the I/O thread: a coroutine that blocks the loop with time.sleep does
    not keep the clients waiting, and a request that waited for the loop is never run."""
    server = start(start_server, mark_file, "timeouts:asgi")
    blocked: list = []
    blocker = in_background(server.base_url + "/block?s=3", blocked)
    assert wait_until(lambda: False, 0.3) is False  # let /block reach the loop first
    waiting = httpx.get(server.base_url + "/queued", timeout=20)
    assert waiting.status_code == 504
    blocker.join(20)
    assert blocked and blocked[0][0] == 504, blocked
    assert wait_until(lambda: "asgi block returned" in marks(mark_file), 10), server.dump()
    assert server.stderr.wait_for(lambda lines: any(
        f"GET /queued [{waiting.headers['x-request-id']}]: timeouts:asgi waited 1s for the ASGI "
        "event loop (--request-timeout): answered 504, the app did not run" in x for x in lines), 10), server.dump()
    assert "asgi ran /queued" not in marks(mark_file)
    assert httpx.get(server.base_url + "/", timeout=10).status_code == 200


def test_http2_streams_time_out_alone(start_server, mark_file, h2client):
    server = start(start_server, mark_file, "timeouts:asgi")
    client = h2client(server.address)
    slow = client.request("GET", "/slow?s=30")
    fast = client.request("GET", "/")
    assert client.response(fast, timeout=10)["status"] == 200
    r = client.response(slow, timeout=10)
    assert r["status"] == 504 and r["reset"] is None
    assert b"504 Gateway Timeout" in bytes(r["data"])
    # The connection goes on.
    assert client.get("/")["status"] == 200


def test_a_worker_whose_every_wsgi_thread_is_overdue_recycles(start_server, mark_file):
    server = start(start_server, mark_file, "timeouts:wsgi", "--threads", "2",
                   "--graceful-timeout", "8")
    first = pid_of_answer(server)
    results: list = []
    stuck = [in_background(server.base_url + "/slow?s=4", results) for _ in range(2)]
    for thread in stuck:
        thread.join(20)
    assert sorted(code for code, _ in results) == [504, 504], results
    assert server.stderr.wait_for(lambda lines: any(
        "every WSGI thread (2) is overdue (--request-timeout): recycling" in x for x in lines),
        10), server.dump()
    # A new worker takes over; the stuck requests get the grace period to finish.
    assert wait_until(lambda: pid_of_answer(server) != first, 15), server.dump()
    assert wait_until(lambda: marks(mark_file).count("wsgi returned") == 2, 10), server.dump()


def test_a_slow_upload_is_not_the_apps_time(start_server, mark_file):
    """The client pauses longer than the limit while the app reads its body: the limit counts
    the app's time only (a stalled body is --timeout-request-body's, 408)."""
    server = start(start_server, mark_file, "timeouts:wsgi")
    with socket.create_connection(server.address, timeout=10) as conn:
        conn.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(1.6)
        conn.sendall(b"world")
        answer = b""
        while b"received" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(b"received 10"), answer


def test_requests_in_time_are_untouched(start_server, mark_file):
    server = start(start_server, mark_file, "timeouts:wsgi", "--threads", "2")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for _ in range(100):
            assert client.get("/").status_code == 200
        assert client.get("/slow?s=0.2").text == "slow done"
    assert not any("--request-timeout" in x for x in server.stderr.snapshot()), server.dump()


@pytest.mark.parametrize("value,message", [
    ("-1", "must be a positive number of seconds, or 0 for off"),
    ("soon", "not a number of seconds: soon"),
])
def test_a_bad_request_timeout_is_refused(run_junction, value, message):
    done = run_junction("--request-timeout", value, "app:app")
    assert done.returncode == 2
    assert message in done.stderr
    assert "--request-timeout" in done.stderr


def test_request_timeout_is_in_the_help(run_junction):
    done = run_junction("--help")
    assert "--request-timeout" in done.stdout
