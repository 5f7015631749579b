"""Memory is given back after a peak: 300 clients that ask an ASGI app for a 1 MiB body and read
none of it make the server hold their responses; once they are gone and the server is idle, its
resident memory (VmRSS in /proc/PID/status) comes back near where it was before the burst,
instead of staying at the peak.

The app is `apps.hardening:asgi` (/big). The only limits on time are bounded polling.
"""

from __future__ import annotations

import socket
import time

from apps.hardening import big_body
from wire import Conn, request

MiB = 1 << 20
READERS = 300
BIG = f"/big?n={MiB}&piece={MiB}"  # one http.response.body of 1 MiB


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def download(server) -> None:
    with Conn(server.address, timeout=30) as c:
        r = c.roundtrip(request("GET", BIG))
    assert r.status == 200 and r.body == big_body(MiB), (r.status, len(r.body))


def test_rss_comes_back_after_300_slow_readers(start_app):
    """After a warm-up of a few normal requests, 300 clients (small receive buffers) each ask
    for the 1 MiB body and read nothing for about 3 s, then leave; meanwhile a normal client is
    answered 200 within 1 s every half second. Within 15 s of idling, the server's VmRSS is back
    within twice what it was before the burst (plus 10 MiB)."""
    server = start_app("asgi:apps.hardening:asgi", extra=["--no-access-log"])
    pid = server.proc.pid
    for _ in range(5):
        download(server)
        with Conn(server.address, timeout=10) as c:
            assert c.roundtrip(request("GET", "/quick")).status == 200
    time.sleep(1)
    before = rss_kib(pid)

    readers: list[socket.socket] = []
    peak = before
    try:
        for _ in range(READERS):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            readers.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(server.address)
            s.sendall(request("GET", BIG))
        for i in range(6):  # held about 3 s, probed every half second
            time.sleep(0.5)
            peak = max(peak, rss_kib(pid))
            with Conn(server.address, timeout=1.0) as c:
                r = c.roundtrip(request("GET", "/quick"))
            assert (r.status, r.body) == (200, b"quick"), (i, r.status, server.dump())
    finally:
        for s in readers:
            s.close()

    limit = 2 * before + 10 * 1024
    after = []
    for _ in range(15):  # polled once a second, for up to 15 s
        time.sleep(1)
        after.append(rss_kib(pid))
        if after[-1] <= limit:
            break
    figures = (f"VmRSS before the burst {before} KiB, peak during it {peak} KiB, after it "
               f"(once a second) {after} KiB; limit {limit} KiB")
    print(figures)
    assert after[-1] <= limit, figures + "\n" + server.dump()
    download(server)  # and it serves on
