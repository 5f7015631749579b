"""ASGI lifespan: startup runs before the server listens, shutdown after the SIGTERM drain,
the state startup fills is seen by requests; a failing startup stops the server with the app's
message; `--lifespan on|off|auto` with apps that do and do not support lifespan.

`apps.asgi_scope:app` appends "startup", "request done" (per /sleep) and "shutdown" to
$ASGI_LIFESPAN_RECORD, so the order of events is visible without timing anything.
"""

from __future__ import annotations

import json
import signal
import threading

from conftest import E2E_DIR
from wire import Conn, request
from wsgi_util import get, get_json, read_lines, wait_for_lines

FAILED_MESSAGE = "junction-e2e: the database is unreachable"


def test_startup_before_listening_shutdown_after_drain(start_app, tmp_path):
    """"startup" is recorded before the server listens; SIGTERM lets an in-flight request
    finish (200), then lifespan shutdown runs, then the process exits 0."""
    rec = tmp_path / "lifespan"
    server = start_app("apps.asgi_scope:app", env={"ASGI_LIFESPAN_RECORD": rec})
    assert read_lines(rec) == ["startup"]  # already there when `Listening on` was logged

    result: dict = {}
    conn = Conn(server.address, timeout=30)

    def slow():
        try:
            result["r"] = conn.roundtrip(request("GET", "/sleep?ms=1500"))
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    for _ in range(200):  # wait (≤ 10 s) until the request is inside the app
        if get_json(server, "/stats")["in_flight"] == 1:
            break
        t.join(0.05)
    else:
        raise AssertionError("the slow request never reached the app")
    server.send_signal(signal.SIGTERM)
    t.join(20)
    conn.close()
    assert "error" not in result, result
    assert result["r"].status == 200 and json.loads(result["r"].body)["peak"] >= 1
    assert server.wait(20) == 0, server.dump()
    assert read_lines(rec) == ["startup", "request done", "shutdown"]


def test_state_from_startup_reaches_requests(start_app):
    assert get_json(start_app("apps.asgi_scope:app"), "/state")["state"] == {
        "started": "yes", "items": [1, 2, 3]}


def _fails_to_start(run_junction, *args):
    out = run_junction("--bind", "127.0.0.1:0", "--pythonpath", str(E2E_DIR), *args, timeout=20)
    assert out.returncode != 0, (out.returncode, out.stderr[-2000:])
    assert "Listening on" not in out.stderr, out.stderr[-2000:]
    return out


def test_startup_failed_exits_nonzero_with_the_message(run_junction):
    out = _fails_to_start(run_junction, "apps.asgi_lifespan:failing")
    assert FAILED_MESSAGE in out.stderr, out.stderr[-2000:]


def test_startup_failed_with_lifespan_on(run_junction):
    out = _fails_to_start(run_junction, "--lifespan", "on", "apps.asgi_lifespan:failing")
    assert FAILED_MESSAGE in out.stderr, out.stderr[-2000:]


def test_lifespan_on_requires_support(run_junction):
    """`--lifespan on` with an app that raises on the lifespan scope: the server does not start."""
    _fails_to_start(run_junction, "--lifespan", "on", "apps.asgi_lifespan:unsupported")


def test_lifespan_auto_tolerates_unsupported(start_app):
    server = start_app("apps.asgi_lifespan:unsupported")  # --lifespan auto is the default
    r = get(server, "/")
    assert (r.status, r.body) == (200, b"no lifespan here\n")
    server2 = start_app("--lifespan", "auto", "apps.asgi_lifespan:unsupported")
    assert get(server2, "/").status == 200


def test_lifespan_off_skips_startup_and_shutdown(start_app, tmp_path):
    rec = tmp_path / "lifespan"
    server = start_app("--lifespan", "off", "apps.asgi_scope:app",
                       env={"ASGI_LIFESPAN_RECORD": rec})
    assert get_json(server, "/state")["state"] == {}
    assert server.stop() == 0
    assert read_lines(rec) == []


def test_lifespan_on_with_supporting_app(start_app, tmp_path):
    rec = tmp_path / "lifespan"
    server = start_app("--lifespan", "on", "apps.asgi_scope:app",
                       env={"ASGI_LIFESPAN_RECORD": rec})
    assert get_json(server, "/state")["state"]["started"] == "yes"
    assert server.stop() == 0
    assert wait_for_lines(rec, 2) == ["startup", "shutdown"]
