"""A normal client beside an attack: the hardening tests (docs/reliability.md) hold that while
slow, departed or stuck clients do their worst, a normal request on a fresh connection is
answered 200 within 1 s, every second.

`probe()` is one such request; `Prober` sends one every second from a thread of its own while
the test attacks, and `check()` says whether every one of them was answered in time.
"""

from __future__ import annotations

import threading
import time

from wire import Conn, request


def probe(server, target: str = "/quick", timeout: float = 1.0):
    """GET `target` on a fresh connection with a `timeout` s socket timeout: (status, body), or
    (None, what went wrong)."""
    try:
        with Conn(server.address, timeout=timeout) as c:
            r = c.roundtrip(request("GET", target))
            return r.status, r.body
    except (OSError, EOFError) as e:  # socket.timeout is an OSError
        return None, repr(e)


class Prober:
    """`with Prober(server, "/quick", b"quick") as p: ...attack...; p.check()`: one probe a
    second (1 s socket timeout) for as long as the block runs, at least `least` of them."""

    def __init__(self, server, target: str = "/quick", body: bytes = b"quick", *,
                 every: float = 1.0, timeout: float = 1.0, least: int = 3):
        self.server, self.target, self.body = server, target, body
        self.every, self.timeout, self.least = every, timeout, least
        self.answers: list[tuple[float, object, object]] = []  # (s since start, status, body)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def __enter__(self) -> "Prober":
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        # The last probe a block asked for is sent even when the block ends sooner.
        while len(self.answers) < self.least and not self._stop.is_set() and exc[0] is None:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            status, body = probe(self.server, self.target, self.timeout)
            self.answers.append((round(time.monotonic() - self._start, 1), status, body))
            next_at += self.every
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def failures(self) -> list[tuple[float, object, object]]:
        return [a for a in self.answers if (a[1], a[2]) != (200, self.body)]

    def check(self) -> None:
        """Asserts that there were probes, at least `least`, and that each got its answer."""
        failed = self.failures()
        assert len(self.answers) >= self.least and not failed, (
            f"{len(failed)} of {len(self.answers)} probes of {self.target} (one a second, "
            f"{self.timeout} s each) were not answered {self.body!r} in time: {failed[:10]}\n"
            + self.server.dump())
