"""The ASGI HTTP connection scope (ASGI spec 2.4) as an app sees it, app shapes the server
detects (ASGI 3 function, object with an async __call__, ASGI 2 class), and the lifespan state
each request gets. The app is `apps.asgi_scope:app`, which answers its scope as JSON (bytes as
latin-1 strings, tuples as lists).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import E2E_DIR, REPO
from wire import Conn, request
from wsgi_util import assert_serves, get, get_json

APP = "apps.asgi_scope:app"
VENV = REPO / ".venv"  # has uvloop (requirements.txt)


@pytest.fixture
def server(start_app):
    return start_app(APP)


def test_http_scope(server):
    """Every key of the HTTP scope: path percent-decoded (UTF-8), raw_path as sent without the
    query, headers lower-cased bytes in order with duplicates, client and server addresses."""
    target = "/scope/caf%C3%A9/a%2Fb?x=1&y=%20z"
    with Conn(server.address) as c:
        r = c.roundtrip(request("GET", target, headers=[
            ("X-Dup", "one"), ("X-Mixed-Case", "Value Kept"), ("X-Dup", "two")]))
        client_port = c.local_port
    assert r.status == 200, (r.status, r.body[:500])
    s = json.loads(r.body)
    assert s["type"] == "http"
    assert s["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert s["http_version"] == "1.1"
    assert s["method"] == "GET"
    assert s["scheme"] == "http"
    assert s["path"] == "/scope/caf\u00e9/a/b"
    assert s["raw_path"] == "/scope/caf%C3%A9/a%2Fb"
    assert s["query_string"] == "x=1&y=%20z"
    assert s["root_path"] == ""
    t = s["types"]
    assert (t["path"], t["raw_path"], t["query_string"], t["root_path"]) == (
        "str", "bytes", "bytes", "str")
    assert t["headers"] in ("list", "tuple") and t["extensions"] == "dict"
    assert s["header_types"] == ["bytes,bytes"]
    headers = s["headers"]
    assert ["host", "localhost"] in headers
    assert [h for h in headers if h[0] in ("x-dup", "x-mixed-case")] == [
        ["x-dup", "one"], ["x-mixed-case", "Value Kept"], ["x-dup", "two"]]
    assert s["client"] == ["127.0.0.1", client_port]
    assert s["server"] == ["127.0.0.1", server.port]
    assert isinstance(s["state"], dict)


def test_post_scope_method_and_body_headers(server):
    """A POST's method and its Content-Length header reach the scope."""
    with Conn(server.address) as c:
        r = c.roundtrip(request("POST", "/scope", body=b"abc"))
    s = json.loads(r.body)
    assert s["method"] == "POST"
    assert ["content-length", "3"] in s["headers"]


def test_empty_query_and_root_path(server):
    s = get_json(server, "/scope")
    assert (s["path"], s["raw_path"], s["query_string"], s["root_path"]) == ("/scope", "/scope", "", "")


def test_mounted_app_sees_root_path_and_full_path(start_app):
    """Mounted at /pre, the app's root_path is /pre and path is the whole path (ASGI: path
    includes root_path); /prefix is not under /pre."""
    server = start_app(f"/pre={APP}")
    s = get_json(server, "/pre/scope/x?k=v")
    assert (s["root_path"], s["path"], s["raw_path"], s["query_string"]) == (
        "/pre", "/pre/scope/x", "/pre/scope/x", "k=v")
    assert get(server, "/prefix/scope").status == 404


@pytest.mark.parametrize("spec, kind", [
    ("apps.asgi_kinds:coro", "coro"),
    ("apps.asgi_kinds:instance", "instance"),
    ("apps.asgi_kinds:Asgi2App", "asgi2"),
    ("asgi:apps.asgi_kinds:Asgi2App", "asgi2"),
    ("asgi:apps.asgi_kinds:coro", "coro"),
])
def test_app_shapes_are_detected(start_app, spec, kind):
    """An ASGI 3 coroutine function, an object with an async __call__ and an ASGI 2 class are
    each detected (or forced with asgi:) and served."""
    server = start_app(spec)
    for _ in range(2):  # the ASGI 2 class is instantiated per request
        r = get_json(server, "/some/path")
        assert r == {"kind": kind, "path": "/some/path", "root_path": ""}


def test_state_is_a_shallow_copy_per_request(server):
    """Every request sees what lifespan startup put in the state; a key a request adds to its
    copy is not seen by the next request."""
    r = get_json(server, "/state")
    assert r == {"has_state": True, "state": {"started": "yes", "items": [1, 2, 3]}}
    r = get_json(server, "/state?set=mine")
    assert r["state"]["mine"] == "set by a request"
    r = get_json(server, "/state")
    assert r["state"] == {"started": "yes", "items": [1, 2, 3]}
    assert_serves(server, "/scope")


@pytest.mark.parametrize("flags, module", [
    (["--loop", "asyncio"], "asyncio."),
    (["--venv", str(VENV), "--loop", "uvloop"], "uvloop."),
    (["--venv", str(VENV)], "uvloop."),  # auto: uvloop when it is importable
    (["--venv", str(VENV), "--loop", "asyncio"], "asyncio."),
])
def test_event_loop_choice(start_app, flags, module):
    server = start_app(APP, extra=flags, env={"VIRTUAL_ENV": None})
    assert get_json(server, "/loop")["loop"].startswith(module)
    assert get_json(server, "/scope")["type"] == "http"


def test_loop_uvloop_without_uvloop_fails_fast(run_junction, tmp_path):
    """`--loop uvloop` where uvloop cannot be imported (a uvloop that raises ImportError comes
    first on the path): the server does not start, and says why."""
    shadow = tmp_path / "shadow" / "uvloop"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("no uvloop here")\n')
    out = run_junction("--bind", "127.0.0.1:0", "--pythonpath", str(shadow.parent),
                       "--loop", "uvloop", "--pythonpath", str(E2E_DIR), APP, timeout=20)
    assert out.returncode != 0
    assert "uvloop" in out.stderr, out.stderr[-2000:]
    assert "Listening on" not in out.stderr
