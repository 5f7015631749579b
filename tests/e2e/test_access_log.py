"""The access log's formats, file, exclusions and reopening: --access-log-format (default,
common, combined, json, templates), --access-log-file with SIGUSR1 after a rotation (alone and
under --workers, under load, no line lost), --access-log-exclude, and the errors for a bad
template or an unwritable file. Each format is parsed back the way its readers parse it."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest

from wire import Conn, request

# Apache's combined format as log analysers read it (GoAccess's COMBINED, AWStats' type 1):
# %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i".
COMBINED = re.compile(
    r'^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] '
    r'"(?P<method>[A-Z]+) (?P<target>\S+) (?P<protocol>HTTP/[0-9.]+)" (?P<status>\d{3}) '
    r'(?P<size>\d+|-) "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"$')


def lines_of(server, pattern, count, timeout=5.0):
    """The first `count` stdout lines that match `pattern` (the log is written in batches)."""
    def enough(lines):
        hits = [line for line in lines if re.search(pattern, line)]
        return hits[:count] if len(hits) >= count else None

    found = server.stdout.wait_for(enough, timeout)
    assert found, server.stdout.snapshot()[-20:]
    return found


def test_json_lines_parse_back_over_http1_and_http2(start_app, h2client):
    """--access-log-format json: every line is one JSON object with the request's facts, over
    HTTP/1.1 and HTTP/2, for the app and the gateway's own answers."""
    s = start_app("apps.environ_app:app", extra=["--access-log-format", "json"])
    with Conn(s.address) as c:
        r = c.roundtrip(request("GET", "/json-h1?x=1", headers=[("User-Agent", "probe/1"),
                                                                ("Referer", "https://r/")]))
        assert r.status == 200
        body_size = len(r.body)
    h2 = h2client(s.address)
    assert h2.get("/json-h2")["status"] == 200
    first, second = (json.loads(l) for l in lines_of(s, r'"/json-h[12]', 2))
    assert first["method"] == "GET" and first["target"] == "/json-h1?x=1"
    assert (first["path"], first["query"], first["status"]) == ("/json-h1", "x=1", 200)
    assert first["bytes"] == body_size and first["protocol"] == "HTTP/1.1"
    assert first["user_agent"] == "probe/1" and first["referer"] == "https://r/"
    assert first["client"].startswith("127.0.0.1:") and first["scheme"] == "http"
    assert first["duration_ms"] > 0 and first["tls_version"] is None
    assert first["pid"] == s.proc.pid
    logged = datetime.strptime(first["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - logged).total_seconds()) < 60
    assert second["protocol"] == "HTTP/2.0" and second["query"] is None


def test_combined_parses_with_a_log_analysers_pattern(start_server):
    """--access-log-format combined: Apache's line, which COMBINED above reads field by field;
    a quote in the User-Agent is escaped, not a broken line."""
    s = start_server("--access-log-format", "combined")
    with Conn(s.address) as c:
        c.roundtrip(request("GET", "/healthz?combined", headers=[("User-Agent", 'say "hi"')]))
        c.roundtrip(request("GET", "/missing-combined"))
    hit, miss = (COMBINED.match(l) for l in lines_of(s, "combined", 2))
    assert hit and miss
    assert (hit["host"], hit["method"], hit["target"], hit["protocol"]) == (
        "127.0.0.1", "GET", "/healthz?combined", "HTTP/1.1")
    assert (hit["status"], hit["size"], hit["referer"]) == ("200", "2", "-")
    assert hit["agent"] == 'say \\"hi\\"'
    datetime.strptime(hit["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert (miss["status"], miss["agent"]) == ("404", "-")


def test_common_and_a_template(start_server):
    """common is combined without the two quoted fields; a template writes its atoms."""
    s = start_server("--access-log-format", "{status} {method} {path} [{query}] {header:X-Trace}")
    with Conn(s.address) as c:
        c.roundtrip(request("GET", "/healthz?a=1", headers=[("X-Trace", "t-42")]))
    assert lines_of(s, r"^200 GET", 1) == ["200 GET /healthz [a=1] t-42"]
    common = start_server("--access-log-format", "common")
    with Conn(common.address) as c:
        c.roundtrip(request("GET", "/healthz?common"))
    (line,) = lines_of(common, "common", 1)
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /healthz\?common HTTP/1\.1" 200 2',
                        line), line


def test_app_and_route_atoms_name_what_answered(start_app):
    """{app} and {route} are the labels /metrics uses: the app as given and its mount prefix;
    the health path and unmatched requests have their own."""
    s = start_app("/env=apps.environ_app:app", extra=["--access-log-format",
                                                      "{app} {route} {path} {status}"])
    with Conn(s.address) as c:
        for target in ("/env/x", "/healthz", "/elsewhere"):
            c.roundtrip(request("GET", target))
    assert lines_of(s, r" (200|404)$", 3) == ["apps.environ_app:app /env /env/x 200",
                                            "health /healthz /healthz 200",
                                            "none - /elsewhere 404"]


def test_exclude_leaves_out_exact_paths(start_server):
    """--access-log-exclude /healthz: probes are not logged, other paths (even below it) are."""
    s = start_server("--access-log-exclude", "/healthz")
    with Conn(s.address) as c:
        for target in ("/healthz", "/healthz/below", "/elsewhere"):
            c.roundtrip(request("GET", target))
    lines = lines_of(s, r'"GET /', 2)
    assert [l.split('"')[1] for l in lines] == ["GET /healthz/below HTTP/1.1",
                                               "GET /elsewhere HTTP/1.1"]
    time.sleep(0.3)  # a batch's delay: nothing else comes
    assert not any("GET /healthz " in l for l in s.stdout.snapshot())


def read_lines(*paths) -> list[str]:
    lines = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as f:
                lines += f.read().splitlines()
    return lines


@pytest.mark.parametrize("workers", [1, 2])
def test_sigusr1_after_a_rotation_loses_no_line(start_server, tmp_path, workers):
    """Under load from two clients, the log file is renamed and SIGUSR1 sent three times (to
    the master with --workers 2, which passes it on): every request is in exactly one of the
    files, nothing on stdout, and the new file gets the lines after the last signal."""
    log = tmp_path / "access.log"
    extra = ["--workers", "2"] if workers == 2 else []
    s = start_server("--access-log-file", str(log), "--access-log-format", "{target}", *extra)
    if workers == 2:
        assert s.stderr.wait_for(lambda ls: any("2 worker(s) ready" in l for l in ls), 20)
    sent: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(name: str) -> None:
        with httpx.Client(base_url=s.base_url, timeout=10) as http:
            i = 0
            while not stop.is_set() and i < 3000:
                target = f"/healthz?c={name}&i={i}"
                assert http.get(target).status_code == 200
                with lock:
                    sent.append(target)
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    rotated = []
    for k in range(3):
        time.sleep(0.4)
        rotated.append(f"{log}.{k}")
        os.rename(log, rotated[-1])
        s.send_signal(signal.SIGUSR1)
        # Each serving process says so once it reopened (the master only passes it on).
        assert s.stderr.wait_for(
            lambda ls, k=k: sum("reopened" in l for l in ls) >= workers * (k + 1), 5), s.dump()
    time.sleep(0.4)
    stop.set()
    for t in threads:
        t.join(30)
    assert s.stop() == 0, s.dump()
    logged = read_lines(*rotated, log)
    assert len(sent) > 100
    assert sorted(logged) == sorted(sent)  # each once, none lost, none twice
    assert read_lines(log), "no line reached the file opened after the last SIGUSR1"
    assert not any("/healthz?" in l for l in s.stdout.snapshot())


def test_bad_template_and_unwritable_file(run_junction, tmp_path):
    """An unknown atom is exit 2 with one line naming it; a file that cannot be opened is exit
    1 with one line, before anything is served."""
    out = run_junction("--bind", "127.0.0.1:0", "--health-path", "/h",
                       "--access-log-format", "{method} {verb}")
    assert out.returncode == 2, out
    (line,) = [l for l in out.stderr.splitlines() if l.strip()]
    assert line.startswith("junction: ") and "unknown atom {verb}" in line
    out = run_junction("--bind", "127.0.0.1:0", "--health-path", "/h",
                       "--access-log-file", str(tmp_path / "no" / "such" / "dir.log"))
    assert out.returncode == 1, out
    errors = [l for l in out.stderr.splitlines() if l.startswith("junction: ")]
    assert errors == [f"junction: cannot open the access log {tmp_path}/no/such/dir.log: "
                      "No such file or directory"], out.stderr
