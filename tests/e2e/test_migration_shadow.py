"""Shadow routes from a --config file: the primary (WSGI) answers every client; a copy of each
GET goes to the shadow (ASGI) once the primary is done, and the answers are compared. /migration
on the admin listener reports the match rate and the differences (the JSON path of a different
field; nothing for ignored paths or scrubbed tokens); a shadow that raises or sleeps never
reaches or delays a client; shadow_max_in_flight bounds the shadows, and what it refuses is
counted. The /migration page shows it all in headless Chromium."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from conftest import E2E_DIR, REPO
from test_admin_dashboard import browser, wait_until  # noqa: F401 - browser: a fixture

ADMIN = re.compile(r"Admin listener on (\S+)")


def config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "junction.toml"
    path.write_text(f"""
pythonpath = ["{E2E_DIR}"]
admin_bind = "127.0.0.1:0"

[apps.old]
target = "wsgi:apps.shadow_pair:primary"
[apps.new]
target = "asgi:apps.shadow_pair:shadow"

[[routes]]
app = "old"
shadow = "new"
shadow_ignore_json = ["$.generated_at", "$.served_by"]
shadow_scrub = ['csrfmiddlewaretoken" value="[^"]+"']
{extra}
""")
    return str(path)


def start(start_server, tmp_path, extra: str = ""):
    server = start_server("--config", config(tmp_path, extra),
                          env={"SHADOW_PAIR_DIR": str(tmp_path)})
    admin = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    assert admin, server.dump()
    return server, admin.rstrip("/")


def report(admin: str) -> dict:
    body = httpx.get(admin + "/migration", timeout=10).json()
    (route,) = body["routes"]
    return route



def test_shadow_reports_the_different_field_and_ignores_the_rest(start_server, tmp_path):
    server, admin = start(start_server, tmp_path)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for path in ("/orders/1", "/orders/2", "/orders/3", "/page", "/page", "/plain"):
            r = client.get(path)
            assert r.status_code == 200
            if path.startswith("/orders"):
                assert r.json()["served_by"] == "the old code"  # always the primary's answer
        # A POST is not shadowed (by default only GET, HEAD and OPTIONS are).
        assert client.post("/orders/9", content=b"{}").status_code == 200
    route = wait_until("six comparisons", lambda: (r := report(admin))["shadow"]["compared"] == 6
                     and r)
    shadow = route["shadow"]
    assert route["mode"] == "shadow"
    assert shadow["matched"] == 5
    assert shadow["match_rate"] == pytest.approx(5 / 6)
    (mismatch,) = shadow["mismatches"]
    assert mismatch["request"] == "GET /orders/2"
    assert mismatch["body"] == "$.quantity"
    assert (mismatch["primary"], mismatch["shadow"]) == ("2", '"2"')
    assert (mismatch["primary_status"], mismatch["shadow_status"]) == (200, 200)
    assert not mismatch["status"] and mismatch["header"] == ""
    # Each side's requests and latency, from the metrics.
    sides = {app["side"]: app for app in route["apps"]}
    assert sides["primary"]["app"] == "old" and sides["primary"]["requests"] == 7
    assert sides["shadow"]["app"] == "new" and sides["shadow"]["requests"] == 6
    assert sides["shadow"]["p50_ms"] is not None
    metrics = httpx.get(admin + "/metrics", timeout=10).text
    assert 'junction_request_duration_seconds_count{app="new",route="/",side="shadow"} 6' \
        in metrics, metrics
    assert (tmp_path / "primary").read_text() == "7"


def test_a_failing_or_slow_shadow_never_reaches_the_client(start_server, tmp_path):
    server, admin = start(start_server, tmp_path)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.get("/raise")
        assert (r.status_code, r.text) == (200, "same for both\n")
        # The shadow's exception became its 500, which the report shows beside the primary's 200.
        route = wait_until("the 500 compared", lambda: (r := report(admin))["shadow"]["compared"]
                         == 1 and r)
        (mismatch,) = route["shadow"]["mismatches"]
        assert (mismatch["status"], mismatch["primary_status"], mismatch["shadow_status"]) == (
            True, 200, 500)
        # The shadow sleeps 3 s: the client has the primary's answer long before the shadow's
        # comparison exists (the shadow starts after the primary's last byte).
        r = client.get("/slow?s=3")
        assert r.status_code == 200
        assert report(admin)["shadow"]["compared"] == 1
    wait_until("the slow one compared", lambda: report(admin)["shadow"]["compared"] == 2, 20)
    assert server.running()
    # The shadow's traceback is logged, as any app's; the client never saw it.
    assert server.stderr.wait_for(
        lambda lines: any("the shadow app fails here" in l for l in lines), 5), server.dump()


def test_shadows_beyond_the_bound_are_not_sent_and_are_counted(start_server, tmp_path):
    server, admin = start(start_server, tmp_path, "shadow_max_in_flight = 2")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for _ in range(10):
            assert client.get("/slow?s=2").status_code == 200
    route = report(admin)
    # Two shadows sleep; the eight requests after them are answered without one.
    assert route["shadow"]["busy"] == 8
    wait_until("the two shadows compared", lambda: report(admin)["shadow"]["compared"] == 2, 20)
    assert (tmp_path / "shadow").read_text() == "2"


def test_shadow_methods_widened_with_a_warning(start_server, tmp_path):
    server, admin = start(start_server, tmp_path, 'shadow_methods = ["GET", "POST"]')
    assert server.stderr.wait_for(lambda lines: any(
        "shadows POST requests: both old and new run their side effects" in l for l in lines),
        5), server.dump()
    assert httpx.post(server.base_url + "/orders/3", content=b"{}", timeout=10).status_code == 200
    wait_until("the POST compared", lambda: report(admin)["shadow"]["compared"] == 1)


def test_check_config_refuses_bad_shadow_keys(run_junction, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("""
[apps.old]
target = "wsgi:apps.shadow_pair:primary"
[apps.new]
target = "asgi:apps.shadow_pair:shadow"

[[routes]]
app = "old"
shadow = "new"
shadow_ignore_json = ["generated_at"]
shadow_scrub = ["(unclosed"]
""")
    result = run_junction("check-config", str(path))
    assert result.returncode == 2
    assert f"{path}:10:1: shadow_ignore_json: a JSON path starts with '$'" in result.stderr
    assert f"{path}:11:1: shadow_scrub: '(unclosed' is not a regular expression" in result.stderr


def test_the_report_sums_every_worker(start_server, tmp_path):
    path = config(tmp_path)
    server = start_server("--config", path, "--workers", "2",
                          env={"SHADOW_PAIR_DIR": str(tmp_path)})
    admin = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    for i in range(20):  # a connection each: both workers take some
        assert httpx.get(f"{server.base_url}/orders/{i % 4}", timeout=10).status_code == 200
    route = wait_until("20 comparisons", lambda: (r := report(admin.rstrip("/")))["shadow"]
                     ["compared"] == 20 and r)
    assert route["shadow"]["matched"] == 15  # /orders/2 differs, five times
    assert len(route["shadow"]["mismatches"]) == 5
    assert {app["side"]: app["requests"] for app in route["apps"]} == {"primary": 20,
                                                                         "shadow": 20}


def test_the_migration_page_in_a_browser(start_server, tmp_path, browser):
    """Headless Chromium on /migration: the route's panel shows both apps and the difference
    the shadow found, refreshed from /migration.json, with no script error.
    JUNCTION_SCREENSHOT=1 also writes docs/img/migration.png."""
    server, admin = start(start_server, tmp_path)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for i in range(40):
            assert client.get(f"/orders/{i % 5}").status_code == 200
        for _ in range(5):
            client.get("/page")
    wait_until("45 comparisons", lambda: report(admin)["shadow"]["compared"] == 45)
    browser.get(admin + "/migration")
    shown = wait_until("the page's data", lambda: browser.execute_script(
        "return window.junctionMigration && window.junctionMigration.routes.length"
        " && document.querySelectorAll('.diffs tbody tr').length"))
    assert shown == 8  # /orders/2, eight times
    page = browser.find_element("css selector", "section[data-mode=shadow]").text
    assert "$.quantity" in page
    assert "Match rate 82.2 %" in page  # 37 of 45
    assert "old" in page and "new" in page
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
    if os.environ.get("JUNCTION_SCREENSHOT") == "1":
        browser.save_screenshot(str(REPO / "docs" / "img" / "migration.png"))
