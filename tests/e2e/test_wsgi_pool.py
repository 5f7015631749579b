"""The WSGI thread pool: --threads bounds concurrency, and --backlog bounds waiting requests (then
503 with Retry-After). That request bodies stream through to the app without buffering is
test_uploads.py's 100 MiB upload, for WSGI and ASGI apps alike.

The app is `apps.pool:app`; it counts how many requests run at once, so no assertion here
depends on wall-clock time.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from wire import Conn, request
from wsgi_util import get, get_json, q, wait_for_lines

APP = "apps.pool:app"


def test_threads_bound_concurrency(start_app):
    """With --threads 4, 16 concurrent requests that each sleep 300 ms all succeed, and at most
    (and at some point exactly) 4 run at once in the app."""
    server = start_app(APP, extra=["--threads", "4"])
    barrier = threading.Barrier(16)

    def one(_):
        with Conn(server.address, timeout=30) as c:
            barrier.wait(10)
            r = c.roundtrip(request("GET", "/sleep?ms=300"))
            return r.status, json.loads(r.body) if r.status == 200 else r.body

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    assert [s for s, _ in results] == [200] * 16, results
    assert max(b["running_at_peak"] for _, b in results) <= 4, results
    stats = get_json(server, "/stats")
    assert stats["done"] == 16
    assert stats["max_running"] == 4, stats
    assert stats["running"] == 0
    assert stats["threads"] <= 4, stats


def test_backlog_full_gets_503_with_retry_after(start_app, tmp_path):
    """With --threads 1 --backlog 1: one request runs (held in the app), one waits, the third is
    answered at once with 503 and Retry-After; then the first two complete normally."""
    server = start_app(APP, extra=["--threads", "1", "--backlog", "1"])
    started, release = tmp_path / "started", tmp_path / "release"
    held = Conn(server.address, timeout=30)
    queued = Conn(server.address, timeout=30)
    try:
        held.send(request("GET", f"/hold?started={q(started)}&release={q(release)}"))
        assert wait_for_lines(started, timeout=10) == ["started"], "the held request never started"
        queued.send(request("GET", "/quick"))
        time.sleep(0.5)  # let the server queue it (ordering only; nothing is timed)

        with Conn(server.address, timeout=5) as third:
            r = third.roundtrip(request("GET", "/quick"))
        assert r.status == 503, (r.status, r.body)
        assert r.header("retry-after") == "1"

        release.write_text("go")
        r1 = held.read_response()
        assert r1.status == 200 and json.loads(r1.body) == {"held": True}
        r2 = queued.read_response()
        assert (r2.status, r2.body) == (200, b"quick")
    finally:
        release.write_text("go")
        held.close()
        queued.close()
    r = get(server, "/quick")
    assert (r.status, r.body) == (200, b"quick")

