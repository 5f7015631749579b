"""The admin listener's dashboard in a real browser: headless chromium opens the page that
--admin-bind serves at / while clients load a WSGI and an ASGI app, and the charts, the route
table and the workers table fill in from /status and /metrics.json, with no script error and no
request to any other origin. Skipped where chromium or chromedriver is not installed.

JUNCTION_SCREENSHOT=1 also writes the first test's screenshot to docs/img/dashboard.png."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from conftest import REPO

ADMIN = re.compile(r"Admin listener on (\S+)")
APPS = ("/asgi=apps.asgi_kinds:coro", "/=apps.responses:app")
WAIT = 20.0  # seconds for the page to show what a test waits for
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture
def browser():
    """Headless chromium driven by chromedriver, at a fixed 1400x1000 viewport, keeping the
    console's messages for get_log("browser")."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("needs chromium and chromedriver (Debian: apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # --no-sandbox: the test may run as root (containers), where the sandbox cannot start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.set_page_load_timeout(15)
        # The window's size includes its frame; the page's own size is set here.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {**VIEWPORT, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()


def start_with_admin(start_app, *extra: str):
    """The test apps with an admin listener on a port of its own; returns (server, admin URL)."""
    server = start_app(*APPS, extra=["--admin-bind", "127.0.0.1:0", *extra])
    found = server.stderr.wait_for(
        lambda lines: next((m.group(1) for l in lines if (m := ADMIN.search(l))), None), 15)
    assert found, f"no 'Admin listener on' line\n{server.dump()}"
    return server, found.rstrip("/")


class Load:
    """Paced requests from a background thread to both apps: 200s from each, the WSGI app's
    404 and 500, and the health path; at most `seconds` and `limit` requests, so the rates stay
    non-zero while the page is watched."""

    PATHS = ("/asgi/load", "/list?n=3", "/asgi/other", "/gen", "/missing", "/healthz")

    def __init__(self, base_url: str, seconds: float = 20.0, rate: float = 150.0,
                 limit: int = 3000):
        self.base_url, self.rate, self.limit = base_url, rate, limit
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="dashboard-load", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        try:
            with httpx.Client(base_url=self.base_url, timeout=10) as http:
                for i in range(self.limit):
                    if self.stop.is_set() or time.monotonic() >= self.deadline:
                        return
                    path = "/raise-before" if i % 50 == 49 else self.PATHS[i % len(self.PATHS)]
                    status = http.get(path).status_code
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    self.stop.wait(max(0.0, start + (i + 1) / self.rate - time.monotonic()))
        except BaseException as e:  # noqa: BLE001 - reported by finish()
            self.error = e

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(15)
        assert self.error is None, f"load failed: {self.error!r}"
        assert self.statuses.get(200, 0) > 0 and self.statuses.get(404, 0) > 0, self.statuses


def wait_until(what: str, check, timeout: float = WAIT):
    """Poll check() until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s (last: {value!r})")


def dashboard(driver) -> dict:
    return driver.execute_script("return window.junctionDashboard || {samples: 0}")


def positive(values) -> bool:
    return any(v is not None and v > 0 for v in values or [])


def route_rows(driver) -> list[dict]:
    """The route table as shown: app, route, and the Req/s cell parsed as a number."""
    rows = driver.execute_script("""
        return [...document.querySelectorAll('#routes tbody tr')].map(tr => ({
            app: tr.dataset.app, route: tr.dataset.route,
            rps: tr.querySelector('td.rps').textContent}));""")
    for row in rows:
        row["rps"] = float(row["rps"]) if re.fullmatch(r"[0-9.]+", row["rps"]) else 0.0
    return rows


def worker_rows(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#workers tbody tr')].map(tr => ({
            pid: Number(tr.querySelector('td.pid').textContent),
            state: tr.querySelector('.state').textContent}));""")


def assert_clean(driver, origin: str) -> None:
    """No console errors (script errors, failed loads), and every resource the page loaded came
    from the admin listener itself."""
    try:
        logs = driver.get_log("browser")
    except Exception:  # noqa: BLE001 - a driver without the log endpoint: nothing to check
        logs = []
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    assert not severe, severe
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert names, "the page loaded nothing"
    foreign = [n for n in names if not n.startswith(origin + "/")]
    assert not foreign, foreign


def screenshot(driver, tmp_path: Path, *, for_docs: bool = False) -> None:
    driver.save_screenshot(str(tmp_path / "dashboard.png"))
    if for_docs and os.environ.get("JUNCTION_SCREENSHOT") == "1":
        docs = REPO / "docs/img/dashboard.png"
        docs.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(docs))


def test_dashboard_charts_routes_and_workers_under_load(start_app, browser, tmp_path):
    """Under load on a WSGI and an ASGI app, the page polls, draws non-zero requests/s and p99,
    lists both apps' routes with a non-zero rate and the one serving process as its worker,
    logs no error and loads nothing from another origin."""
    server, admin = start_with_admin(start_app)
    status = httpx.get(admin + "/status", timeout=10).json()
    apps = {a["name"] for a in status["apps"]}
    assert len(apps) == 2, status["apps"]
    load = Load(server.base_url)
    try:
        browser.get(admin + "/")
        assert browser.title == "Junction"
        wait_until("3 samples with requests/s and p99 above 0", lambda: (
            (d := dashboard(browser))["samples"] >= 3
            and positive(d["series"]["requests_per_s"]) and positive(d["series"]["p99_ms"])))
        # Each app's routes are in the table, and at least one of them is being requested.
        wait_until("both apps' routes with requests/s above 0", lambda: (
            {r["app"] for r in route_rows(browser) if r["rps"] > 0} >= apps))
        shown = {(r["app"], r["route"]) for r in route_rows(browser)}
        assert {(r["app"], r["route"]) for r in status["routes"] if r["app"] in apps} <= shown
        d = dashboard(browser)
        for app in apps:
            assert any(positive(series["requests_per_s"]) for key, series in d["routes"].items()
                       if key.startswith(app + " ")), (app, list(d["routes"]))
        points = browser.find_element("id", "chart-requests_per_s").get_attribute("data-points")
        assert int(points) >= 2
        assert browser.find_element("id", "fact-version").text == status["version"]
        workers = worker_rows(browser)
        assert [w["pid"] for w in workers] == [server.proc.pid], workers
        assert_clean(browser, admin)
        if os.environ.get("JUNCTION_SCREENSHOT") == "1":
            # A fuller picture for the docs: the charts while the load runs its course.
            time.sleep(max(0.0, load.deadline - time.monotonic() - 1.5))
    finally:
        screenshot(browser, tmp_path, for_docs=True)
        load.finish()


def test_dashboard_lists_each_worker(start_app, browser, tmp_path):
    """--workers 2: the workers table has two rows, both serving, neither the master."""
    server, admin = start_with_admin(start_app, "--workers", "2")
    try:
        browser.get(admin + "/")
        def two_serving():
            rows = worker_rows(browser)
            return rows if len(rows) == 2 and all(w["state"] == "serving" for w in rows) else None

        workers = wait_until("two serving workers", two_serving)
        pids = {w["pid"] for w in workers}
        assert len(pids) == 2 and server.proc.pid not in pids, workers
        assert_clean(browser, admin)
    finally:
        screenshot(browser, tmp_path)
