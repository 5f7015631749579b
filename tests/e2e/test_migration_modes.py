"""Migration routes from a --config file: fall-through (the new app answers first; its 404 is
replayed to the legacy app, request body and all, across WSGI and ASGI in both directions, over
HTTP/1.1 and HTTP/2) and split (a share of requests per app, sticky by cookie or by client, a
seed for repeatable runs). The access log's {app}, X-Junction-App and /metrics say which app
answered."""

from __future__ import annotations

import hashlib
import os
import re

import httpx

from conftest import E2E_DIR

ADMIN = re.compile(r"Admin listener on (\S+)")
APPS = f"""
pythonpath = ["{E2E_DIR}"]
access_log_format = "{{app}} {{status}} {{method}} {{path}}"

[apps.wsgi_new]
target = "wsgi:apps.migration_pair:wsgi_new"
[apps.wsgi_legacy]
target = "wsgi:apps.migration_pair:wsgi_legacy"
[apps.asgi_new]
target = "asgi:apps.migration_pair:asgi_new"
[apps.asgi_legacy]
target = "asgi:apps.migration_pair:asgi_legacy"
"""

FALLTHROUGH = APPS + """
# WSGI first, ASGI for what it does not do yet (the less usual direction; it works alike).
[[routes]]
prefix = "/shop"
app = "wsgi_new"
fallthrough = "asgi_legacy"
expose_decision = true

# ASGI -> WSGI: FastAPI first, Django for what it does not do yet.
[[routes]]
prefix = "/orders"
app = "asgi_new"
fallthrough = "wsgi_legacy"
fallthrough_max_body = 65536
expose_decision = true
"""


def write(tmp_path, text: str):
    path = tmp_path / "junction.toml"
    path.write_text(text)
    return path


def start(start_server, tmp_path, text: str, *extra: str):
    server = start_server("--config", str(write(tmp_path, text)), "--admin-bind", "127.0.0.1:0",
                          *extra)
    admin = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    assert admin, server.dump()
    return server, admin


def metric(admin: str, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for line in httpx.get(admin + "/metrics", timeout=10).text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def access_lines(server, count: int) -> list[str]:
    lines = server.stdout.wait_for(lambda ls: ls if len(ls) >= count else None, 10)
    assert lines, server.dump()
    return lines


def test_fallthrough_replays_to_the_legacy_app_across_interfaces(start_server, tmp_path):
    server, admin = start(start_server, tmp_path, FALLTHROUGH)
    body = os.urandom(40_000)
    digest = hashlib.sha256(body).hexdigest()
    expected = []
    for http2 in (False, True):
        with httpx.Client(base_url=server.base_url, http1=not http2, http2=http2,
                          timeout=10) as client:
            for prefix, new, legacy in (("/shop", "wsgi_new", "asgi_legacy"),
                                        ("/orders", "asgi_new", "wsgi_legacy")):
                # What the new app does, it answers.
                r = client.get(f"{prefix}/7")
                assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
                assert r.status_code == 200 and r.json()["app"] == new
                assert r.headers["x-junction-app"] == new
                expected.append(f"{new} 200 GET {prefix}/7")
                # Its 404 never reaches the client: the legacy app answers, and reads the same
                # body bytes the new app read first.
                r = client.post(f"{prefix}/todo/7", content=body)
                assert r.status_code == 200, r.text
                answer = r.json()
                assert answer["app"] == legacy
                assert answer["path"] == f"{prefix}/todo/7"
                assert (answer["length"], answer["sha256"]) == (len(body), digest)
                assert r.headers["x-junction-app"] == legacy
                assert "not implemented" not in r.text
                expected.append(f"{legacy} 200 POST {prefix}/todo/7")
                # A response that streams (its head went out) is the new app's.
                r = client.get(f"{prefix}/stream")
                assert (r.status_code, r.text) == (200, "one two three")
                assert r.headers["x-junction-app"] == new
                expected.append(f"{new} 200 GET {prefix}/stream")
    # The access log names the app that answered.
    lines = access_lines(server, len(expected))
    assert sorted(lines[:len(expected)]) == sorted(expected), lines
    # /metrics counts each request under the app that answered, with its side, and the replays
    # under the route's first app.
    assert metric(admin, "junction_fallthrough_replays_total") == 4
    assert metric(admin, "junction_fallthrough_replays_total", app="asgi_new", route="/orders",
                  side="primary") == 2
    assert metric(admin, "junction_requests_total", app="wsgi_legacy", route="/orders",
                  side="fallthrough") == 2
    assert metric(admin, "junction_requests_total", app="asgi_new", route="/orders",
                  side="primary") == 4
    assert metric(admin, "junction_request_duration_seconds_count", app="wsgi_legacy",
                  route="/orders", side="fallthrough") == 2
    # /migration has the same per side, and what the first app handed on.
    report = httpx.get(admin + "/migration", timeout=10).json()
    orders = next(r for r in report["routes"] if r["route"] == "/orders")
    sides = {app["side"]: app for app in orders["apps"]}
    assert sides["primary"]["fell_through"] == {"replayed": 2, "not_replayed": 0}
    assert sides["fallthrough"]["requests"] == 2 and "fell_through" not in sides["fallthrough"]


def test_fallthrough_keeps_the_first_answer_for_a_body_over_the_bound(start_server, tmp_path):
    server, admin = start(start_server, tmp_path, FALLTHROUGH)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.post("/orders/todo/big", content=b"x" * 100_000)  # over 65536
        assert r.status_code == 404
        assert r.text == "not implemented here yet"
        assert r.headers["x-junction-app"] == "asgi_new"
        # Within the bound it is replayed, chunked (no Content-Length) as well.
        r = client.post("/orders/todo/small", content=iter([b"a" * 1000, b"b" * 1000]))
        assert r.status_code == 200 and r.json()["length"] == 2000
    assert metric(admin, "junction_fallthrough_not_replayed_total") == 1
    assert metric(admin, "junction_fallthrough_replays_total") == 1


def split(sticky: str) -> str:
    return APPS + f"""
[[routes]]
prefix = "/orders"
split = {{ asgi_new = 10, wsgi_legacy = 90 }}
sticky = "{sticky}"
split_seed = 1234
expose_decision = true
"""


def test_split_shares_hold_over_2000_requests(start_server, tmp_path):
    server, admin = start(start_server, tmp_path, split("none"), "--no-access-log")
    seen = {"asgi_new": 0, "wsgi_legacy": 0}
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for i in range(2000):
            r = client.get(f"/orders/{i}")
            assert r.status_code == 200
            app = r.json()["app"]
            assert r.headers["x-junction-app"] == app
            assert "set-cookie" not in r.headers  # sticky = "none"
            seen[app] += 1
    share = seen["asgi_new"] / 2000 * 100
    assert 7 <= share <= 13, seen
    assert metric(admin, "junction_requests_total", app="asgi_new", route="/orders") == \
        seen["asgi_new"]
    assert metric(admin, "junction_requests_total", app="wsgi_legacy", route="/orders") == \
        seen["wsgi_legacy"]


def test_split_is_sticky_by_cookie(start_server, tmp_path):
    server, _ = start(start_server, tmp_path, split("cookie"))
    # A client without the cookie gets one naming its app on its first answer...
    r = httpx.get(server.base_url + "/orders/1", timeout=10)
    app = r.json()["app"]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"junction_route={app}; Path=/orders"), cookie
    # ...and keeps that app for as long as it sends it, with no new cookie.
    for http2 in (False, True):
        with httpx.Client(base_url=server.base_url, http1=not http2, http2=http2,
                          cookies={"junction_route": app}, timeout=10) as client:
            for i in range(30):
                r = client.get(f"/orders/{i}")
                assert r.json()["app"] == app
                assert "set-cookie" not in r.headers
    # Both apps are reached by clients without the cookie, each told its own.
    named = set()
    for i in range(60):
        r = httpx.get(server.base_url + f"/orders/{i}", timeout=10)
        assert r.headers["set-cookie"].startswith(f"junction_route={r.json()['app']};")
        named.add(r.json()["app"])
    assert named == {"asgi_new", "wsgi_legacy"}


def test_split_is_sticky_by_client_address(start_server, tmp_path):
    server, _ = start(start_server, tmp_path, split("client"))
    apps = set()
    for i in range(40):
        r = httpx.get(server.base_url + f"/orders/{i}", timeout=10)  # a new connection each
        apps.add(r.json()["app"])
        assert "set-cookie" not in r.headers
    assert len(apps) == 1, apps  # one address, one app


def test_check_config_shows_the_modes_and_refuses_a_bad_split(run_junction, tmp_path):
    path = write(tmp_path, FALLTHROUGH + """
[[routes]]
prefix = "/cart"
split = { asgi_new = 25, wsgi_legacy = 75 }
""")
    result = run_junction("check-config", str(path))
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("listeners:")[0]
    rows = {line.split()[1]: line for line in table.splitlines()[1:] if line.strip()}
    assert "asgi_new,wsgi_legacy" in rows["/orders"]
    assert "fallthrough to wsgi_legacy on 404" in rows["/orders"]
    assert "split asgi_new=25 wsgi_legacy=75 (sticky cookie)" in rows["/cart"]

    path.write_text(APPS + """
[[routes]]
prefix = "/cart"
split = { asgi_new = 25, wsgi_legacy = 70 }
""")
    result = run_junction("check-config", str(path))
    assert result.returncode == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if text.startswith("split"))
    assert f"{path}:{line}:1: the split's shares sum to 95, not 100" in result.stderr
