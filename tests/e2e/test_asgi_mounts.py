"""WSGI and ASGI apps side by side in one process, mounted at path prefixes: the longest prefix
wins, prefixes match whole segments (/apix is not under /api), a WSGI app under a prefix sees
SCRIPT_NAME=prefix and PATH_INFO=the rest, an ASGI app sees root_path=prefix and the full path
(so FastAPI routes match as Starlette expects), and both halves serve correctly under
concurrent load from both at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.sync.client import connect

from conftest import REPO

MOUNTS = ("/api=asgi:apps.fastapi_app:app", "/api/raw=apps.asgi_scope:app",
          "/w=apps.environ_app:app", "/=apps.environ_app:app")


@pytest.fixture
def mixed(start_app):
    server = start_app(*MOUNTS, extra=["--venv", str(REPO / ".venv")])
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.server = server
        yield client


def environ_of(client, path):
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()["environ"]


def test_fastapi_under_prefix(mixed):
    assert mixed.get("/api/items/5", params={"q": "x"}).json() == {"item_id": 5, "q": "x"}
    r = mixed.get("/api/where").json()
    assert (r["root_path"], r["path"], r["url_path"]) == ("/api", "/api/where", "/api/where")
    assert r["url_for"] == f"{mixed.server.base_url}/api/where"
    assert mixed.get("/api/lifespan").json() == {"greeting": "hello from the lifespan"}


def test_prefix_itself_goes_to_the_asgi_app(mixed):
    r = mixed.get("/api")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}  # FastAPI's 404, not the WSGI app


def test_longest_prefix_wins(mixed):
    r = mixed.get("/api/raw/scope/x?k=1")
    s = r.json()
    assert (s["root_path"], s["path"], s["query_string"]) == ("/api/raw", "/api/raw/scope/x", "k=1")


def test_whole_segments_only(mixed):
    env = environ_of(mixed, "/apix/foo")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/apix/foo")
    env = environ_of(mixed, "/wx")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/wx")


def test_wsgi_under_prefix_sees_script_name(mixed):
    env = environ_of(mixed, "/w/rest/of/path?a=b")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/w", "/rest/of/path", "a=b")
    env = environ_of(mixed, "/w")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/w", "")


def test_websocket_under_prefix(mixed):
    url = f"ws://127.0.0.1:{mixed.server.port}/api/ws"
    with connect(url, open_timeout=10, close_timeout=5) as c:
        c.send("mounted")
        assert c.recv(timeout=10) == "echo: mounted"


def test_both_halves_under_concurrent_load(mixed):
    """200 requests from 8 threads, alternating the FastAPI and the WSGI half, on keep-alive
    connections: every one answers 200 with the right body."""
    base = mixed.server.base_url

    def worker(t):
        out = []
        with httpx.Client(base_url=base, timeout=30) as c:
            for j in range(25):
                i = t * 25 + j
                if i % 2:
                    r = c.get(f"/api/items/{i}", params={"q": f"t{t}"})
                    ok = r.status_code == 200 and r.json() == {"item_id": i, "q": f"t{t}"}
                else:
                    r = c.get(f"/w/n/{i}")
                    ok = (r.status_code == 200
                          and r.json()["environ"]["PATH_INFO"] == f"/n/{i}"
                          and r.json()["environ"]["SCRIPT_NAME"] == "/w")
                out.append((i, ok, r.status_code))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [x for chunk in pool.map(worker, range(8)) for x in chunk]
    assert len(results) == 200
    bad = [x for x in results if not x[1]]
    assert not bad, bad[:10]
