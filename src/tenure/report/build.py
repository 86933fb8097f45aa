"""`build_report` renders the page; `write_report` writes it atomically. One HTML file that works
offline: echarts.min.js (vendored in assets/) and the CSS are inlined, nothing is fetched."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

from tenure.report.fmt import Numbers

MIN_BUYERS = 2  # the analyses compare customers: with fewer there is nothing to compare
STALE_DAYS = 90  # a report this long after the last order says how to see the shop as it was


def build_report(ws, *, as_of: dt.date | None = None, backend: str | None = None) -> str:
    """The report of `as_of` (default: today in the workspace's zone) as one HTML document."""
    return render(context(ws, as_of=as_of or ws.today(), backend=backend))


def write_report(ws, *, as_of: dt.date | None = None, out: str | Path | None = None,
                 backend: str | None = None) -> Path:
    """Write the report (default <workspace>/reports/report-<as_of>.html) and return its path."""
    from tenure.history import write_atomically

    as_of = as_of or ws.today()
    html = build_report(ws, as_of=as_of, backend=backend)
    path = Path(out) if out else ws.root / "reports" / f"report-{as_of.isoformat()}.html"
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path


def context(ws, *, as_of: dt.date, backend: str | None = None) -> dict:
    from tenure.report.figures import key_figures
    from tenure.report.headline import tiles
    from tenure.report.stages import stage_rows
    from tenure.warehouse.backends import analytics_tables

    s = ws.settings
    nums = Numbers(s.workspace.locale, s.workspace.currency)
    k = key_figures(analytics_tables(ws, backend), as_of=as_of, settings=s)
    status = _status(k, nums)
    sections = []
    if k.now.buyers >= MIN_BUYERS:
        from tenure.report.sections import sections as build_sections

        sections = build_sections(ws, as_of=as_of, backend=backend, nums=nums)
    return {
        "shop": ws.root.name, "as_of": nums.date(as_of), "as_of_iso": as_of.isoformat(),
        "timezone": s.workspace.timezone, "currency": s.workspace.currency, "locale": str(nums.locale), "locale_tag": nums.tag,
        "status": status, "notes": _notes(k, nums),
        "tiles": tiles(k, nums) if k.now.customers else [],
        "stages": stage_rows(k.now, s.lifecycle.labels, nums) if k.now.customers else [],
        "sections": sections,
        "charts": {c["id"]: c["figure"] for sec in sections for c in sec["charts"] if c["figure"]},
    }


def _status(k, nums: Numbers) -> str:
    """A plain sentence when there is too little to analyse; empty when the analyses can run."""
    day = nums.date(k.as_of)
    if k.first_order is None and not k.now.customers:
        return ("This workspace holds no customers and no completed orders yet, so there is nothing to "
                "report. Load a shop's data with `tenure ingest`, then run `tenure report` again.")
    if k.first_order is None:
        return (f"No customer has a completed order yet: all {nums.int(k.now.customers)} are leads. "
                "The analyses start with the first purchase.")
    if k.now.buyers == 0:
        return (f"No completed orders on or before {day}: the first is on {nums.date(k.first_order)}. "
                f"Run `tenure report --as-of {k.first_order.isoformat()}` or later to see the analyses.")
    if k.now.buyers < MIN_BUYERS:
        return (f"Only one customer has a completed order by {day}. The analyses compare customers, so "
                "they need at least two buyers; the figures and stages above describe this one.")
    return ""


def _notes(k, nums: Numbers) -> list[str]:
    if k.last_order and (k.as_of - k.last_order).days > STALE_DAYS:
        gap = (k.as_of - k.last_order).days
        return [f"The latest completed order is on {nums.date(k.last_order)}, {nums.int(gap)} days before "
                f"this report's date: `tenure report --as-of {k.last_order.isoformat()}` shows the shop as "
                "it was then."]
    return []


def render(ctx: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["code"] = _code
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "default": _json_default, "allow_nan": False,
                                         "separators": (",", ":")}
    page = env.get_template("template.html.j2")
    return page.render(**ctx, echarts_js=jinja2.filters.Markup(echarts_js()) if ctx["charts"] else "")


def echarts_js() -> str:
    """Apache ECharts, vendored in tenure/report/assets (see its README.md), safe to inline in a <script>."""
    text = (resources.files("tenure.report") / "assets" / "echarts.min.js").read_text(encoding="utf-8")
    return text.replace("</script", "<\\/script")


def _code(text: str):
    """Escape, then show `backticked` commands as code."""
    import re

    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")

