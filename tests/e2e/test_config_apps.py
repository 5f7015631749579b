"""[apps.NAME] settings of their own: an app with `threads`/`backlog` runs on a WSGI pool of its
own and one with `limit_concurrency` has its own ASGI budget, so a stuck app answers 503 while
the others keep serving; `request_timeout` per app and per route (the route's wins); `lifespan`
per app, and one lifespan for an app that several routes name."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx

from conftest import E2E_DIR

ADMIN = re.compile(r"Admin listener on (\S+)")


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "junction.toml"
    path.write_text(f'pythonpath = ["{E2E_DIR}"]\n' + text)
    return path


class Held:
    """A request to .../hold that waits until release() (or 20 s), sent from a thread."""

    def __init__(self, base_url: str, path: str, release: Path):
        self.release_file = release
        self.result: dict = {}
        self.thread = threading.Thread(
            target=self._run, args=(f"{base_url}{path}?release={release}",), daemon=True)
        self.thread.start()

    def _run(self, url: str):
        try:
            self.result["response"] = httpx.get(url, timeout=30)
        except httpx.HTTPError as error:
            self.result["error"] = error

    def release(self) -> httpx.Response:
        self.release_file.write_text("go")
        self.thread.join(25)
        assert "response" in self.result, self.result
        return self.result["response"]


def wait_for_status(client: httpx.Client, path: str, status: int, seconds: float = 10):
    """Polls `path` until it answers `status` (the held request has reached its app)."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.get(path)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


POOLS = """
threads = 2

[apps.slow]
target = "wsgi:apps.per_app:wsgi_app"
threads = 1
backlog = 0

[apps.fast]
target = "wsgi:apps.per_app:wsgi_app"

[apps.api]
target = "asgi:apps.per_app:asgi_app"
limit_concurrency = 1

[apps.other]
target = "asgi:apps.per_app:quiet_app"

[[routes]]
prefix = "/slow"
app = "slow"

[[routes]]
prefix = "/"
app = "fast"

[[routes]]
prefix = "/api"
app = "api"

[[routes]]
prefix = "/other"
app = "other"
"""


def test_an_app_with_its_own_pool_or_budget_is_full_alone(start_server, tmp_path):
    server = start_server("--config", str(write(tmp_path, POOLS)), "--admin-bind", "127.0.0.1:0")
    admin = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    assert admin, server.dump()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        # WSGI: the slow app's one thread is held, and it has no backlog: 503 for it alone.
        held = Held(server.base_url, "/slow/hold", tmp_path / "release-wsgi")
        refused = wait_for_status(client, "/slow/x", 503)
        assert refused.status_code == 503, refused.text
        assert "Retry-After" in refused.headers
        assert client.get("/x").text == "ok"  # the shared pool serves on
        assert client.get("/other/x").text == "ok"
        assert held.release().text == "released"
        assert client.get("/slow/x").text == "ok"

        # ASGI: one request at a time for api; the other ASGI app is not counted against it.
        held = Held(server.base_url, "/api/hold", tmp_path / "release-asgi")
        refused = wait_for_status(client, "/api/x", 503)
        assert refused.status_code == 503, refused.text
        assert client.get("/other/x").text == "ok"
        assert client.get("/x").text == "ok"
        assert held.release().text == "released"
        assert client.get("/api/x").text == "ok"

    lines = server.stderr.snapshot()
    assert any("slow: a WSGI pool of its own, 1 thread(s) and a backlog of 0" in l
               for l in lines), server.dump()
    assert any("api: 1 ASGI requests at once of its own" in l for l in lines), server.dump()
    assert any("answering 503 (see threads and backlog in [apps.slow])" in l
               for l in lines), server.dump()
    assert any("answering 503 (see limit_concurrency in [apps.api])" in l
               for l in lines), server.dump()
    # The gauges count every pool and budget: 2 + 1 threads, 1000 + 1 ASGI slots.
    metrics = httpx.get(f"{admin}/metrics", timeout=10).text
    assert "\njunction_wsgi_threads 3\n" in metrics, metrics
    assert "\njunction_asgi_concurrency_limit 1001\n" in metrics, metrics


TIMEOUTS = """
[apps.shop]
target = "wsgi:apps.per_app:wsgi_app"
request_timeout = 0.3

[apps.api]
target = "asgi:apps.per_app:asgi_app"
request_timeout = 0.3

[[routes]]
prefix = "/"
app = "shop"

[[routes]]
prefix = "/reports"
app = "shop"
request_timeout = 10

[[routes]]
prefix = "/api"
app = "api"

[[routes]]
prefix = "/api/reports"
app = "api"
request_timeout = 0
"""


def test_request_timeout_per_app_and_per_route(start_server, tmp_path):
    server = start_server("--config", str(write(tmp_path, TIMEOUTS)))
    for http2 in (False, True):
        with httpx.Client(base_url=server.base_url, http1=not http2, http2=http2,
                          timeout=15) as client:
            assert client.get("/sleep?s=1").status_code == 504  # the app's 0.3 s
            assert client.get("/api/sleep?s=1").status_code == 504
            slow_report = client.get("/reports/sleep?s=1")  # the route's 10 s
            assert (slow_report.status_code, slow_report.text) == (200, "slept")
            slow_api = client.get("/api/reports/sleep?s=1")  # the route's 0: no limit
            assert (slow_api.status_code, slow_api.text) == (200, "slept")
            assert client.get("/sleep?s=0").text == "slept"
    assert server.stderr.wait_for(lambda lines: any(
        "has not started its response after 0.3s" in l for l in lines), 5), server.dump()


LIFESPANS = """
[apps.api]
target = "asgi:apps.per_app:asgi_app"

[apps.quiet]
target = "asgi:apps.per_app:quiet_app"
lifespan = "off"

[[routes]]
prefix = "/api"
app = "api"

[[routes]]
prefix = "/v2"
app = "api"
mount = true

[[routes]]
prefix = "/quiet"
app = "quiet"
"""


def test_lifespan_per_app_and_once_for_an_app_two_routes_name(start_server, tmp_path):
    server = start_server("--config", str(write(tmp_path, LIFESPANS)))
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        # Loaded at two mount points: one startup, and both see its state.
        assert client.get("/api/state").json() == {"startups": 1, "state": {"started": 1}}
        assert client.get("/v2/state").json() == {"startups": 1, "state": {"started": 1}}
        assert client.get("/quiet/state").json() == {"startups": 0, "state": {}}
    lines = server.stderr.snapshot()
    assert sum("ASGI lifespan startup complete" in l for l in lines) == 1, server.dump()
