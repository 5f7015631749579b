"""--workers: a master that binds the listeners and supervises forked workers (respawn, crash
loops, start-up failures, signals, --pid-file)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import server_environment

E2E = Path(__file__).resolve().parent
APPS = ["--pythonpath", str(E2E / "apps/workers")]


def ready(server, count: int, timeout: float = 20.0) -> None:
    """Waits for the master's `N worker(s) ready` line."""
    line = f"{count} worker(s) ready"
    if not server.stderr.wait_for(lambda lines: sum(line in x for x in lines), timeout):
        raise AssertionError(f"no '{line}' within {timeout}s\n{server.dump()}")


def pid_of_answer(server, path: str = "/") -> int:
    # A new connection per request, so the listeners' accept queue hands each to any worker.
    response = httpx.get(server.base_url + path, headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200, response.text
    return int(response.text)


def pids_seen(server, want: int, tries: int = 200) -> set[int]:
    seen: set[int] = set()
    for _ in range(tries):
        seen.add(pid_of_answer(server))
        if len(seen) >= want:
            break
    return seen


def test_two_workers_share_the_listener(start_server):
    server = start_server("--workers", "2", *APPS, "pid_app:app")
    ready(server, 2)
    seen = pids_seen(server, 2)
    assert len(seen) == 2, seen
    assert server.proc.pid not in seen  # the master serves nothing itself


def test_each_worker_says_how_many_requests_it_served(start_server):
    server = start_server("--workers", "2", *APPS, "pid_app:app")
    ready(server, 2)
    answered: dict[int, int] = {}
    for _ in range(60):
        pid = pid_of_answer(server)
        answered[pid] = answered.get(pid, 0) + 1
    assert server.stop() == 0
    server.stderr.wait_for(lambda lines: sum(": served " in x for x in lines) >= 2, 5)
    logged = {}
    for line in server.stderr.snapshot():
        if m := re.search(r"worker (\d+): served (\d+) requests", line):
            logged[int(m.group(1))] = int(m.group(2))
    # Every worker says it, even one the accept queue happened to hand nothing to ("served 0").
    assert len(logged) == 2, server.dump()
    assert {pid: n for pid, n in logged.items() if n} == answered, server.dump()


def test_a_killed_worker_is_replaced_and_nothing_is_refused(start_server):
    server = start_server("--workers", "2", *APPS, "pid_app:app")
    ready(server, 2)
    victim, survivor = sorted(pids_seen(server, 2))
    os.kill(victim, signal.SIGKILL)
    # Every request from here on is answered: the listener belongs to the master, so no
    # connection is refused while the replacement starts.
    deadline = time.monotonic() + 10
    seen: set[int] = set()
    while time.monotonic() < deadline:
        seen.add(pid_of_answer(server))
        if seen - {victim, survivor}:
            break
    assert victim not in seen
    assert seen - {victim, survivor}, "no replacement worker answered within 10 s"
    assert any(f"worker {victim} died (signal Killed); starting a new one" in line
               for line in server.stderr.snapshot()), server.dump()


def test_sigterm_lets_requests_in_flight_on_every_worker_finish(start_server):
    server = start_server("--workers", "2", *APPS, "pid_app:app")
    ready(server, 2)
    results: list = []

    def slow() -> None:
        try:
            r = httpx.get(server.base_url + "/slow", headers={"Connection": "close"}, timeout=15)
            results.append((r.status_code, int(r.text)))
        except httpx.HTTPError as e:
            results.append(("error", repr(e)))

    threads = [threading.Thread(target=slow) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.4)  # all six are being served (two workers, eight threads each)
    server.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(20)
    assert [status for status, _ in results] == [200] * 6, results
    assert len({pid for _, pid in results}) == 2, results  # both workers had some in flight
    assert server.wait(20) == 0, server.dump()


def test_a_second_sigterm_cuts_the_grace_period(start_server):
    server = start_server("--workers", "2", "--graceful-timeout", "30", *APPS, "pid_app:app")
    ready(server, 2)
    sock = socket.create_connection(server.address)
    sock.sendall(b"GET /healthz?sleep=20 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    server.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.running()  # draining: the sleeping request holds it
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    code = server.wait(15)
    assert code is not None and time.monotonic() - started < 10, server.dump()
    sock.close()


def test_pid_file_names_the_master_and_is_removed(start_server, tmp_path):
    pid_file = tmp_path / "junction.pid"
    server = start_server("--workers", "2", "--pid-file", str(pid_file), *APPS, "pid_app:app")
    ready(server, 2)
    assert pid_file.read_text() == f"{server.proc.pid}\n"
    assert server.stop() == 0
    assert not pid_file.exists()


def test_pid_file_without_workers(start_server, tmp_path):
    pid_file = tmp_path / "junction.pid"
    server = start_server("--pid-file", str(pid_file))
    assert pid_file.read_text() == f"{server.proc.pid}\n"
    assert server.stop() == 0
    assert not pid_file.exists()


def pids_under_load(server, want: int, clients: int = 6, limit: float = 20.0) -> set[int]:
    """The worker pids that answer `clients` threads asking at once on fresh connections, until
    `want` are seen or `limit` seconds pass. One request at a time leaves each connection to a
    race between the workers' wake-ups, which a worker forked last can lose hundreds of times
    in a row on two cores; with the others busy, it gets its share."""
    seen: set[int] = set()
    deadline = time.monotonic() + limit

    def ask() -> None:
        while len(seen) < want and time.monotonic() < deadline:
            seen.add(pid_of_answer(server))

    threads = [threading.Thread(target=ask) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limit + 10)
    return seen


def test_ttin_adds_a_worker_and_ttou_retires_one(start_server):
    server = start_server("--workers", "2", *APPS, "pid_app:app")
    ready(server, 2)
    server.send_signal(signal.SIGTTIN)
    ready(server, 3)
    assert len(pids_under_load(server, 3)) == 3, server.dump()
    server.send_signal(signal.SIGTTOU)
    assert server.stderr.wait_for(lambda lines: any("retired" in x for x in lines), 15), \
        server.dump()


def run_to_exit(*args: str, timeout: float = 30) -> tuple[int, str]:
    from conftest import junction_bin
    done = subprocess.run([str(junction_bin()), "--bind", "127.0.0.1:0", *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=server_environment())
    return done.returncode, done.stderr


def test_an_app_that_cannot_be_imported_stops_the_start_with_exit_4():
    code, err = run_to_exit("--workers", "2", *APPS, "no_such_module:app")
    assert code == 4, err
    assert "junction: cannot import module 'no_such_module'" in err
    assert "starting a new one" not in err  # no respawn loop


def test_a_crash_loop_ends_the_master():
    code, err = run_to_exit("--workers", "2", *APPS, "crashing:app", timeout=60)
    assert code == 1, err
    assert "junction: workers keep dying (5 in a row within 5s of starting" in err, err


def test_an_address_in_use_is_one_line_before_any_worker():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        from conftest import junction_bin
        done = subprocess.run([str(junction_bin()), "--bind", f"127.0.0.1:{port}", "--workers",
                               "2", *APPS, "pid_app:app"], capture_output=True, text=True,
                              timeout=30, env=server_environment())
    assert done.returncode == 1
    assert f"junction: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    # No worker was started (the start-up line before it only says how many there will be).
    assert "starting 2 worker" not in done.stderr and "worker(s) ready" not in done.stderr


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_bad_workers_value_is_a_usage_error(run_junction, value):
    done = run_junction("--workers", value, "--health-path", "/h")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--workers" in done.stderr


def test_workers_auto_is_one_per_usable_core(start_server):
    server = start_server("--workers", "auto", *APPS, "pid_app:app")
    usable = len(os.sched_getaffinity(0))
    if usable == 1:
        # One worker: no master, this process serves.
        assert pid_of_answer(server) == server.proc.pid
        return
    ready(server, usable)
    assert any(f"starting {usable} worker(s)" in line for line in server.stderr.snapshot())


def test_max_requests_recycles_workers_without_a_failed_request(start_server):
    server = start_server("--workers", "2", "--max-requests", "200", "--max-requests-jitter", "50",
                          "--no-access-log", *APPS, "pid_app:app")
    ready(server, 2)
    failures: list = []
    pids: set[int] = set()

    def load() -> None:
        for _ in range(400):
            try:
                pids.add(pid_of_answer(server))
            except (httpx.HTTPError, AssertionError) as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    # 1200 requests, at most 250 per worker: at least five workers served some.
    assert len(pids) >= 5, pids
    log = server.stderr.snapshot()
    assert any("(--max-requests, this worker's limit" in line and "recycling" in line
               for line in log), server.dump()
    assert any(("is recycling; starting a new one" in line or "recycled; starting a new one"
                in line) for line in log), server.dump()


def test_max_requests_with_one_worker_runs_a_master(start_server):
    server = start_server("--max-requests", "50", "--no-access-log", *APPS, "pid_app:app")
    ready(server, 1)
    pids = [pid_of_answer(server) for _ in range(160)]  # none fails meanwhile
    assert server.proc.pid not in pids
    assert len(set(pids)) >= 3, set(pids)
