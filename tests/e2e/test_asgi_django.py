"""The Django example (examples/django_site) through Django's ASGI handler
(django_site.asgi:application) with `--lifespan auto`: Django raises on the lifespan scope,
which auto mode tolerates, and the pages, the CSRF form, an upload and a streamed response work.
"""

from __future__ import annotations

import hashlib
import random

import httpx
import pytest

from test_wsgi_django import SITE, VENV, csrf_token, django_db  # noqa: F401  (a fixture)

APP = "django_site.asgi:application"


@pytest.fixture
def site(start_server, django_db):  # noqa: F811
    server = start_server(
        "--venv", str(VENV), "--chdir", str(SITE), "--lifespan", "auto", APP,
        env={"DJANGO_SETTINGS_MODULE": "django_site.settings",
             "DJANGO_DB_PATH": str(django_db), "VIRTUAL_ENV": None},
    )
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.server = server
        yield client


def test_index_renders(site):
    r = site.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Junction Django example" in r.text


def test_form_post_with_csrf_token(site):
    token = csrf_token(site.get("/form/").text)
    r = site.post("/form/", data={"csrfmiddlewaretoken": token, "message": "via asgi"})
    assert r.status_code == 200
    assert '<output id="echo">via asgi</output>' in r.text
    assert site.post("/form/", data={"message": "no token"}).status_code == 403


def test_upload(site):
    data = random.Random(9).randbytes(2 * (1 << 20) + 3)
    r = site.post("/upload/", files={"file": ("p.bin", data, "application/octet-stream")})
    assert r.status_code == 200, r.text[:1000]
    assert r.json() == {"name": "p.bin", "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()}


def test_streaming_view(site):
    with site.stream("GET", "/stream/?n=4&delay=0.01") as r:
        assert r.status_code == 200
        body = b"".join(r.iter_raw())
    assert body == b"".join(b"chunk %d\n" % i for i in range(4))


def test_404_and_admin_redirect(site):
    assert site.get("/no/such/page/").status_code == 404
    r = site.get("/admin/")
    assert r.status_code == 302
    assert r.headers["location"] == "/admin/login/?next=/admin/"
