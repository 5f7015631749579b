"""--request-id-header: every request's ID, from a trusted proxy or generated, reaches the app
(WSGI environ, ASGI headers), comes back in the response and is in the access log; an untrusted
client cannot choose it."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from conftest import E2E_DIR

APPS = ("/asgi=apps.asgi_scope:app", "/=apps.environ_app:app")
HEX32 = re.compile(r"[0-9a-f]{32}")


def start(start_server, *extra):
    return start_server("--pythonpath", str(E2E_DIR), "--access-log-format",
                        "{request_id} {path} {status}", *extra, *APPS)


def environ_id(response, key="HTTP_X_REQUEST_ID"):
    return response.json()["environ"].get(key)


def asgi_header(response, name=b"x-request-id"):
    headers = response.json()["headers"]
    return [v for k, v in headers if k == name.decode()]


def logged(server, path):
    def find(lines):
        return [l.split()[0] for l in lines if f" {path} " in l] or None
    return server.stdout.wait_for(find, 5)


def test_a_new_id_reaches_the_app_the_response_and_the_log(start_server):
    server = start(start_server, "--forwarded-allow-ips", "10.9.9.9")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.get("/wsgi-one", headers={"X-Request-ID": "client-chosen"})
        rid = r.headers["x-request-id"]
        assert HEX32.fullmatch(rid)  # the untrusted client's own value was replaced
        assert environ_id(r) == rid
        a = client.get("/asgi/scope")
        assert HEX32.fullmatch(a.headers["x-request-id"])
        assert asgi_header(a) == [a.headers["x-request-id"]]
        assert a.headers["x-request-id"] != rid
    assert logged(server, "/wsgi-one") == [rid]


def test_a_trusted_proxys_id_is_kept_over_http1_and_http2(start_server):
    server = start(start_server)  # 127.0.0.1 is trusted by default
    r = httpx.get(server.base_url + "/via-proxy", headers={"X-Request-ID": "edge-42"}, timeout=10)
    assert r.headers["x-request-id"] == "edge-42"
    assert environ_id(r) == "edge-42"
    with httpx.Client(base_url=server.base_url, http1=False, http2=True, timeout=10) as h2:
        a = h2.get("/asgi/scope", headers={"x-request-id": "edge-43"})
        assert a.http_version == "HTTP/2"
        assert a.headers["x-request-id"] == "edge-43"
        assert asgi_header(a) == ["edge-43"]
        b = h2.get("/h2-new")
        assert HEX32.fullmatch(b.headers["x-request-id"])
        assert environ_id(b) == b.headers["x-request-id"]
    # A value that could break a log line is not kept, even from a trusted proxy.
    r = httpx.get(server.base_url + "/odd", headers={"X-Request-ID": "a b"}, timeout=10)
    assert HEX32.fullmatch(r.headers["x-request-id"])
    assert logged(server, "/via-proxy") == ["edge-42"]


def test_a_custom_header_name_and_turning_ids_off(start_server):
    server = start(start_server, "--request-id-header", "X-Correlation-ID")
    r = httpx.get(server.base_url + "/custom", timeout=10)
    rid = r.headers["x-correlation-id"]
    assert HEX32.fullmatch(rid)
    assert environ_id(r, "HTTP_X_CORRELATION_ID") == rid
    assert "x-request-id" not in r.headers
    off = start(start_server, "--request-id-header", "")
    r = httpx.get(off.base_url + "/off", timeout=10)
    assert "x-request-id" not in r.headers
    assert environ_id(r) is None
    assert logged(off, "/off") == ["-"]


def test_a_bad_header_name_is_one_line_and_exit_2(run_junction):
    result = run_junction("--request-id-header", "X Request", "--pythonpath", str(E2E_DIR),
                          "apps.environ_app:app")
    assert result.returncode == 2
    assert "--request-id-header" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_server_log_names_a_failed_request_by_its_id(start_server):
    """A traceback carries the ID the client was given, so a bug report's X-Request-ID finds it."""
    server = start_server("--pythonpath", str(E2E_DIR), "apps.metrics_app:wsgi")
    r = httpx.get(server.base_url + "/fail", headers={"X-Request-ID": "trace-7"}, timeout=10)
    assert r.status_code == 500 and r.headers["x-request-id"] == "trace-7"
    assert server.stderr.wait_for(lambda lines: any(
        "GET /fail [trace-7]: exception in" in x for x in lines), 5), server.dump()
    generated = httpx.get(server.base_url + "/fail?again=1", timeout=10)
    rid = generated.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert server.stderr.wait_for(lambda lines: any(
        f"GET /fail?again=1 [{rid}]: exception in" in x for x in lines), 5), server.dump()
    assert "metrics_app: /fail fails on purpose" in "\n".join(server.stderr.snapshot())
    with httpx.Client(base_url=server.base_url, http1=False, http2=True, timeout=10) as h2:
        r2 = h2.get("/fail", headers={"x-request-id": "trace-8"})
        assert r2.http_version == "HTTP/2" and r2.status_code == 500
        assert r2.headers["x-request-id"] == "trace-8"
    assert server.stderr.wait_for(lambda lines: any(
        "GET /fail [trace-8]: exception in" in x for x in lines), 5), server.dump()
