"""HTTP/2 (h2c prior knowledge) end to end, against a WSGI and an ASGI app in one server
(apps.h2_wsgi at /w, apps.h2_asgi at /a): what the apps see of the request, 5 MiB uploads and
16 MiB downloads checked by hash with three clients (the `h2` library, httpx, nghttp), and 100
concurrent streams on one connection (the `h2` library and h2load)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess

import httpx
import pytest

from apps.h2_wsgi import pattern

APPS = ("/w=apps.h2_wsgi:app", "/a=asgi:apps.h2_asgi:app")
MiB = 1 << 20
BOTH = pytest.mark.parametrize("prefix", ["/w", "/a"], ids=["wsgi", "asgi"])


@pytest.fixture
def server(start_app):
    return start_app(*APPS, extra=["--no-access-log"])


def test_apps_see_http2_and_authority_as_host(server, h2client):
    c = h2client(server.address)
    w = c.get("/w/info", authority="example.test:8443")
    a = c.get("/a/info", authority="example.test:8443")
    assert (w["status"], a["status"]) == (200, 200), (w, a)
    assert json.loads(w["data"]) == {"protocol": "HTTP/2", "host": "example.test:8443",
                                     "method": "GET", "path": "/info"}
    assert json.loads(a["data"]) == {"http_version": "2", "host": "example.test:8443",
                                     "method": "GET", "path": "/info"}


def test_h2_library_upload_and_download(server, h2client):
    body = random.Random(1).randbytes(5 * MiB)
    c = h2client(server.address, timeout=60)
    for prefix in ("/w", "/a"):
        up = c.response(c.request("POST", prefix + "/hash", body=body), timeout=60)
        assert up["status"] == 200, up
        assert json.loads(up["data"]) == {"length": len(body),
                                          "sha256": hashlib.sha256(body).hexdigest()}
        down = c.get(f"{prefix}/download?size={16 * MiB}")
        assert down["status"] == 200 and down["ended"], {k: v for k, v in down.items() if k != "data"}
        assert hashlib.sha256(down["data"]).hexdigest() == \
            hashlib.sha256(pattern(16 * MiB)).hexdigest()


@BOTH
def test_httpx_upload_and_download(server, prefix):
    body = random.Random(2).randbytes(5 * MiB)
    with httpx.Client(http1=False, http2=True, base_url=server.base_url, timeout=60) as client:
        up = client.post(prefix + "/hash", content=body)
        assert up.http_version == "HTTP/2"
        assert up.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        down = client.get(f"{prefix}/download?size={16 * MiB}")
        assert (down.http_version, down.status_code) == ("HTTP/2", 200)
        assert down.headers["content-length"] == str(16 * MiB)
        assert hashlib.sha256(down.content).digest() == hashlib.sha256(pattern(16 * MiB)).digest()


@BOTH
def test_nghttp_upload_and_download(server, prefix, tmp_path):
    if not shutil.which("nghttp"):
        pytest.fail("nghttp is missing (Debian package nghttp2-client; scripts/setup.sh)")
    body = random.Random(3).randbytes(5 * MiB)
    (tmp_path / "up").write_bytes(body)
    up = subprocess.run(["nghttp", "-d", str(tmp_path / "up"), f"{server.base_url}{prefix}/hash"],
                        capture_output=True, timeout=60)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout) == {"length": len(body),
                                     "sha256": hashlib.sha256(body).hexdigest()}
    down = subprocess.run(["nghttp", f"{server.base_url}{prefix}/download?size={16 * MiB}"],
                          capture_output=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert hashlib.sha256(down.stdout).digest() == hashlib.sha256(pattern(16 * MiB)).digest()


@BOTH
def test_100_concurrent_streams_on_one_connection(server, h2client, prefix):
    """100 uploads opened before any is answered (the default --h2-max-concurrent-streams),
    each with its own body, all answered with their own hash."""
    c = h2client(server.address, timeout=30)
    bodies = {}
    for i in range(100):
        body = b"stream %d " % i * (i + 1)
        sid = c.request("POST", prefix + "/hash", end=False)
        c.send_body(sid, body, end=False)
        bodies[sid] = body
    assert len(c.responses) == 100 and c.goaway is None
    for sid in bodies:  # only now does any stream end its request
        c.send_body(sid, b"", end=True)
    assert c.pump(lambda: all(c.done(s) for s in bodies), timeout=30)
    for sid, body in bodies.items():
        r = c.responses[sid]
        assert (r["status"], r["reset"]) == (200, None), (sid, r)
        assert json.loads(r["data"])["sha256"] == hashlib.sha256(body).hexdigest()


@BOTH
def test_h2load_100_streams_on_one_connection(server, prefix):
    if not shutil.which("h2load"):
        pytest.fail("h2load is missing (Debian package nghttp2-client; scripts/setup.sh)")
    out = subprocess.run(["h2load", "-n", "1000", "-c", "1", "-m", "100",
                          f"{server.base_url}{prefix}/info"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", out.stdout)
    assert m, out.stdout
    assert m.groups() == ("1000", "1000", "1000", "0", "0"), out.stdout
    assert "status codes: 1000 2xx" in out.stdout, out.stdout
