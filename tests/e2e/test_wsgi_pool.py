"""The WSGI thread pool: --threads bounds concurrency, --backlog bounds waiting requests (then
503 with Retry-After), and request bodies stream through to the app without buffering.

The app is `apps.pool:app`; it counts how many requests run at once, so no assertion here
depends on wall-clock time.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wire import Conn, request
from wsgi_util import get, get_json, q, wait_for_lines

APP = "apps.pool:app"
MiB = 1 << 20


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


# --- streamed uploads ------------------------------------------------------------------------

def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _RssSampler:
    """Samples a process's VmRSS every 20 ms on a thread; `peak` is the highest seen."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = _rss_kib(pid)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.02):
            try:
                self.peak = max(self.peak, _rss_kib(self.pid))
            except (OSError, AssertionError):
                return

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(5)
        self.peak = max(self.peak, _rss_kib(self.pid))
        return self.peak


def _blocks(total: int, seed: int):
    """`total` bytes as 1 MiB blocks of random data (generated on the fly, never held whole)."""
    rng = random.Random(seed)
    left = total
    while left:
        n = min(MiB, left)
        yield rng.randbytes(n)
        left -= n


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_100mib_upload_streams_with_bounded_memory(start_app, framing):
    """A 100 MiB upload (Content-Length or chunked) reaches the app whole (same SHA-256) while the
    server's resident memory grows by less than 16 MiB (sampled during the upload)."""
    server = start_app(APP, extra=["--threads", "2"])
    # warm up: the first request imports and allocates what every later one reuses
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("POST", "/hash", body=random.Random(0).randbytes(4 * MiB)))
        assert r.status == 200
    time.sleep(0.2)
    before = _rss_kib(server.proc.pid)
    sampler = _RssSampler(server.proc.pid)

    total = 100 * MiB
    digest = hashlib.sha256()
    errors: list = []
    with Conn(server.address, timeout=60) as c:
        def upload():
            try:
                if framing == "chunked":
                    c.send(request("POST", "/hash", headers=[("Transfer-Encoding", "chunked")]))
                    for block in _blocks(total, 1):
                        digest.update(block)
                        c.send(b"%x\r\n" % len(block) + block + b"\r\n")
                    c.send(b"0\r\n\r\n")
                else:
                    c.send(request("POST", "/hash", headers=[("Content-Length", str(total))]))
                    for block in _blocks(total, 1):
                        digest.update(block)
                        c.send(block)
            except OSError as e:
                errors.append(e)

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        r = c.read_response()
        sender.join(60)
    peak = sampler.finish()
    after = _rss_kib(server.proc.pid)

    print(f"VmRSS before {before} KiB, peak {peak} KiB, after {after} KiB")
    assert not errors, errors
    assert r.status == 200, (r.status, r.body[:300])
    assert json.loads(r.body) == {"length": total, "sha256": digest.hexdigest()}
    growth_mib = (peak - before) / 1024
    assert growth_mib < 16, (
        f"VmRSS grew by {growth_mib:.1f} MiB during a 100 MiB upload "
        f"(before {before} KiB, peak {peak} KiB, after {after} KiB)")
    assert (after - before) / 1024 < 16
