"""SIGHUP re-reads the --config file (with workers): the new workers serve its routes and
migration settings, the old ones drain, and not a request fails while clients keep asking; an
invalid file is one log line, and the routes stay as they were."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from conftest import E2E_DIR

BASE = f"""
pythonpath = ["{E2E_DIR}"]
workers = 2

[apps.wsgi_legacy]
target = "wsgi:apps.migration_pair:wsgi_legacy"
[apps.asgi_new]
target = "asgi:apps.migration_pair:asgi_new"

[[routes]]
app = "wsgi_legacy"
"""


class Clients:
    """Requests to /orders/N from two threads until stopped: every status and every failure."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.stop = threading.Event()
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(2)]
        for thread in self.threads:
            thread.start()

    def run(self):
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            n = 0
            while not self.stop.is_set() and time.monotonic() < deadline:
                n += 1
                try:
                    r = client.get(f"/orders/{n}")
                    if r.status_code != 200:
                        self.failures.append(f"{r.status_code} {r.text[:80]}")
                    else:
                        self.answers.append(r.json()["app"])
                except httpx.HTTPError as e:
                    self.failures.append(repr(e))

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


def reloaded(server, count: int) -> bool:
    return bool(server.stderr.wait_for(
        lambda lines: sum("new worker(s) ready" in l for l in lines) >= count, 30))


def test_sighup_changes_the_routes_under_load_without_a_failed_request(start_server, tmp_path):
    path = tmp_path / "junction.toml"
    path.write_text(BASE)
    server = start_server("--config", str(path))
    clients = Clients(server.base_url)
    try:
        time.sleep(0.5)
        assert "wsgi_legacy" in clients.answers
        # /orders moves to the new app, which falls through to the old one for /todo.
        path.write_text(BASE + """
[[routes]]
prefix = "/orders"
app = "asgi_new"
fallthrough = "wsgi_legacy"
""")
        server.send_signal(signal.SIGHUP)
        assert reloaded(server, 1), server.dump()
        seen = len(clients.answers)
        deadline = time.monotonic() + 10
        while "asgi_new" not in clients.answers[seen:] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "asgi_new" in clients.answers[seen:]
        r = httpx.post(server.base_url + "/orders/todo/1", content=b"x" * 100, timeout=10)
        assert (r.status_code, r.json()["app"], r.json()["length"]) == (200, "wsgi_legacy", 100)

        # An invalid file: one line, and the routes stay.
        path.write_text(BASE + '\n[[routes]]\nprefix = "/orders"\napp = "nowhere"\n')
        server.send_signal(signal.SIGHUP)
        assert reloaded(server, 2), server.dump()
        errors = [l for l in server.stderr.snapshot() if "not re-read" in l]
        assert len(errors) == 1, errors
        assert "the route names app 'nowhere', which no [apps.nowhere] defines" in errors[0]
        seen = len(clients.answers)
        time.sleep(1.0)
        assert set(clients.answers[seen:]) == {"asgi_new"}
    finally:
        clients.finish()
    assert clients.failures == [], clients.failures[:5]
    assert len(clients.answers) > 50


SINGLE = BASE.replace("workers = 2\n", "") + """
[apps.asgi_legacy]
target = "asgi:apps.migration_pair:asgi_legacy"
"""


def test_a_single_process_swaps_its_routes_on_sighup_under_load(start_server, tmp_path):
    """Without a master, SIGHUP builds the new routes from the apps imported at start and swaps
    them in: open connections go on, not a request fails; an app it did not import, or an
    invalid file, is one line and the routes stay."""
    path = tmp_path / "junction.toml"
    path.write_text(SINGLE)
    server = start_server("--config", str(path), "--admin-bind", "127.0.0.1:0")
    admin = server.stderr.wait_for(lambda lines: next(
        (l.split("Admin listener on ")[1].split()[0] for l in lines
         if "Admin listener on " in l), None), 15)
    clients = Clients(server.base_url)
    try:
        time.sleep(0.5)
        assert "wsgi_legacy" in clients.answers
        pid_before = httpx.get(admin + "/status", timeout=10).json()["pid"]
        path.write_text(SINGLE + """
[[routes]]
prefix = "/orders"
app = "asgi_new"
fallthrough = "wsgi_legacy"
""")
        server.send_signal(signal.SIGHUP)
        assert server.stderr.wait_for(lambda lines: any(
            "this process serves its 2 route(s) now" in l for l in lines), 15), server.dump()
        seen = len(clients.answers)
        deadline = time.monotonic() + 10
        while "asgi_new" not in clients.answers[seen:] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "asgi_new" in clients.answers[seen:]
        r = httpx.post(server.base_url + "/orders/todo/1", content=b"x" * 100, timeout=10)
        assert (r.status_code, r.json()["app"], r.json()["length"]) == (200, "wsgi_legacy", 100)
        # The admin listener describes the new routes, with their sides.
        assert httpx.get(admin + "/status", timeout=10).json()["pid"] == pid_before
        report = httpx.get(admin + "/migration", timeout=10).json()
        assert [r["route"] for r in report["routes"]] == ["/orders"]
        assert {a["side"] for a in report["routes"][0]["apps"]} == {"primary", "fallthrough"}
        metrics = httpx.get(admin + "/metrics", timeout=10).text
        assert 'app="asgi_new",route="/orders",side="primary"' in metrics

        # asgi_legacy was defined but named by no route: loaded at start all the same, so a
        # reading may route to it.
        path.write_text(SINGLE + """
[[routes]]
prefix = "/orders"
app = "asgi_legacy"
""")
        server.send_signal(signal.SIGHUP)
        assert server.stderr.wait_for(lambda lines: sum(
            "this process serves its 2 route(s) now" in l for l in lines) >= 2, 15), server.dump()
        seen = len(clients.answers)
        deadline = time.monotonic() + 10
        while "asgi_legacy" not in clients.answers[seen:] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "asgi_legacy" in clients.answers[seen:]
        # An app the file did not define at start: a new process (or a master's new workers)
        # must import it.
        path.write_text(SINGLE + """
[apps.later]
target = "wsgi:apps.environ_app:app"

[[routes]]
prefix = "/orders"
app = "later"
""")
        server.send_signal(signal.SIGHUP)
        assert server.stderr.wait_for(lambda lines: any(
            "names wsgi:apps.environ_app:app, which this process did not import at start" in l
            for l in lines), 15), server.dump()
        # An invalid file.
        path.write_text(SINGLE + '\n[[routes]]\nprefix = "/orders"\napp = "nowhere"\n')
        server.send_signal(signal.SIGHUP)
        assert server.stderr.wait_for(lambda lines: any("not re-read" in l for l in lines),
                                      15), server.dump()
        seen = len(clients.answers)
        time.sleep(1.0)
        assert set(clients.answers[seen:]) == {"asgi_legacy"}  # the routes stayed
    finally:
        clients.finish()
    assert clients.failures == [], clients.failures[:5]
    assert len(clients.answers) > 50
    assert not any("SIGHUP" in l and "keeps its routes" in l for l in server.stderr.snapshot())
