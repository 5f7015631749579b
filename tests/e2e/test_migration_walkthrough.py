"""docs/migration.md, run as a test: the four steps of moving the example shop's /orders from
Django (WSGI) to FastAPI (ASGI) with the configuration files in examples/migration/steps/, on a
fresh SQLite database. (1) Shadow: the report names the deliberate difference, and after the
fix only what the new service does not do yet; (2) split 10 % then 50 %, sticky by cookie, with
what the new service cannot answer falling through to the shop; (3) the new service takes
/orders, a POST falls through with its body; (4) the shop leaves the route."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import REPO

STEPS = REPO / "examples" / "migration" / "steps"
ADMIN = re.compile(r"Admin listener on (\S+)")


def database(tmp_path) -> str:
    path = tmp_path / "shop.sqlite3"
    subprocess.run([sys.executable, str(REPO / "examples" / "migration" / "setup_db.py")],
                   check=True, env={"MIGRATION_DB": str(path), "PATH": "/usr/bin:/bin"},
                   capture_output=True, timeout=120)
    return str(path)


def serve(start_server, config: Path, db: str, **env):
    """junction on a step's file, from the repository root as the docs say, on ports of its own
    (the command line wins over the file's bind and admin_bind)."""
    server = start_server("--config", str(config), "--admin-bind", "127.0.0.1:0", cwd=REPO,
                          env={"MIGRATION_DB": db, **env})
    admin = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    assert admin, server.dump()
    return server, admin.rstrip("/")


def migration(admin: str) -> dict:
    body = httpx.get(admin + "/migration", timeout=10).json()
    (route,) = [r for r in body["routes"] if "/orders" in r["route"]]
    return route


def settled(admin: str, compared: int) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        route = migration(admin)
        if route["shadow"]["compared"] >= compared:
            return route
        time.sleep(0.1)
    raise AssertionError(f"fewer than {compared} comparisons: {migration(admin)}")


def browse(base: str) -> None:
    """What a user of the shop asks for under /orders."""
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/orders").status_code == 200
        for n in range(1, 6):
            assert client.get(f"/orders/{n}").status_code == 200
        assert client.get("/orders/1/page").status_code == 200


def test_step_1_shadow_finds_the_difference_and_then_none(start_server, tmp_path):
    db = database(tmp_path)
    server, admin = serve(start_server, STEPS / "1-shadow.toml", db)
    browse(server.base_url)
    route = settled(admin, 7)
    found = {m["request"]: m for m in route["shadow"]["mismatches"]}
    for n in range(1, 6):  # the deliberate difference, in every detail
        assert found[f"GET /orders/{n}"]["body"] == "$.quantity"
    # The page is not in the new service yet: 404 there (step 3 lets it fall through).
    assert found["GET /orders/1/page"]["shadow_status"] == 404
    assert "GET /orders" not in found  # the list agrees, generated_at aside
    assert route["shadow"]["matched"] == 1
    server.stop()

    # The fixed service: only the page differs.
    server, admin = serve(start_server, STEPS / "1-shadow.toml", db, NEWORDERS_FIXED="1")
    browse(server.base_url)
    route = settled(admin, 7)
    assert [m["request"] for m in route["shadow"]["mismatches"]] == ["GET /orders/1/page"]
    assert route["shadow"]["matched"] == 6


def share_of_new(base: str, count: int = 200) -> float:
    """Clients without a cookie, each a new one: the share the new service got."""
    new = 0
    for i in range(count):
        r = httpx.get(f"{base}/orders/{1 + i % 5}", timeout=10)
        assert r.status_code == 200
        app = r.headers["x-junction-app"]
        assert r.headers["set-cookie"].startswith(f"junction_route={app}; Path=/orders")
        new += app == "neworders"
    return new / count * 100


def test_step_2_split_10_then_50_percent(start_server, tmp_path):
    db = database(tmp_path)
    server, admin = serve(start_server, STEPS / "2-split.toml", db, NEWORDERS_FIXED="1")
    assert 3 <= share_of_new(server.base_url) <= 20
    # A client on the new side stays there; what the new service cannot do falls through.
    with httpx.Client(base_url=server.base_url, cookies={"junction_route": "neworders"},
                      timeout=10) as client:
        for n in range(1, 6):
            r = client.get(f"/orders/{n}")
            assert r.headers["x-junction-app"] == "neworders"
            assert isinstance(r.json()["quantity"], int)  # the fixed service
        r = client.get("/orders/1/page")
        assert (r.status_code, r.headers["x-junction-app"]) == (200, "shop")
        r = client.post("/orders", json={"customer": "Hedy", "item": "radio", "quantity": 7})
        assert (r.status_code, r.headers["x-junction-app"]) == (201, "shop")
    server.stop()

    half = tmp_path / "2-split-50.toml"
    half.write_text((STEPS / "2-split.toml").read_text().replace(
        "split = { neworders = 10, shop = 90 }", "split = { neworders = 50, shop = 50 }"))
    server, admin = serve(start_server, half, db, NEWORDERS_FIXED="1")
    assert 35 <= share_of_new(server.base_url) <= 65
    sides = {a["app"]: a["requests"] for a in migration(admin)["apps"]}
    assert sides["neworders"] + sides["shop"] == 200


def test_step_3_the_new_service_answers_and_the_rest_falls_through(start_server, tmp_path):
    db = database(tmp_path)
    server, admin = serve(start_server, STEPS / "3-fallthrough.toml", db, NEWORDERS_FIXED="1")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.get("/orders/2")
        assert (r.headers["x-junction-app"], r.json()["quantity"]) == ("neworders", 2)
        # The POST reaches the new service first (405), then the shop with the same body.
        r = client.post("/orders", json={"customer": "Hedy", "item": "radio", "quantity": 7})
        assert (r.status_code, r.headers["x-junction-app"]) == (201, "shop")
        created = r.json()["id"]
        r = client.get(f"/orders/{created}")
        assert r.headers["x-junction-app"] == "neworders"
        assert (r.json()["customer"], r.json()["quantity"]) == ("Hedy", 7)
        r = client.get(f"/orders/{created}/page")
        assert (r.status_code, r.headers["x-junction-app"]) == (200, "shop")
        assert "Hedy" in r.text
    sides = {a["side"]: a["requests"] for a in migration(admin)["apps"]}
    assert sides == {"primary": 2, "fallthrough": 2}


def test_step_4_the_shop_leaves_the_route(start_server, tmp_path):
    db = database(tmp_path)
    server, admin = serve(start_server, STEPS / "4-done.toml", db, NEWORDERS_FIXED="1",
                          NEWORDERS_COMPLETE="1")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.post("/orders", json={"customer": "Hedy", "item": "radio", "quantity": 7})
        assert r.status_code == 201
        created = r.json()["id"]
        assert client.get(f"/orders/{created}").json()["customer"] == "Hedy"
        assert "Hedy" in client.get(f"/orders/{created}/page").text
        assert client.get("/").status_code == 200  # the shop keeps the rest of the site
    metrics = httpx.get(admin + "/metrics", timeout=10).text
    assert 'app="neworders",route="/orders"' in metrics
    assert not re.search(r'app="shop",route="/orders"', metrics)
