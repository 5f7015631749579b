"""100 MiB uploads stream through to both kinds of app: a WSGI app reading wsgi.input on the
thread pool (`apps.pool:app`) and an ASGI app reading http.request events on the event loop
(`apps.asgi_scope:app`). Each upload reaches the app whole (same SHA-256, hashed in the app)
while the server's resident memory, sampled from /proc/PID/status during the upload, stays far
below the upload's size.

scripts/test.sh deselects these under ASan with `-k "not 100mib"`; keep "100mib" in their names.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Optional

import pytest

from wire import Conn, request

MiB = 1 << 20


@dataclass(frozen=True)
class AppKind:
    app: str
    extra: tuple[str, ...]
    # A server that held the whole body would grow by about 100 MiB; one that streams holds a
    # few socket buffers (and, for ASGI, the events in flight). The bounds sit well under that.
    max_growth_mib: int  # peak VmRSS during the upload over VmRSS before it
    max_after_mib: Optional[int]  # VmRSS after the upload over VmRSS before it (None: unchecked)


KINDS = {
    "wsgi": AppKind("apps.pool:app", ("--threads", "2"), max_growth_mib=16, max_after_mib=16),
    "asgi": AppKind("apps.asgi_scope:app", (), max_growth_mib=48, max_after_mib=None),
}


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
@pytest.mark.parametrize("kind", list(KINDS))
def test_100mib_upload_streams_with_bounded_memory(start_app, kind, framing):
    """A 100 MiB upload (Content-Length or chunked) reaches the app whole (same SHA-256; an ASGI
    app gets it in many http.request events) while the server's resident memory grows by less
    than the kind's bound during the upload (and, for WSGI, after it)."""
    spec = KINDS[kind]
    server = start_app(spec.app, extra=list(spec.extra))
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

    print(f"{kind}: VmRSS before {before} KiB, peak {peak} KiB, after {after} KiB")
    assert not errors, errors
    assert r.status == 200, (r.status, r.body[:300])
    got = json.loads(r.body)
    if kind == "asgi":
        assert got.pop("events") > 10, got  # streamed in many events, not handed over whole
    assert got == {"length": total, "sha256": digest.hexdigest()}
    growth_mib = (peak - before) / 1024
    assert growth_mib < spec.max_growth_mib, (
        f"VmRSS grew by {growth_mib:.1f} MiB during a 100 MiB upload "
        f"(before {before} KiB, peak {peak} KiB, after {after} KiB)")
    if spec.max_after_mib is not None:
        assert (after - before) / 1024 < spec.max_after_mib
