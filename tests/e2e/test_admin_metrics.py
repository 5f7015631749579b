"""The admin listener (--admin-bind): /metrics in the Prometheus text format (checked by
`promtool check metrics`), /metrics.json, /status, and what it counts, in one process and summed
over --workers. The apps are tests/e2e/apps/metrics_app.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import E2E_DIR

WSGI = "apps.metrics_app:wsgi"
ASGI = "apps.metrics_app:asgi"
APPS = (f"/asgi={ASGI}", f"/={WSGI}")
ADMIN = re.compile(r"Admin listener on (\S+)")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def start(start_server, *extra, apps=APPS, **kw):
    """junction serving the metrics apps with an admin listener: (server, admin base URL)."""
    server = start_server("--pythonpath", str(E2E_DIR), "--admin-bind", "127.0.0.1:0", *extra,
                          *apps, **kw)
    found = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    assert found, server.dump()
    return server, found


def scrape(admin: str) -> str:
    r = httpx.get(admin + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return r.text


def parse(text: str) -> dict:
    """{(name, frozenset of (label, value)): float} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of `name` over every series whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def wait_metrics(admin: str, predicate, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        samples = parse(scrape(admin))
        if predicate(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: install Debian's prometheus (bash scripts/setup.sh)"
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_pass_promtool_and_count_every_request(start_server):
    server, admin = start(start_server)
    base = server.base_url
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(5):
            assert client.get("/ok").status_code == 200
        for _ in range(2):
            assert client.post("/ok", content=b"x" * 1000).status_code == 200
        assert client.get("/fail").status_code == 500
        assert client.request("PROPFIND", "/ok").status_code == 200
        for _ in range(3):
            assert client.get("/asgi/ok").status_code == 200
    with httpx.Client(base_url=base, http1=False, http2=True, timeout=10) as h2:
        assert h2.get("/ok").http_version == "HTTP/2"
    text = scrape(admin)
    promtool_check(text)
    s = parse(text)
    w = dict(app=WSGI, route="/")
    assert value(s, "junction_requests_total", **w, method="GET", status="2xx",
                 protocol="HTTP/1.1") == 5
    assert value(s, "junction_requests_total", **w, method="POST", status="2xx") == 2
    assert value(s, "junction_requests_total", **w, method="GET", status="5xx") == 1
    assert value(s, "junction_requests_total", **w, method="other") == 1
    assert value(s, "junction_requests_total", **w, protocol="HTTP/2") == 1
    assert value(s, "junction_requests_total", app=ASGI, route="/asgi", status="2xx") == 3
    assert value(s, "junction_request_duration_seconds_count", **w) == 10
    assert value(s, "junction_request_duration_seconds_bucket", **w, le="+Inf") == 10
    assert value(s, "junction_request_duration_seconds_count", app=ASGI, route="/asgi") == 3
    assert value(s, "junction_requests_in_flight") == 0
    assert value(s, "junction_received_bytes_total") > 2000  # two 1000-byte bodies and heads
    assert value(s, "junction_sent_bytes_total") > 0
    # The 500 closed its connection (an app that failed): the client opened a second; h2 a third.
    assert value(s, "junction_connections_accepted_total", tls="false") == 3
    assert value(s, "junction_http2_streams_total") == 1
    assert value(s, "junction_build_info") == 1
    assert value(s, "junction_wsgi_threads") > 0
    assert value(s, "junction_workers") == 1
    # The admin's own requests are not counted, and /metrics.json says the same.
    body = httpx.get(admin + "/metrics.json", timeout=10).json()
    routes = {(r["app"], r["route"]): r for r in body["routes"]}
    assert routes[(WSGI, "/")]["requests"] == 10
    assert routes[(WSGI, "/")]["status"]["5xx"] == 1
    assert routes[(ASGI, "/asgi")]["duration"]["count"] == 3
    assert len(routes[(ASGI, "/asgi")]["duration"]["counts"]) == 14


def test_a_streamed_response_is_timed_until_its_last_byte(start_server):
    server, admin = start(start_server)
    r = httpx.get(server.base_url + "/stream?chunks=4&ms=150", timeout=10)
    assert r.text.count("chunk") == 4
    s = wait_metrics(admin, lambda s: value(s, "junction_request_duration_seconds_count") == 1)
    w = dict(app=WSGI, route="/")
    # Three 150 ms pauses between the chunks: the request lasted at least 0.45 s.
    assert value(s, "junction_request_duration_seconds_sum", **w) >= 0.45
    assert value(s, "junction_request_duration_seconds_bucket", **w, le="0.25") == 0
    assert value(s, "junction_request_duration_seconds_bucket", **w, le="+Inf") == 1


def test_in_flight_busy_threads_and_refused_requests(start_server, tmp_path):
    server, admin = start(start_server, "--threads", "1", "--backlog", "1")
    release = tmp_path / "release"
    held = []

    def hold():
        held.append(httpx.get(f"{server.base_url}/hold?release={release}", timeout=30))

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        s = wait_metrics(admin, lambda s: value(s, "junction_requests_in_flight") == 2
                         and value(s, "junction_wsgi_queue_depth") == 1)
        assert value(s, "junction_requests_in_flight") == 2
        assert value(s, "junction_wsgi_threads") == 1
        assert value(s, "junction_wsgi_threads_busy") == 1
        assert value(s, "junction_wsgi_queue_depth") == 1
        # The one thread is busy and the backlog full: 503, counted.
        assert httpx.get(server.base_url + "/ok", timeout=10).status_code == 503
        s = wait_metrics(admin, lambda s: value(s, "junction_wsgi_refused_total") == 1)
        assert value(s, "junction_wsgi_refused_total") == 1
        assert value(s, "junction_requests_total", status="5xx") == 1
    finally:
        release.write_text("go")
        for t in threads:
            t.join(30)
    assert [r.status_code for r in held] == [200, 200]
    s = wait_metrics(admin, lambda s: value(s, "junction_requests_in_flight") == 0
                     and value(s, "junction_wsgi_threads_busy") == 0)
    assert value(s, "junction_requests_in_flight") == 0
    assert value(s, "junction_wsgi_threads_busy") == 0
    assert value(s, "junction_requests_total", app=WSGI, status="2xx") == 2


def test_event_loop_lag_and_websockets(start_server):
    server, admin = start(start_server)
    assert httpx.get(server.base_url + "/asgi/block?ms=400", timeout=10).status_code == 200
    # The probe runs every 100 ms: the one due while the loop was held ran late.
    s = wait_metrics(admin, lambda s: value(s, "junction_asgi_loop_lag_seconds_count") > 5)
    count = value(s, "junction_asgi_loop_lag_seconds_count")
    assert value(s, "junction_asgi_loop_lag_seconds_bucket", le="0.1") < count
    assert value(s, "junction_asgi_loop_lag_seconds_sum") >= 0.2
    assert value(s, "junction_asgi_tasks") == 0
    assert value(s, "junction_asgi_concurrency_limit") == 1000

    with ws_connect(f"ws://127.0.0.1:{server.port}/asgi/ws") as ws:
        for i in range(3):
            ws.send(f"m{i}")
            assert ws.recv(timeout=10) == f"m{i}"
        s = parse(scrape(admin))
        assert value(s, "junction_websockets_open") == 1
        assert value(s, "junction_asgi_tasks") == 1
    s = wait_metrics(admin, lambda s: value(s, "junction_websockets_open") == 0)
    assert value(s, "junction_websockets_open") == 0
    assert value(s, "junction_websocket_sessions_total") == 1
    assert value(s, "junction_websocket_messages_received_total") == 3
    assert value(s, "junction_websocket_messages_sent_total") == 3
    assert value(s, "junction_requests_total", app=ASGI, status="1xx") == 1  # the 101


def test_tls_handshakes_and_connections_by_protocol(start_server, tls_pki):
    server, admin = start(start_server, *tls_pki.server_args())
    ctx = ssl.create_default_context(cafile=str(tls_pki.ca_cert))
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=ctx, timeout=10) as client:
        assert client.get(f"https://localhost:{server.port}/ok").status_code == 200
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls_pki.ca_cert)), http2=True,
                      timeout=10) as client:
        r = client.get(f"https://localhost:{server.port}/ok")
        assert r.http_version == "HTTP/2"
        s = parse(scrape(admin))
        assert value(s, "junction_connections_open", protocol="HTTP/2", tls="true") == 1
    # A client that is not TLS at all, and one that gives up during the handshake.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(4096)
    s = wait_metrics(admin, lambda s: value(s, "junction_tls_handshakes_total",
                                            result="failed") == 1
                     and value(s, "junction_connections_open") == 0)
    assert value(s, "junction_tls_handshakes_total", result="ok", version="TLSv1.2") == 1
    assert value(s, "junction_tls_handshakes_total", result="ok", version="TLSv1.3") == 1
    assert value(s, "junction_tls_handshakes_total", result="failed") == 1
    assert value(s, "junction_connections_accepted_total", tls="true") == 3
    assert value(s, "junction_connections_open") == 0
    assert value(s, "junction_requests_total", protocol="HTTP/2") == 1
    promtool_check(scrape(admin))


def status(admin: str) -> dict:
    r = httpx.get(admin + "/status", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    return r.json()


def test_status_reports_the_process_apps_and_listeners(start_server, run_junction):
    server, admin = start(start_server)
    httpx.get(server.base_url + "/ok", timeout=10)
    st = status(admin)
    version = run_junction("--version").stdout.split()[1]
    assert st["version"] == version
    assert re.fullmatch(r"3\.\d+\.\d+", st["python"])
    assert st["pid"] == server.proc.pid
    assert abs(st["started"] - time.time()) < 60
    [worker] = st["workers"]
    assert worker["pid"] == server.proc.pid
    assert worker["state"] == "serving"
    assert worker["requests"] == 1
    assert worker["rss_bytes"] > 1 << 20
    assert {(a["name"], a["prefix"]) for a in st["apps"]} == {(ASGI, "/asgi"), (WSGI, "/")}
    assert {(r["app"], r["route"]) for r in st["routes"]} == {(ASGI, "/asgi"), (WSGI, "/")}
    assert st["listeners"] == [{"address": server.urls[0], "kind": "app"},
                               {"address": admin, "kind": "admin"}]


def test_workers_are_summed_and_counters_survive_a_dead_worker(start_server):
    server, admin = start(start_server, "--workers", "2")
    deadline = time.monotonic() + 20
    while len([w for w in status(admin)["workers"] if w["state"] == "serving"]) < 2:
        assert time.monotonic() < deadline, server.dump()
        time.sleep(0.1)
    # A fresh connection each: both workers take some (the accept balance).
    for _ in range(20):
        with httpx.Client(timeout=10) as client:
            assert client.get(server.base_url + "/ok").status_code == 200
    # Each worker's own figures are at most a sampling period (250 ms) old.
    deadline = time.monotonic() + 5
    while sum(w["requests"] for w in status(admin)["workers"]) != 20:
        assert time.monotonic() < deadline, status(admin)
        time.sleep(0.05)
    # Whichever worker answers the scrape, the sum is the same.
    for _ in range(6):
        with httpx.Client(timeout=10) as client:  # new connections: either worker may answer
            s = parse(client.get(admin + "/metrics").text)
        assert value(s, "junction_requests_total", app=WSGI) == 20
        assert value(s, "junction_workers") == 2
        assert value(s, "junction_worker_starts_total") == 2
    victim = status(admin)["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        workers = status(admin)["workers"]
        pids = {w["pid"] for w in workers if w["state"] == "serving"}
        if len(pids) == 2 and victim not in pids:
            break
        assert time.monotonic() < deadline, server.dump()
        time.sleep(0.1)
    s = parse(scrape(admin))
    assert value(s, "junction_requests_total", app=WSGI) == 20  # the dead worker's count stays
    assert value(s, "junction_worker_starts_total") == 3
    assert value(s, "junction_worker_exits_total", reason="signaled") == 1
    promtool_check(scrape(admin))


def test_admin_answers_get_and_head_only_and_not_on_the_app_listener(start_server):
    server, admin = start(start_server)
    r = httpx.post(admin + "/metrics", timeout=10)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    r = httpx.head(admin + "/metrics", timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert httpx.get(admin + "/nope", timeout=10).status_code == 404
    page = httpx.get(admin + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "/dashboard.js" in page.text
    assert httpx.get(admin + "/dashboard.js", timeout=10).headers["content-type"].startswith(
        "text/javascript")
    # The app listener serves the app: its /metrics is the app's 404, not the figures.
    r = httpx.get(server.base_url + "/metrics", timeout=10)
    assert r.status_code == 404 and r.text == "not found"


@pytest.mark.parametrize("value_, message", [
    ("nonsense", "--admin-bind: expected HOST:PORT"),
    ("https://127.0.0.1:0", "--admin-bind speaks plain HTTP"),
    ("127.0.0.1:8123", "is also a --bind address"),
])
def test_a_bad_admin_bind_is_one_line_and_exit_2(run_junction, value_, message):
    result = run_junction("--bind", "127.0.0.1:8123", "--admin-bind", value_,
                          "--pythonpath", str(E2E_DIR), WSGI)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
