"""The report in a real browser: Debian's Chromium, driven by Playwright, with the network off.

Every chart must render (an ECharts SVG with marks), the console must stay free of errors, and a
full-page screenshot is saved in tests/artifacts/ for a person to look at. Load times are
printed and written to tests/artifacts/report-timings.json, never asserted (shared machines);
the file size is a property of the file and is asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tenure import Workspace, generate
from tests.conftest import NOW, REPO

ARTIFACTS = REPO / "tests" / "artifacts"
MAX_BYTES = 10 * 1024 * 1024

# Per chart (ECharts' SVG renderer): its SVGs, its filled marks (bars, areas, heatmap cells, points,
# Sankey nodes; not the stroke-only axes and grid), its stroked lines, its texts, and for the
# Sankey its links (bands drawn with Bézier curves) and nodes (plain rectangles).
MARKS = """() => Array.from(document.querySelectorAll('.plot')).map(el => {
  const shapes = Array.from(el.querySelectorAll('svg path, svg rect'))
    .filter(m => m.tagName === 'rect' || (m.getAttribute('d') || '').length > 2);
  const filled = shapes.filter(m => { const f = (m.getAttribute('fill') || '').toLowerCase();
    return f && f !== 'none' && f !== '#fff' && f !== '#ffffff' && f !== 'transparent'
      && m.getAttribute('fill-opacity') !== '0'; });
  const stroked = shapes.filter(m => (m.getAttribute('fill') || '') === 'none' && m.getAttribute('stroke'));
  const curved = shapes.filter(m => /C/.test(m.getAttribute('d') || ''));
  return {
    id: el.id,
    svg: el.querySelectorAll('svg').length,
    marks: filled.length,
    lines: stroked.length,
    texts: Array.from(el.querySelectorAll('svg text')).filter(t => t.textContent.trim()).length,
    links: curved.length,
    nodes: filled.filter(m => !/C/.test(m.getAttribute('d') || '')).length,
    reading: (el.parentElement.querySelector('.reading') || {}).textContent || ''
  };
})"""


def chromium() -> str:
    path = os.environ.get("TENURE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Chromium at {path} (set TENURE_CHROMIUM; .ci/run installs it)")
        pytest.skip(f"Chromium not found at {path}: `apt-get install chromium` or set TENURE_CHROMIUM")
    return path


def open_in_browser(html: Path, name: str) -> dict:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    errors, fetched = [], []

    def only_files(route):
        if route.request.url.startswith("file:"):
            return route.continue_()
        fetched.append(route.request.url)
        return route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            context.route("**/*", only_files)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(html.as_uri())
            page.wait_for_selector("body[data-rendered]", timeout=60_000)
            seconds = time.perf_counter() - start
            charts = page.evaluate(MARKS)
            paint, ready, drawing = page.evaluate(
                "[(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,"
                " performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd, window.tenureRenderMs]")
            shot = ARTIFACTS / f"{name}.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    # first paint: the key figures show; DOM ready: echarts.js is evaluated and the page responds;
    # then the charts are drawn one by one (drawing_ms), all of them by seconds_to_all_charts.
    timing = {"report": name, "bytes": html.stat().st_size, "seconds_to_all_charts": round(seconds, 2),
              "first_paint_ms": round(paint or 0), "dom_ready_ms": round(ready or 0),
              "drawing_ms": round(drawing or 0), "charts": len(charts), "screenshot": str(shot)}
    _record(timing)
    print(json.dumps(timing))
    return {"errors": errors, "fetched": fetched, "charts": charts, "timing": timing}


def _record(timing: dict) -> None:
    path = ARTIFACTS / "report-timings.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[timing["report"]] = timing
    path.write_text(json.dumps(known, indent=2))


def check_rendered(result: dict, expected: set[str]) -> None:
    assert result["errors"] == [], result["errors"]
    assert result["fetched"] == []
    charts = {c["id"]: c for c in result["charts"]}
    assert expected <= set(charts), sorted(charts)
    for cid, c in charts.items():
        assert c["svg"] >= 1, f"{cid}: no ECharts SVG"
        if cid == "chart-flows":
            assert c["nodes"] >= 2 and c["links"] >= 1, f"{cid}: Sankey without nodes or links"
        else:
            assert c["marks"] > 0 and c["lines"] > 0, f"{cid}: an SVG without marks or axes"
        assert c["texts"] > 0, f"{cid}: no text"
        assert len(c["reading"]) > 20, f"{cid}: no reading"


CHARTS = {"chart-history", "chart-flows", "chart-funnel", "chart-cohorts", "chart-cycle",
          "chart-cycle-by-number", "chart-pareto", "chart-rfm", "chart-clv", "chart-clv-by-stage"}


def test_report_of_a_generated_shop_renders_offline(tmp_path):
    generate(customers=3000, seed=7, out=tmp_path / "in", fmt="parquet")
    ws = Workspace.init(tmp_path / "shop", timezone="Europe/London", currency="GBP")
    for entity in ("customers", "orders", "events"):
        ws.ingest(entity, [tmp_path / "in" / f"{entity}.parquet"], now=NOW)
    ws.backfill(start=dt.date(2025, 7, 1), end=dt.date(2025, 12, 1), every_days=30)
    ws.run(as_of=dt.date(2025, 12, 31))
    from tenure.report import write_report

    html = write_report(ws, as_of=dt.date(2025, 12, 31))
    assert html.stat().st_size < MAX_BYTES
    check_rendered(open_in_browser(html, "report-generated-shop"), CHARTS)


def test_report_of_an_empty_workspace_is_a_sentence_in_the_browser(tmp_path):
    from tenure.report import write_report

    ws = Workspace.init(tmp_path / "empty")
    html = write_report(ws, as_of=dt.date(2025, 12, 31))
    # No chart, so no script: the page only has to open cleanly and say why.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context(offline=True).new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            assert "nothing to report" in page.inner_text("#status") and errors == []
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-empty.png"), full_page=True)
        finally:
            browser.close()


@pytest.mark.realdata
def test_report_of_online_retail_ii_renders_offline_and_is_small(shared_data, tmp_path):
    ws = Workspace.init(tmp_path / "retail", timezone="Europe/London", currency="GBP")
    toml = ws.root / "tenure.toml"
    toml.write_text(toml.read_text().replace('locale = "en_US"', 'locale = "en_GB"'))
    ws = Workspace(ws.root)
    ws.ingest("orders", [shared_data / "online-retail-ii" / "online_retail_II_year_2009_2010.parquet"],
              preset="online-retail-ii", now=NOW)
    ws.ingest("orders", [shared_data / "online-retail" / "online_retail.csv.gz"], preset="online-retail", now=NOW)
    ws.backfill(start=dt.date(2010, 12, 9), end=dt.date(2011, 11, 9), every_days=56)
    ws.run(as_of=dt.date(2011, 12, 9))
    from tenure.report import write_report

    html = write_report(ws, as_of=dt.date(2011, 12, 9))
    assert html.stat().st_size < MAX_BYTES
    result = open_in_browser(html, "report-online-retail-ii")
    check_rendered(result, CHARTS)
    text = html.read_text(encoding="utf-8")
    assert "£" in text and "9 Dec 2011" in text
