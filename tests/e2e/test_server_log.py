"""The server's own log: --log-format json (one object a line, a traceback one record),
--log-file (reopened on SIGUSR1, by the master and its workers) and the start-up line."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import httpx

from conftest import E2E_DIR, LISTENING

APP = "apps.metrics_app:wsgi"


def read_json_lines(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.strip()]


def wait_file(path: Path, pattern: str, timeout: float = 15.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        if m := re.search(pattern, text):
            return m
        assert time.monotonic() < deadline, f"{pattern!r} not in {path}:\n{text}"
        time.sleep(0.05)


def test_json_log_lines_and_a_traceback_as_one_record(start_server, run_junction):
    server = start_server("--log-format", "json", "--pythonpath", str(E2E_DIR), APP)
    assert httpx.get(server.base_url + "/fail", timeout=10).status_code == 500
    lines = server.stderr.wait_for(
        lambda ls: ls if any("fails on purpose" in l for l in ls) else None, 10)
    records = read_json_lines(lines)  # every line is one JSON object
    assert set(records[0]) == {"time", "level", "pid", "message"}
    assert all(r["pid"] == server.proc.pid for r in records)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records[0]["time"])
    version = run_junction("--version").stdout.split()[1]
    # Once the apps are loaded, before the listeners: what runs, on what.
    [start] = [r["message"] for r in records if "starting: pid" in r["message"]]
    assert start.startswith(f"junction {version} starting: pid {server.proc.pid}, Python 3.")
    assert "1 worker(s), 8 WSGI thread(s)" in start and APP in start
    [error] = [r for r in records if "fails on purpose" in r["message"]]
    assert error["level"] == "error"
    # The whole traceback, with its line breaks, in one record.
    assert "Traceback (most recent call last):" in error["message"]
    assert error["message"].count("\n") >= 3


def test_log_file_is_reopened_on_sigusr1_by_master_and_workers(start_server, tmp_path):
    log = tmp_path / "junction.log"
    server = start_server("--log-file", str(log), "--workers", "2", "--pythonpath",
                          str(E2E_DIR), APP, wait_listening=False)
    url = wait_file(log, LISTENING.pattern).group(1)
    wait_file(log, r"2 worker\(s\) ready")
    assert not any("Listening" in line for line in server.stderr.snapshot())
    assert httpx.get(url + "/ok", timeout=10).status_code == 200
    rotated = tmp_path / "junction.log.1"
    log.rename(rotated)
    server.send_signal(signal.SIGUSR1)
    wait_file(log, r"SIGUSR1: log file .* reopened")
    # The master and both workers write to the new file from now on: each says so there.
    deadline = time.monotonic() + 10
    while log.read_text().count("SIGUSR1: log file") < 3:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    assert "starting: pid" in rotated.read_text()
    assert server.stop() == 0
    assert "shutdown complete" in log.read_text()


def test_bad_log_options_fail_with_one_line(run_junction, tmp_path):
    result = run_junction("--log-file", str(tmp_path / "missing" / "x.log"), APP)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"junction: --log-file: cannot open the log file {tmp_path}/missing/x.log: "
        "No such file or directory"]
    result = run_junction("--log-format", "yaml", APP)
    assert result.returncode == 2
    assert "--log-format" in result.stderr and len(result.stderr.strip().splitlines()) == 1
