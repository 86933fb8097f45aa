"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against a real
`tenure serve` of a generated shop with stored snapshots, a campaign with a holdout and tasks.

Every page must open without a console error (a Content-Security-Policy violation is one), a
failed request or an answer of 400 or more; charts must draw. A full-page screenshot of each page
is saved in $TENURE_SCREENSHOTS when set (docs/images/dashboard-*.png come from there), else in
the test's tmp_path, for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.serving import Served, make_shop

VIEWPORT = {"width": 1366, "height": 768}
PAGES = {  # screenshot name -> path; the segment, member and customer pages are reached by clicking
    "overview": "/", "segments": "/segments", "segments-rfm": "/segments?by=rfm", "cohorts": "/cohorts",
    "funnel": "/funnel", "flows": "/flows", "pareto": "/pareto", "loyalty": "/loyalty", "campaigns": "/campaigns",
    "runs": "/runs", "tasks": "/tasks",
}
CHARTS = {"overview": 1, "funnel": 1, "flows": 1, "pareto": 1, "loyalty": 1, "customer": 1}
# A task-only campaign: it needs no mail or SMS server, and fills the campaigns and tasks pages.
CAMPAIGN = """
[campaigns.call-lapsing]
enabled = true
description = "Lapsing customers with a habit: a manager calls them"
trigger = { lifecycle = "lapsing" }
steps = [{ offset_days = 0, channel = "task", template = "reactivation-call" }]
conversion_window_days = 21
holdout_share = 0.2
"""
RUN_DAYS = [dt.date(2025, 10, 6) + dt.timedelta(days=14 * i) for i in range(6)] + [dt.date(2025, 12, 31)]


def chromium() -> str:
    path = os.environ.get("TENURE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Chromium at {path} (set TENURE_CHROMIUM; .ci/run installs it)")
        pytest.skip(f"Chromium not found at {path}: `apt-get install chromium` or set TENURE_CHROMIUM")
    return path


def campaign_shop(root: Path):
    """make_shop's generated shop, with six snapshots from November to 31 December 2025 taken by
    runs that enroll the campaign above and create its tasks; the loyalty programme on, with paid
    memberships for some buyers (tests/test_loyalty_views.py)."""
    from tenure import Workspace
    from tests.test_loyalty_views import add_members, enable_loyalty

    shop = make_shop(root, days=())
    toml = shop.ws.root / "tenure.toml"
    toml.write_text(toml.read_text().replace('quiet_hours = "21:00-08:00"', 'quiet_hours = ""') + CAMPAIGN)
    ws = enable_loyalty(Workspace(shop.ws.root))
    add_members(ws, root / "in")
    for day in RUN_DAYS:
        ws.run(as_of=day, now=dt.datetime.combine(day, dt.time(12)))
    shop.ws = ws
    return shop


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("TENURE_SCREENSHOTS") or tmp_path_factory.mktemp("dashboard-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    exe = chromium()  # skip (or fail in CI) before building the shop
    root = tmp_path_factory.mktemp("dashboard")
    shop = campaign_shop(root)
    with Served(shop.ws.root) as served:
        yield served, shop, exe


class Watch:
    """A page's console errors, uncaught exceptions, failed requests and answers >= 400."""

    def __init__(self, page, allowed: tuple[str, ...] = ()) -> None:
        self.problems: list[str] = []
        self.allowed = allowed
        page.on("console", lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _failed(self, request) -> None:
        # The browser cancels its favicon fetch when the page navigates on: not a failure of ours.
        if request.url.endswith("/favicon.svg") and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.url} {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and not any(a in response.url for a in self.allowed):
            self.problems.append(f"{response.status}: {response.url}")


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=server[2], args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def logged_in(browser, served, shop, watch_allowed=()):
    context = browser.new_context(viewport=VIEWPORT, base_url=served.url)
    page = context.new_page()
    watch = Watch(page, watch_allowed)
    page.goto("/segments")
    assert re.search(r"/login\?next=%2Fsegments$", page.url), page.url  # no session: the login form
    page.fill("#username", shop.user)
    page.fill("#password", shop.password)
    page.click("#login button[type=submit]")
    page.wait_for_url(f"{served.url}/segments")
    return context, page, watch


def settle(page, name: str) -> None:
    """Wait until the page's charts are drawn (charts.js marks the body)."""
    if CHARTS.get(name):
        page.wait_for_selector("body[data-charts]", timeout=30_000)
        drawn = page.evaluate("document.querySelectorAll('.plot svg').length")
        assert drawn >= CHARTS[name], f"{name}: {drawn} charts drawn"


def test_every_page_opens_cleanly_and_a_segment_leads_to_a_customer(server, browser, shots):
    served, shop, _ = server
    context, page, watch = logged_in(browser, served, shop)
    try:
        seconds = {}
        for name, path in PAGES.items():
            start = time.perf_counter()
            response = page.goto(path)
            assert response.status == 200, (path, response.status)
            settle(page, name)
            seconds[name] = round(time.perf_counter() - start, 2)
            assert page.locator("h1").first.inner_text().strip(), path
            assert page.locator("#no-snapshot").count() == 0, path
            page.screenshot(path=str(shots / f"dashboard-{name}.png"), full_page=True)

        print("page load and draw, seconds (first visit, not asserted):", json.dumps(seconds))

        # A label of the lifecycle (lapsing: the campaign's), its members, then the first of them.
        page.goto("/segments?by=lifecycle")
        page.click("#labels tbody td:first-child a:text-is('lapsing')")
        page.wait_for_url(re.compile(r"/segments/lifecycle/lapsing$"))
        assert page.locator("#members tbody tr").count() >= 1
        label = page.locator("h1").inner_text().strip()
        page.screenshot(path=str(shots / "dashboard-members.png"), full_page=True)
        csv = context.request.get(page.get_attribute("#csv", "href"))
        assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
        rows = csv.text().strip().splitlines()
        assert rows[0].startswith("customer_id,") and len(rows) > 1
        assert all(f",{label}," in r for r in rows[1:])

        first = page.locator("#members tbody tr:first-child td:first-child a")
        customer_id = first.inner_text().strip()
        first.click()
        page.wait_for_url(re.compile(rf"/customers/{re.escape(customer_id)}$"))
        settle(page, "customer")
        assert customer_id in page.locator(".page-head").inner_text()
        assert f"Lifecycle stage: {label}" in page.locator("#labels-now").inner_text()
        assert page.locator("#purchases dl").count() == 1
        page.screenshot(path=str(shots / "dashboard-customer.png"), full_page=True)
        assert watch.problems == [], watch.problems

        missing = page.goto("/customers/no-such-customer")  # a 404 on purpose: checked after the others
        assert missing.status == 404 and "No such customer" in page.inner_text("h1")
    finally:
        context.close()


def test_a_post_without_its_csrf_token_is_refused(server, browser):
    served, shop, _ = server
    context, page, watch = logged_in(browser, served, shop)
    try:
        for path, form in (("/runs", {}), ("/runs", {"csrf": "forged"}), ("/logout", {}),
                           ("/tasks/1/done", {"note": "x"})):
            r = context.request.post(served.url + path, form=form, max_redirects=0)
            assert r.status == 403, (path, form, r.status)
            assert "CSRF" in r.text()
        page.goto("/runs")  # still logged in: the refused logout did nothing
        assert page.url.endswith("/runs")
    finally:
        context.close()


def test_a_task_is_marked_done_through_its_form(server, browser, shots):
    served, shop, _ = server
    context, page, watch = logged_in(browser, served, shop)
    try:
        page.goto("/tasks")
        before = page.locator("#open-tasks tbody tr").count()
        assert before >= 1
        row = page.locator("#open-tasks tbody tr").first
        customer = row.locator("td").nth(1).inner_text().strip()
        row.locator("input[name=note]").fill("called, will order next week")
        row.locator("button").click()
        page.wait_for_selector(".flash.ok")
        assert "marked done" in page.inner_text(".flash")
        assert page.locator("#open-tasks tbody tr").count() == before - 1
        done = page.locator("#done-tasks").inner_text()
        assert customer in done and "called, will order next week" in done
    finally:
        context.close()
    assert watch.problems == [], watch.problems


def test_run_now_starts_the_daily_pipeline(server, browser, shots):
    """Last in the module: the run stores a snapshot of today, which changes every page."""
    served, shop, _ = server
    context, page, watch = logged_in(browser, served, shop)
    try:
        page.goto("/runs")
        page.click("#run-now button")
        page.wait_for_selector(".flash.ok")
        started = int(re.search(r"Run (\d+) started", page.inner_text(".flash")).group(1))
        status = ("id => { const row = Array.from(document.querySelectorAll('#runs tbody tr'))"
                  ".find(r => r.cells[0].textContent.trim() === String(id));"
                  " return row ? [row.cells[1].textContent, row.querySelector('.badge').textContent] : null; }")
        assert page.evaluate(status, started)[0].startswith("pipeline")
        assert page.locator("meta[http-equiv=refresh]").count() == 1  # it refreshes while the run goes
        deadline = time.monotonic() + 120
        while page.evaluate(status, started)[1] == "running" and time.monotonic() < deadline:
            time.sleep(1)
            page.goto("/runs")
        assert page.evaluate(status, started)[1] == "ok", page.inner_text("#runs")
        assert page.locator("meta[http-equiv=refresh]").count() == 0
        page.goto("/")  # the overview shows the new snapshot: nothing kept from before the run
        assert "Dec 31, 2025" not in page.inner_text(".page-head .sub")
    finally:
        context.close()
    assert watch.problems == [], watch.problems
