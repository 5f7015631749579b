"""One asyncio loop runs many ASGI requests at once: 100 concurrent requests that each await
asyncio.sleep(0.5) all succeed, and the app sees them overlap (it counts requests in flight),
so nothing here depends on wall-clock time."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from wire import Conn, request
from wsgi_util import get_json

N = 100


def test_100_concurrent_sleeping_requests_overlap(start_app):
    server = start_app("apps.asgi_scope:app")
    barrier = threading.Barrier(N)

    def one(_):
        with Conn(server.address, timeout=60) as c:
            barrier.wait(20)
            r = c.roundtrip(request("GET", "/sleep?ms=500"))
            return r.status, json.loads(r.body) if r.status == 200 else r.body

    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(one, range(N)))
    assert [s for s, _ in results] == [200] * N, [r for r in results if r[0] != 200][:5]
    stats = get_json(server, "/stats")
    assert stats["done"] == N
    assert stats["in_flight"] == 0
    assert stats["max_in_flight"] >= N // 2, stats


def test_keep_alive_connections_in_parallel(start_app):
    """16 connections each send 20 requests one after another; every answer is right."""
    server = start_app("apps.asgi_scope:app")

    def one(i):
        with Conn(server.address, timeout=30) as c:
            for j in range(20):
                r = c.roundtrip(request("POST", "/echo", body=b"%d-%d" % (i, j)))
                assert r.status == 200
                assert json.loads(r.body)["body"] == f"{i}-{j}"
        return True

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(one, range(16)))


def test_limit_concurrency_answers_503_with_retry_after(start_app):
    """With --limit-concurrency 4, 10 requests that each hold the app for a while: 4 are
    served, the other 6 get 503 with Retry-After at once, and the server serves on."""
    server = start_app("apps.asgi_scope:app", extra=["--limit-concurrency", "4"])
    barrier = threading.Barrier(10)

    def one(_):
        with Conn(server.address, timeout=60) as c:
            barrier.wait(20)
            r = c.roundtrip(request("GET", "/sleep?ms=1500"))
            return r.status, r.header("retry-after"), r.body

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(10)))
    statuses = sorted(s for s, _, _ in results)
    assert statuses.count(200) >= 4 and statuses.count(503) >= 1, results
    assert statuses.count(200) + statuses.count(503) == 10, results
    for status, retry_after, body in results:
        if status == 503:
            assert retry_after == "1"
            assert b"overloaded" in body
    assert get_json(server, "/stats")["max_in_flight"] <= 4
    assert any("--limit-concurrency" in line for line in server.stderr.snapshot())
