"""The I/O threads run as SCHED_BATCH, the app's threads keep the normal policy
(gateway/server/server.cpp, run_io_as_batch; docs/benchmarks.md): a woken I/O thread then
waits for the app's thread to block or end its slice instead of preempting it. A policy the
server was started with (chrt, systemd's CPUSchedulingPolicy=) is kept."""

from __future__ import annotations

import os
import pathlib

import httpx

SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5


def policies(pid: int) -> dict[int, int]:
    """Each thread's scheduling policy, from /proc/PID/task/TID/stat (field 41, proc(5))."""
    found = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
        found[int(task.name)] = int(fields[41 - 3])
    return found


def test_io_threads_are_batch_and_app_threads_are_not(start_app):
    server = start_app("apps.responses:app", extra=["--io-threads", "2", "--threads", "3"])
    # Served once over each of a few connections, so every I/O thread has run.
    for _ in range(4):
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/list?n=2").text == "item 0;item 1;"
    threads = policies(server.proc.pid)
    batch = [tid for tid, policy in threads.items() if policy == SCHED_BATCH]
    other = [tid for tid, policy in threads.items() if policy == SCHED_OTHER]
    # The main thread is the first I/O thread; --io-threads 2 adds one.
    assert server.proc.pid in batch, threads
    assert len(batch) == 2, threads
    # The three WSGI threads (and the pool's monitor, the log writer) are untouched.
    assert len(other) >= 3, threads


def test_a_policy_given_at_start_is_kept(start_app):
    def idle():
        os.sched_setscheduler(0, SCHED_IDLE, os.sched_param(0))

    server = start_app("apps.responses:app", extra=["--io-threads", "2", "--threads", "2"],
                       preexec_fn=idle)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        assert client.get("/list?n=1").text == "item 0;"
    threads = policies(server.proc.pid)
    assert set(threads.values()) == {SCHED_IDLE}, threads
