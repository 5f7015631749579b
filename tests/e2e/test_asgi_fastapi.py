"""A FastAPI app (`apps.fastapi_app:app`) served by junction, driven with httpx and websockets:
path and query parameters, validation errors, a JSON body, a multipart upload, a
StreamingResponse, BackgroundTasks, the lifespan state and a WebSocket endpoint."""

from __future__ import annotations

import hashlib
import random

import httpx
import pytest
from websockets.sync.client import connect

from conftest import REPO
from wsgi_util import wait_for_lines

APP = "apps.fastapi_app:app"
VENV = REPO / ".venv"  # FastAPI comes from the repository's virtualenv


@pytest.fixture
def api(start_app):
    server = start_app(APP, extra=["--venv", str(VENV)])
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.server = server
        yield client


def test_path_and_query_parameters(api):
    r = api.get("/items/42", params={"q": "caf\u00e9 & more"})
    assert r.status_code == 200
    assert r.json() == {"item_id": 42, "q": "caf\u00e9 & more"}
    assert api.get("/items/7").json() == {"item_id": 7, "q": None}


def test_validation_error_is_422(api):
    r = api.get("/items/not-a-number")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_json_body(api):
    r = api.post("/items", json={"name": "widget", "price": 2.5, "quantity": 4})
    assert r.status_code == 200
    assert r.json() == {"name": "widget", "total": 10.0}
    assert api.post("/items", json={"name": "no price"}).status_code == 422


def test_unknown_route_is_fastapi_404(api):
    r = api.get("/no/such/route")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


@pytest.mark.parametrize("size", [10, 3 * (1 << 20) + 1], ids=["small", "3mib"])
def test_form_upload_with_file(api, size):
    data = random.Random(size).randbytes(size)
    r = api.post("/upload", data={"note": "e2e \u00e9"},
                 files={"file": ("payload.bin", data, "application/octet-stream")})
    assert r.status_code == 200, r.text[:1000]
    assert r.json() == {"note": "e2e \u00e9", "name": "payload.bin", "size": size,
                        "sha256": hashlib.sha256(data).hexdigest()}


def test_streaming_response(api):
    with api.stream("GET", "/stream", params={"n": 7}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "content-length" not in r.headers
        body = b"".join(r.iter_raw())
    assert body == b"".join(b"line %d\n" % i for i in range(7))


def test_background_task_runs_after_the_response(api, tmp_path):
    rec = tmp_path / "bg"
    r = api.post("/background", params={"record": str(rec)})
    assert r.status_code == 200 and r.json() == {"scheduled": True}
    assert wait_for_lines(rec, timeout=10) == ["background task ran"]


def test_lifespan_state_reaches_the_request(api):
    assert api.get("/lifespan").json() == {"greeting": "hello from the lifespan"}


def test_where_at_root(api):
    r = api.get("/where").json()
    assert r["root_path"] == "" and r["path"] == "/where" and r["url_path"] == "/where"
    assert r["url_for"] == f"{api.server.base_url}/where"


def test_websocket_echo(api):
    with connect(f"ws://127.0.0.1:{api.server.port}/ws", open_timeout=10, close_timeout=5) as c:
        for text in ("one", "two", "\u00e9\u00e8"):
            c.send(text)
            assert c.recv(timeout=10) == f"echo: {text}"
    assert api.get("/items/1").status_code == 200
