"""--config [apps.NAME] and [[routes]]: requests go to apps by host, prefix and method, the most
specific route first; a route's prefix only selects (the app sees the full path) unless
`mount = true`; `junction check-config FILE` prints the route table or every error. Over
HTTP/1.1 and HTTP/2, with a WSGI and an ASGI app, and the mixed Django + FastAPI example."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from conftest import E2E_DIR

REPO = Path(__file__).resolve().parents[2]

ROUTES = f"""
pythonpath = ["{E2E_DIR}"]

[apps.legacy]
target = "wsgi:apps.environ_app:app"

[apps.new]
target = "asgi:apps.asgi_scope:app"

[[routes]]
prefix = "/"
app = "legacy"

[[routes]]
prefix = "/scope"
app = "new"

[[routes]]
prefix = "/scope"
methods = ["POST"]
app = "legacy"

[[routes]]
host = "*.admin.test"
prefix = "/v2"
app = "new"
mount = true
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "junction.toml"
    path.write_text(text)
    return path


def who(response: httpx.Response) -> tuple:
    """Which app answered, and the path and mount point it saw."""
    body = response.json()
    if "environ" in body:
        return "legacy", body["environ"]["PATH_INFO"], body["environ"]["SCRIPT_NAME"]
    return "new", body["path"], body["root_path"]


def test_requests_go_by_host_prefix_and_method(start_server, tmp_path):
    server = start_server("--config", str(write(tmp_path, ROUTES)))
    for http2 in (False, True):
        with httpx.Client(base_url=server.base_url, http1=not http2, http2=http2,
                          timeout=10) as client:
            r = client.get("/scope/orders/7")
            assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
            assert who(r) == ("new", "/scope/orders/7", "")  # the full path, no root_path
            assert who(client.post("/scope/orders", content=b"{}")) == (
                "legacy", "/scope/orders", "")
            assert who(client.get("/scopes")) == ("legacy", "/scopes", "")  # whole segments
            assert who(client.get("/")) == ("legacy", "/", "")
            assert who(client.get("/v2/scope", headers={"Host": "eu.admin.test"})) == (
                "new", "/v2/scope", "/v2")  # mount = true: the prefix is its root_path
            assert who(client.get("/v2/x", headers={"Host": "admin.test"})) == (
                "legacy", "/v2/x", "")  # *.admin.test is its subdomains only
    assert server.stderr.wait_for(lambda lines: any(
        "routed */scope [POST] to legacy (full path)" in l for l in lines), 5), server.dump()


def test_check_config_prints_the_route_table(run_junction, tmp_path):
    config = write(tmp_path, ROUTES)
    result = run_junction("check-config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{config}: the configuration is valid; 4 route(s)"
    assert lines[1].split() == ["HOST", "PREFIX", "METHODS", "APP", "MODE"]
    # Most specific first: the host route, then /scope with methods, then /scope, then /.
    assert [l.split()[:4] for l in lines[2:6]] == [
        ["*.admin.test", "/v2", "*", "new"],
        ["*", "/scope", "POST", "legacy"],
        ["*", "/scope", "*", "new"],
        ["*", "/", "*", "legacy"],
    ]
    # Then the listeners: the default one here.
    assert lines[6:] == ["listeners:", "  127.0.0.1:8000 (plain, HTTP/1.1 and HTTP/2)"]
    assert "mount /v2" in lines[2] and "full path" in lines[3]
    # --check-config is the same, and starts nothing.
    same = run_junction("--check-config", "--config", str(config))
    assert same.returncode == 0 and same.stdout == result.stdout


def test_check_config_reports_every_error_with_its_place(run_junction, tmp_path):
    config = write(tmp_path, """
[apps.legacy]
target = "mysite.wsgi:application"

[apps.broken]
target = "not a module"

[[routes]]
prefix = "/"
app = "legacy"

[[routes]]
prefix = "/"
app = "legacy"

[[routes]]
prefix = "/api"
app = "lgacy"

[[routes]]
prefx = "/x"
app = "legacy"
""")
    result = run_junction("check-config", str(config))
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert errors == [
        f"junction: {config}:6:1: bad APP 'not a module': 'not a module' is not a module name "
        "(expected MODULE[:ATTR])",
        f"junction: {config}:21:1: unknown key 'prefx' in [[routes]]; did you mean 'prefix'?",
        f"junction: {config}:12:1: this route (*/) takes the same requests as the one at line 8 "
        "(*/): it could never answer",
        f"junction: {config}:16:1: the route names app 'lgacy', which no [apps.lgacy] defines; "
        "did you mean 'legacy'?",
    ], result.stderr


def test_the_mixed_example_from_a_config_file(start_server, tmp_path):
    """Django at /, FastAPI mounted at /api: the example scripts/run.sh serves with two APP
    arguments, from a file instead."""
    db = tmp_path / "mixed.sqlite3"
    env = dict(os.environ, MIXED_DB_PATH=str(db))
    out = subprocess.run([str(REPO / ".venv/bin/python"), "examples/mixed/manage.py", "migrate",
                          "--noinput"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    config = write(tmp_path, f"""
chdir = "{REPO / 'examples/mixed'}"

[apps.site]
target = "mixedsite.wsgi:application"

[apps.api]
target = "asgi:api.main:app"

[[routes]]
prefix = "/"
app = "site"

[[routes]]
prefix = "/api"
app = "api"
mount = true
""")
    server = start_server("--config", str(config), env={"MIXED_DB_PATH": db, "VIRTUAL_ENV": None})
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        r = client.post("/api/notes", json={"text": "from fastapi"})
        assert r.status_code == 201, r.text
        assert "<li>from fastapi</li>" in client.get("/").text
        assert client.get("/api/notes").json()[0]["text"] == "from fastapi"
        assert client.get("/apix").status_code == 404  # Django's own 404


def test_an_apps_interface_and_import_path(start_server, tmp_path):
    """[apps.NAME] pythonpath puts the app's directory on the import path; interface forces
    what detection would otherwise decide."""
    server = start_server("--config", str(write(tmp_path, f"""
[apps.scope]
target = "asgi_scope:app"
interface = "asgi"
pythonpath = ["{E2E_DIR / 'apps'}"]

[[routes]]
app = "scope"
""")))
    r = httpx.get(server.base_url + "/scope/where", timeout=10)
    assert r.status_code == 200
    assert r.json()["path"] == "/scope/where"
