"""Helpers for the WSGI end-to-end tests (test_wsgi_*.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

from wire import Conn, request


def q(value) -> str:
    """Quote a value (a file path) for a query string."""
    return quote(str(value), safe="")


def get(server, target: str, *, headers=(), timeout: float = 10.0, **kw):
    """One request on a fresh connection; returns the wire Response."""
    with Conn(server.address, timeout=timeout) as c:
        return c.roundtrip(request(kw.pop("method", "GET"), target, headers=headers, **kw))


def get_json(server, target: str, **kw):
    r = get(server, target, **kw)
    assert r.status == 200, (r.status, r.body[:500])
    return json.loads(r.body)


def read_lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_for_lines(path: Path, n: int = 1, timeout: float = 5.0) -> list[str]:
    """Poll the record file until it has at least n lines (or timeout); return its lines."""
    deadline = time.monotonic() + timeout
    while True:
        lines = read_lines(path)
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def assert_serves(server, target: str = "/list?n=1", expect: int = 200) -> None:
    """The server still answers a request on a new connection."""
    r = get(server, target)
    assert r.status == expect, (r.status, r.body[:300], server.dump())


def log_has(server, *needles: str, timeout: float = 5.0) -> bool:
    """Wait until one stderr line contains every needle."""
    return bool(server.stderr.wait_for(
        lambda lines: any(all(n in line for n in needles) for line in lines), timeout))
