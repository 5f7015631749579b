"""The mixed example (examples/mixed) started the way scripts/run.sh starts it — the same
junction arguments, read from the script — on a fresh migrated database: Django's page at /,
FastAPI at /api, /healthz from the gateway, and both halves sharing the one database."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"


def run_sh_args() -> list[str]:
    """The arguments scripts/run.sh gives junction, with its --bind left out and "$@" dropped."""
    text = (REPO / "scripts/run.sh").read_text().replace("\\\n", " ")
    m = re.search(r"^exec \.venv/bin/junction (.*)$", text, re.M)
    assert m, "scripts/run.sh no longer execs .venv/bin/junction"
    args = [a for a in shlex.split(m.group(1)) if a != "$@"]
    i = args.index("--bind")
    assert args[i + 1] == "127.0.0.1:8000"
    del args[i:i + 2]
    assert "/api=asgi:api.main:app" in args and "/=mixedsite.wsgi:application" in args, args
    return [str(REPO / a) if a in (".venv", "examples/mixed") else a for a in args]


@pytest.fixture
def mixed(start_server, tmp_path):
    db = tmp_path / "mixed.sqlite3"
    env = dict(os.environ, MIXED_DB_PATH=str(db))
    out = subprocess.run([str(VENV / "bin/python"), "examples/mixed/manage.py", "migrate",
                          "--noinput"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    args = run_sh_args()
    assert "--health-path" in args  # run.sh's own; the fixture's default would duplicate it
    server = start_server(*args, health_path=None, cwd=REPO,
                          env={"MIXED_DB_PATH": db, "VIRTUAL_ENV": None})
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.server = server
        yield client


def test_both_halves_and_health(mixed):
    r = mixed.get("/")
    assert r.status_code == 200
    assert "Junction mixed example" in r.text and "No notes yet." in r.text
    assert mixed.get("/api/notes").json() == []
    assert mixed.get("/api/health").json() == {"ok": True, "notes": 0}
    r = mixed.get("/healthz")
    assert (r.status_code, r.text) == (200, "ok")
    r = mixed.get("/api/docs")
    assert r.status_code == 200 and "/api/openapi.json" in r.text
    assert mixed.get("/apix").status_code == 404  # Django's 404: /apix is not under /api


def test_django_writes_fastapi_reads(mixed):
    page = mixed.get("/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    r = mixed.post("/", data={"csrfmiddlewaretoken": token, "text": "from django \u00e9"})
    assert r.status_code == 302 and r.headers["location"] == "/"
    notes = mixed.get("/api/notes").json()
    assert [n["text"] for n in notes] == ["from django \u00e9"]


def test_fastapi_writes_django_reads(mixed):
    r = mixed.post("/api/notes", json={"text": "from <fastapi>"})
    assert r.status_code == 201, r.text
    assert "<li>from &lt;fastapi&gt;</li>" in mixed.get("/").text
    assert mixed.post("/api/notes", json={"text": ""}).status_code == 422
