"""The Django example (examples/django_site) served by junction, driven over real HTTP with httpx:
pages, a CSRF-protected form, a multipart upload, a streamed response, and the admin.

Django comes from the repo's .venv (--venv); the SQLite database is a fresh file per module,
migrated with the .venv's python.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
from pathlib import Path

import httpx
import pytest

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
VENV = REPO / ".venv"
SITE = REPO / "examples/django_site"
ADMIN_USER, ADMIN_PASSWORD = "admin", "junction-e2e-Pa55word"


@pytest.fixture(scope="module")
def django_db(tmp_path_factory) -> Path:
    """A migrated SQLite database with one superuser."""
    db = tmp_path_factory.mktemp("django") / "db.sqlite3"
    env = dict(os.environ, DJANGO_DB_PATH=str(db), DJANGO_SETTINGS_MODULE="django_site.settings",
               DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD)
    python = str(VENV / "bin/python")
    for args in (["migrate", "--noinput"],
                 ["createsuperuser", "--noinput", "--username", ADMIN_USER,
                  "--email", "admin@example.com"]):
        out = subprocess.run([python, "manage.py", *args], cwd=SITE, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return db


@pytest.fixture
def start_django(start_server, django_db):
    def start(app: str = "django_site.wsgi:application", *extra: str):
        return start_server(
            "--venv", str(VENV), "--chdir", str(SITE), *extra, app,
            env={"DJANGO_SETTINGS_MODULE": "django_site.settings",
                 "DJANGO_DB_PATH": str(django_db), "VIRTUAL_ENV": None},
        )

    return start


@pytest.fixture
def site(start_django):
    server = start_django()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        client.server = server
        yield client


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, f"no CSRF token in the page:\n{html[:2000]}"
    return m.group(1)


def test_index(site):
    """The index page renders."""
    r = site.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Junction Django example" in r.text


def test_unknown_page_is_django_404(site):
    """A path Django does not route is Django's own 404 (DEBUG off: no technical page)."""
    r = site.get("/no/such/page/")
    assert r.status_code == 404
    assert "The requested resource was not found on this server." in r.text
    assert "URLconf" not in r.text  # no DEBUG page


def test_form_post_with_csrf_token(site):
    """GET the form (csrftoken cookie + token in the page), POST it back: 200 and the field echoed."""
    r = site.get("/form/")
    assert r.status_code == 200
    assert "csrftoken" in site.cookies
    token = csrf_token(r.text)
    r = site.post("/form/", data={"csrfmiddlewaretoken": token, "message": "h\u00e9llo <b>&"})
    assert r.status_code == 200, r.text[:2000]
    assert '<output id="echo">h\u00e9llo &lt;b&gt;&amp;</output>' in r.text


def test_form_post_without_token_is_403(site):
    """A POST with the cookie but no token is refused by CsrfViewMiddleware."""
    site.get("/form/")
    r = site.post("/form/", data={"message": "no token"})
    assert r.status_code == 403
    assert "CSRF" in r.text


def test_form_post_without_cookie_is_403(start_django):
    """A POST with a token but no cookie is refused too."""
    server = start_django()
    with httpx.Client(base_url=server.base_url) as a:
        token = csrf_token(a.get("/form/").text)
    with httpx.Client(base_url=server.base_url) as b:
        r = b.post("/form/", data={"csrfmiddlewaretoken": token, "message": "x"})
    assert r.status_code == 403


@pytest.mark.parametrize("size", [1000, 5 * (1 << 20) + 7], ids=["small", "5mib"])
def test_multipart_upload(site, size):
    """A multipart upload reaches the view intact: name, size and SHA-256 match (the 5 MiB one
    goes through Django's temporary-file upload handler)."""
    data = random.Random(size).randbytes(size)
    r = site.post("/upload/", files={"file": ("payload.bin", data, "application/octet-stream")},
                  data={"note": "e2e"})
    assert r.status_code == 200, r.text[:2000]
    assert r.json() == {"name": "payload.bin", "size": size,
                        "sha256": hashlib.sha256(data).hexdigest()}


def test_streaming_view(site):
    """StreamingHttpResponse arrives chunked, every chunk in order."""
    with site.stream("GET", "/stream/?n=6&delay=0.05") as r:
        assert r.status_code == 200
        assert r.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in r.headers
        body = b"".join(r.iter_raw())
    assert body == b"".join(b"chunk %d\n" % i for i in range(6))


def test_admin_login_page(site):
    """/admin/login/ renders the login form; /admin/ redirects to it."""
    r = site.get("/admin/login/")
    assert r.status_code == 200
    assert 'name="username"' in r.text and 'name="password"' in r.text
    csrf_token(r.text)
    r = site.get("/admin/")
    assert r.status_code == 302
    assert r.headers["location"] == "/admin/login/?next=/admin/"


def test_admin_login_and_session(site):
    """Logging in as the superuser sets a session (a database write) and shows the admin index."""
    token = csrf_token(site.get("/admin/login/").text)
    r = site.post("/admin/login/?next=/admin/", data={
        "csrfmiddlewaretoken": token, "username": ADMIN_USER, "password": ADMIN_PASSWORD,
        "next": "/admin/"})
    assert r.status_code == 302, r.text[:2000]
    assert r.headers["location"] == "/admin/"
    assert "sessionid" in site.cookies
    r = site.get("/admin/")
    assert r.status_code == 200
    assert "Site administration" in r.text


def test_admin_login_wrong_password(site):
    """A wrong password re-renders the form with an error (the user table is queried)."""
    token = csrf_token(site.get("/admin/login/").text)
    r = site.post("/admin/login/", data={
        "csrfmiddlewaretoken": token, "username": ADMIN_USER, "password": "wrong"})
    assert r.status_code == 200
    assert "Please enter the correct username and password" in r.text


def test_mounted_under_prefix(start_django):
    """Mounted at /site, Django sees SCRIPT_NAME: its URLs and redirects carry the prefix."""
    server = start_django("/site=django_site.wsgi:application")
    with httpx.Client(base_url=server.base_url) as c:
        r = c.get("/site/form/")
        assert r.status_code == 200
        assert 'action="/site/form/"' in r.text
        token = csrf_token(r.text)
        r = c.post("/site/form/", data={"csrfmiddlewaretoken": token, "message": "mounted"})
        assert r.status_code == 200
        assert '<output id="echo">mounted</output>' in r.text
        r = c.get("/site/admin/")
        assert r.status_code == 302
        assert r.headers["location"] == "/site/admin/login/?next=/site/admin/"
        assert c.get("/form/").status_code == 404


def test_concurrent_requests(site):
    """Many requests at once on the default pool all succeed (threads share the app)."""
    from concurrent.futures import ThreadPoolExecutor

    base = site.server.base_url

    def one(i):
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.get("/stream/?n=3&delay=0.02") if i % 2 else c.get("/")
            return r.status_code

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(one, range(48))) == [200] * 48
