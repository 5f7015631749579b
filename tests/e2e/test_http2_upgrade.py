"""HTTP/2 by `Upgrade: h2c` from HTTP/1.1 (RFC 7540 §3.2) end to end: curl --http2 on an
http:// URL upgrades (curl 7.88 does), the WSGI app (apps.h2_wsgi at /w) sees HTTP/2 for the
upgraded request, and plain HTTP/1.1 on the same port is untouched. Under --http 1 the upgrade
is ignored."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

APPS = ("/w=apps.h2_wsgi:app",)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sv", "--max-time", "10", *args], capture_output=True,
                          text=True, timeout=20)


def test_curl_http2_upgrades_and_the_app_sees_http2(start_app):
    server = start_app(*APPS)
    result = curl("--http2", f"{server.base_url}/w/info")
    assert result.returncode == 0, result.stderr
    assert "Upgrade: h2c" in result.stderr, result.stderr
    assert "HTTP/1.1 101" in result.stderr, result.stderr
    assert "HTTP/2 200" in result.stderr, result.stderr
    assert json.loads(result.stdout) == {"protocol": "HTTP/2", "host": f"127.0.0.1:{server.port}",
                                         "method": "GET", "path": "/info"}


def test_upgrade_then_plain_http1_on_the_same_port(start_app):
    server = start_app(*APPS)
    result = curl("--http2", f"{server.base_url}/healthz")
    assert result.returncode == 0 and "HTTP/2 200" in result.stderr, result.stderr
    assert result.stdout == "ok"
    response = httpx.get(f"{server.base_url}/w/info", timeout=10)
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.json()["protocol"] == "HTTP/1.1"
    # A second upgraded request is served too (a new connection each time).
    again = curl("--http2", f"{server.base_url}/w/info")
    assert "HTTP/2 200" in again.stderr, again.stderr
    assert json.loads(again.stdout)["protocol"] == "HTTP/2"


def test_upgrade_with_a_body_is_served_as_http1(start_app):
    server = start_app(*APPS)
    result = curl("--http2", "--data-binary", "hello", f"{server.base_url}/w/hash")
    assert result.returncode == 0, result.stderr
    assert "HTTP/1.1 101" not in result.stderr, result.stderr
    assert "HTTP/1.1 200" in result.stderr, result.stderr
    assert json.loads(result.stdout)["length"] == 5


def test_http1_only_ignores_the_upgrade(start_app):
    server = start_app(*APPS, extra=["--http", "1"])
    result = curl("--http2", f"{server.base_url}/w/info")
    assert result.returncode == 0, result.stderr
    assert "HTTP/1.1 101" not in result.stderr, result.stderr
    assert "HTTP/1.1 200" in result.stderr, result.stderr
    assert json.loads(result.stdout)["protocol"] == "HTTP/1.1"
