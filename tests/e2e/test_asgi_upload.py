"""A 100 MiB upload to an ASGI app streams through in many http.request events: it reaches the
app whole (same SHA-256, hashed in the app) while the server's resident memory stays far below
the upload's size. RSS is sampled from /proc/PID/status during the upload, as for WSGI."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time

import pytest

from test_wsgi_pool import _blocks, _rss_kib, _RssSampler
from wire import Conn, request

MiB = 1 << 20
# A server that held the whole body would grow by about 100 MiB; one that streams holds a few
# socket buffers and events. The bound sits well under the upload's size.
MAX_GROWTH_MIB = 48


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_100mib_upload_streams_with_bounded_memory(start_app, framing):
    server = start_app("apps.asgi_scope:app")
    with Conn(server.address, timeout=30) as c:  # warm up: imports and first allocations
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
                    for block in _blocks(total, 2):
                        digest.update(block)
                        c.send(b"%x\r\n" % len(block) + block + b"\r\n")
                    c.send(b"0\r\n\r\n")
                else:
                    c.send(request("POST", "/hash", headers=[("Content-Length", str(total))]))
                    for block in _blocks(total, 2):
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
    got = json.loads(r.body)
    assert (got["length"], got["sha256"]) == (total, digest.hexdigest())
    assert got["events"] > 10, got  # streamed in many events, not handed over whole
    growth_mib = (peak - before) / 1024
    assert growth_mib < MAX_GROWTH_MIB, (
        f"VmRSS grew by {growth_mib:.1f} MiB during a 100 MiB upload "
        f"(before {before} KiB, peak {peak} KiB, after {after} KiB)")
