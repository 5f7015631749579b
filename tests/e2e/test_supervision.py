"""The master's supervision beyond respawning: zero-downtime reload (SIGHUP, --reload), recycling
by memory and age, --worker-timeout, --preload, --health-check-app, and kill -9 under load."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import server_environment
from test_workers import APPS, pid_of_answer, pids_seen, ready

VERSIONED_APP = '''
import os

VERSION = "{version}"


def app(environ, start_response):
    body = f"{{VERSION}} {{os.getpid()}}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def write_app(directory: Path, version: str) -> None:
    # Written beside and renamed over, as editors save: the module is never seen half-written.
    temporary = directory / "app.py.tmp"
    temporary.write_text(VERSIONED_APP.format(version=version))
    temporary.rename(directory / "app.py")


class Load:
    """Clients sending requests back to back on new connections (so the listeners' accept queue
    hands them to any worker) until stopped; what they saw is kept."""

    def __init__(self, url: str, clients: int = 3, limit: float = 60.0) -> None:
        self.url = url
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.deadline = time.monotonic() + limit
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(timeout=15, headers={"Connection": "close"}) as client:
            while not self.stopping.is_set() and time.monotonic() < self.deadline:
                try:
                    response = client.get(self.url)
                    with self.lock:
                        if response.status_code == 200:
                            self.answers.append(response.text)
                        else:
                            self.failures.append(f"{response.status_code} {response.text}")
                except httpx.HTTPError as e:
                    with self.lock:
                        self.failures.append(repr(e))

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.answers)

    def wait_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.seen()):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(30)


def request_ignoring_errors(url: str, timeout: float = 40) -> None:
    """A request whose answer does not matter (the server is killed under it)."""
    try:
        httpx.get(url, timeout=timeout)
    except httpx.HTTPError:
        pass


def answers_with(server, version: str, timeout: float) -> bool:
    """Polls on new connections until the app answers with `version` (the new code serves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(server.base_url + "/", headers={"Connection": "close"}).text.startswith(version):
            return True
        time.sleep(0.05)
    return False


def log_has(server, text: str, timeout: float = 15) -> bool:
    return bool(server.stderr.wait_for(lambda lines: any(text in x for x in lines), timeout))


def test_sighup_under_load_switches_to_the_edited_code_with_no_failed_request(start_server,
                                                                              tmp_path):
    write_app(tmp_path, "v1")
    server = start_server("--workers", "2", "--no-access-log", "--chdir", str(tmp_path), "app:app")
    ready(server, 2)
    load = Load(server.base_url + "/")
    try:
        assert load.wait_until(lambda seen: len(seen) > 50, 20)
        write_app(tmp_path, "v2")
        server.send_signal(signal.SIGHUP)
        switched = load.wait_until(
            lambda seen: sum(a.startswith("v2") for a in seen[-40:]) == 40, 30)
        before = len(load.seen())
        assert load.wait_until(lambda seen: len(seen) > before + 50, 20)
    finally:
        load.stop()
    answers = load.seen()
    assert load.failures == [], load.failures[:5]
    assert switched, server.dump()
    old = {a.split()[1] for a in answers if a.startswith("v1")}
    new = {a.split()[1] for a in answers if a.startswith("v2")}
    assert len(old) == 2 and len(new) == 2 and not old & new, (old, new)
    # Once the answers switched (40 in a row from the new code), the old code never answered
    # again. (Before that the two overlap: the old workers serve until every new one is ready.)
    assert all(a.startswith("v2") for a in answers[before:]), answers[before:]
    assert log_has(server, "SIGHUP: starting 2 new worker(s)")
    assert log_has(server, "reload: 2 new worker(s) ready; 2 old worker(s) draining")


def test_sighup_with_code_that_fails_to_import_keeps_the_old_workers(start_server, tmp_path):
    write_app(tmp_path, "v1")
    server = start_server("--workers", "2", "--chdir", str(tmp_path), "app:app")
    ready(server, 2)
    (tmp_path / "app.py").write_text("raise RuntimeError('a bad deploy')\n")
    server.send_signal(signal.SIGHUP)
    assert log_has(server, "reload failed: new worker"), server.dump()
    assert log_has(server, "the old workers keep serving")
    # Still the old code, on both old workers, and the master is still up.
    answers = {httpx.get(server.base_url + "/", headers={"Connection": "close"}).text
               for _ in range(20)}
    assert all(a.startswith("v1") for a in answers), answers
    assert server.running()
    write_app(tmp_path, "v3")
    server.send_signal(signal.SIGHUP)
    assert log_has(server, "reload: 2 new worker(s) ready")
    assert answers_with(server, "v3", timeout=10), server.dump()


def test_reload_restarts_the_workers_when_a_python_file_changes(start_server, tmp_path):
    write_app(tmp_path, "v1")
    (tmp_path / "notes.txt").write_text("not code")
    server = start_server("--reload", "--chdir", str(tmp_path), "app:app", cwd=tmp_path)
    ready(server, 1)
    assert httpx.get(server.base_url + "/").text.startswith("v1")
    (tmp_path / "notes.txt").write_text("still not code")  # no reload for this
    write_app(tmp_path, "v2")
    assert log_has(server, "--reload: app.py changed: starting 1 new worker(s)"), server.dump()
    assert answers_with(server, "v2", timeout=15), server.dump()
    assert not any("notes.txt" in line for line in server.stderr.snapshot())
    # An edit that breaks the import keeps the running code; the fix is picked up.
    (tmp_path / "app.py").write_text("this is not python\n")
    assert log_has(server, "reload failed"), server.dump()
    assert httpx.get(server.base_url + "/").text.startswith("v2")
    write_app(tmp_path, "v3")
    assert answers_with(server, "v3", timeout=15), server.dump()


def test_reload_dir_watches_another_directory(start_server, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    write_app(code, "v1")
    other = tmp_path / "lib"
    (other / "pkg").mkdir(parents=True)
    server = start_server("--reload", "--reload-dir", str(other), "--chdir", str(code), "app:app")
    ready(server, 1)
    (other / "pkg" / "helpers.py").write_text("X = 1\n")
    assert log_has(server, f"--reload: {other}/pkg/helpers.py changed"), server.dump()


def test_kill_9_under_wrk_load_costs_only_that_workers_requests(start_server):
    server = start_server("--workers", "2", "--no-access-log", *APPS, "pid_app:app")
    ready(server, 2)
    victim = min(pids_seen(server, 2))
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d6s", server.base_url + "/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    # A poller on new connections notes when a worker that is neither of the first two answers.
    replaced_after = None
    deadline = killed_at + 10
    survivors = set()
    while time.monotonic() < deadline:
        pid = pid_of_answer(server)
        survivors.add(pid)
        if pid != victim and len(survivors - {victim}) >= 2:
            replaced_after = time.monotonic() - killed_at
            break
        time.sleep(0.01)
    out, _ = wrk.communicate(timeout=30)
    assert replaced_after is not None, server.dump()
    print(f"replacement answered {replaced_after:.3f}s after kill -9")
    # wrk's connections: the ones the killed worker held are cut (a read error each, at most
    # one per connection); no connection is refused and no answer is an error.
    assert "Non-2xx" not in out, out
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        connect, read, write, _timeout = map(int, errors.groups())
        assert connect == 0, out
        assert read + write <= 16, out
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 1000, out
    assert log_has(server, f"worker {victim} died (signal Killed); starting a new one")


def test_max_rss_recycles_a_leaking_worker(start_server):
    server = start_server("--workers", "2", "--max-rss", "120", "--no-access-log", *APPS,
                          "leaky:app")
    ready(server, 2)
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(pids) < 3:
        pids.add(pid_of_answer(server))  # every answer is a 200: none fails meanwhile
        time.sleep(0.02)
    assert len(pids) >= 3, server.dump()
    assert log_has(server, "is over --max-rss 120 MiB (2 samples in a row): recycling")
    # The master starts the replacement when it sees the worker draining, or when it is gone.
    assert log_has(server, "recycl") and log_has(server, "; starting a new one")


def test_worker_lifetime_recycles_workers_under_load(start_server):
    server = start_server("--workers", "2", "--worker-lifetime", "2", "--no-access-log", *APPS,
                          "pid_app:app")
    ready(server, 2)
    load = Load(server.base_url + "/", clients=2)
    try:
        recycled = load.wait_until(lambda seen: len(set(seen)) >= 4, 30)
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert recycled, server.dump()
    assert log_has(server, "(--worker-lifetime, this worker's limit")


@pytest.mark.parametrize("app,part", [("stuck:asgi", "ASGI event loop"),
                                      ("stuck:wsgi", "WSGI pool")])
def test_worker_timeout_replaces_a_worker_whose_python_side_is_stuck(start_server, app, part):
    server = start_server("--workers", "2", "--worker-timeout", "2", "--threads", "1", *APPS, app)
    ready(server, 2)
    pids = pids_seen(server, 2)

    def block() -> None:
        try:
            httpx.get(server.base_url + "/block", headers={"Connection": "close"}, timeout=20)
        except httpx.HTTPError:
            pass  # the worker serving it is killed: this request is lost, and only this one

    blocker = threading.Thread(target=block)
    blocker.start()
    pattern = re.compile(rf"worker (\d+): its {part} has not responded for [\d.]+s "
                         rf"\(--worker-timeout 2\): killing it")
    found = server.stderr.wait_for(
        lambda lines: [m for x in lines if (m := pattern.search(x))], 20)
    assert found, server.dump()
    stuck = int(found[0].group(1))
    assert stuck in pids
    blocker.join(25)
    assert log_has(server, f"worker {stuck} died (signal Killed); starting a new one")
    # The replacement and the other worker serve.
    seen = pids_seen(server, 2)
    assert stuck not in seen and len(seen) == 2, seen


def test_worker_timeout_leaves_a_healthy_worker_alone(start_server):
    server = start_server("--workers", "2", "--worker-timeout", "1", *APPS, "pid_app:app")
    ready(server, 2)
    first = pids_seen(server, 2)
    # Slow requests (1 s each, below the timeout's notice: the pool keeps progressing) and idle
    # time: nobody is killed.
    for _ in range(3):
        httpx.get(server.base_url + "/slow", timeout=10)
    time.sleep(2)
    assert pids_seen(server, 2) == first
    assert not any("killing it" in line for line in server.stderr.snapshot()), server.dump()


def test_preload_imports_in_the_master(start_server):
    server = start_server("--workers", "2", "--preload", *APPS, "preloaded:app")
    ready(server, 2)
    assert log_has(server, "--preload: 1 app(s) imported in the master")
    for _ in range(10):
        imported_by, served_by = map(int, httpx.get(
            server.base_url + "/", headers={"Connection": "close"}).text.split())
        assert imported_by == server.proc.pid
        assert served_by != server.proc.pid


def test_without_preload_each_worker_imports(start_server):
    server = start_server("--workers", "2", *APPS, "preloaded:app")
    ready(server, 2)
    imported_by, served_by = map(int, httpx.get(server.base_url + "/").text.split())
    assert imported_by == served_by != server.proc.pid


def test_preload_failure_stops_before_listening():
    from conftest import junction_bin
    done = subprocess.run([str(junction_bin()), "--bind", "127.0.0.1:0", "--workers", "2",
                           "--preload", *APPS, "broken_import:app"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30, env=server_environment())
    assert done.returncode == 4, done.stderr
    assert "RuntimeError: this module is broken on purpose" in done.stderr
    assert "Listening on" not in done.stderr and "starting 2 worker" not in done.stderr


def test_health_check_app_answers_503_when_the_wsgi_pool_is_wedged(start_server):
    server = start_server("--health-check-app", "--threads", "1", *APPS, "stuck:wsgi")
    assert httpx.get(server.base_url + "/healthz").status_code == 200
    blocker = threading.Thread(target=request_ignoring_errors, args=(server.base_url + "/block",))
    blocker.start()
    time.sleep(0.5)
    started = time.monotonic()
    r = httpx.get(server.base_url + "/healthz", timeout=10)
    assert r.status_code == 503, r.text
    assert r.text == "unhealthy: WSGI pool did not answer within 1s\n"
    assert time.monotonic() - started < 8  # bounded, not a hang
    server.kill()  # the blocked request would hold the drain for 30 s
    blocker.join(5)


def test_health_check_app_answers_503_when_the_event_loop_is_blocked(start_server):
    server = start_server("--health-check-app", *APPS, "stuck:asgi")
    assert httpx.get(server.base_url + "/healthz").text == "ok"
    blocker = threading.Thread(target=request_ignoring_errors, args=(server.base_url + "/block",))
    blocker.start()
    time.sleep(0.5)
    r = httpx.get(server.base_url + "/healthz", timeout=10)
    assert r.status_code == 503
    assert r.text == "unhealthy: ASGI event loop did not answer within 1s\n"
    assert log_has(server, "health check: unhealthy: ASGI event loop")
    server.kill()
    blocker.join(5)


def test_health_path_without_the_probe_stays_up_when_python_is_wedged(start_server):
    server = start_server("--threads", "1", *APPS, "stuck:wsgi")
    blocker = threading.Thread(target=request_ignoring_errors, args=(server.base_url + "/block",))
    blocker.start()
    time.sleep(0.5)
    assert httpx.get(server.base_url + "/healthz", timeout=5).text == "ok"
    server.kill()
    blocker.join(5)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigusr1_is_logged_and_changes_nothing(start_server, workers):
    server = start_server("--workers", workers, *APPS, "pid_app:app")
    if workers == "2":
        ready(server, 2)
    server.send_signal(signal.SIGUSR1)
    assert log_has(server, "SIGUSR1: no log file to reopen (logs go to stdout and stderr)")
    assert server.running()
    assert pid_of_answer(server) > 0
