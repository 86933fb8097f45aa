"""Apache ECharts options of the analyses, as plain JSON-ready dicts: {"height": px, "option": {...}}
that the page hands to `echarts.init(el, null, {renderer: "svg"}).setOption(option)`. Pure:
DataFrames in, dicts out; nothing here knows the workspace.

No code travels in the JSON. Text the reader sees is formatted here, in the workspace's locale
(Numbers), and carried on each data item: `text` (a label on the chart) and `tip` (the hover
box, escaped HTML). Where ECharts asks for a formatter the option names one of the page's few
fixed formatters ("@text", "@tip", "@tips", "@num", "@pct", "@money", "@date", see
template.html.j2); axis ticks use the browser's Intl with the workspace locale and currency.

Colours are the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies;
heatmaps use one hue whose lightness carries the value, so they also read in greyscale print.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from tenure.report.fmt import Numbers

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
             "grey": "#999999"}
INK, MUTED, GRID, AXIS = "#1f2328", "#59636e", "#e6e9ec", "#b8bfc6"
SEQUENTIAL = ["#f3f8fc", "#c6dff0", "#7fb6dc", "#2f7fba", "#0b3a66"]  # evenly spaced stops
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
# The page's formatters (template.html.j2); an option names them, it never carries code.
TEXT, TIP, TIPS, NUM, PCT, MONEY, DATE = "@text", "@tip", "@tips", "@num", "@pct", "@money", "@date"


def figure(*, height: int = 360, grid: dict | None = None, **option) -> dict:
    """A chart: its height in pixels and its ECharts option."""
    base = {
        "animation": False, "backgroundColor": "#ffffff",
        "textStyle": {"fontFamily": FONT, "fontSize": 13, "color": INK},
        "grid": {"left": 12, "right": 24, "top": 20, "bottom": 12, **(grid or {})},
        "tooltip": {"trigger": "item", "formatter": TIP, "confine": True, "backgroundColor": "#ffffff",
                    "borderColor": AXIS, "textStyle": {"fontFamily": FONT, "fontSize": 13, "color": INK}},
    }
    base.update(option)
    return {"height": height, "option": base}


def axis(title: str, kind: str = "value", *, formatter: str | None = None, **extra) -> dict:
    """An axis whose title sits in the middle, moved clear of the tick labels (ECharts 6 keeps
    the labels and the title inside the chart)."""
    out = {"type": kind, "name": title, "nameLocation": "middle", "nameGap": 10,
           "nameTextStyle": {"fontSize": 13, "color": INK},
           "axisLine": {"show": True, "lineStyle": {"color": AXIS}},
           "axisTick": {"lineStyle": {"color": AXIS}},
           "axisLabel": {"color": MUTED, "fontSize": 12, "hideOverlap": True},
           "splitLine": {"show": kind == "value", "lineStyle": {"color": GRID}}}
    if formatter:
        out["axisLabel"]["formatter"] = formatter
    for key, value in extra.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def clean(values) -> list:
    """JSON-ready values: NaN becomes null, numpy scalars plain numbers."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif hasattr(v, "item"):
            v = v.item()
            out.append(None if isinstance(v, float) and math.isnan(v) else v)
        else:
            out.append(v)
    return out


def num(v):
    """One plain number (numpy scalars, NaN as null)."""
    return clean([v])[0]


def tip(*lines: str) -> str:
    """A hover box: our own locale-formatted lines, escaped (ECharts shows tooltips as HTML)."""
    return "<br>".join(html.escape(str(line), quote=False) for line in lines)


def on_colour(value: float, top: float) -> str:
    """Cell text that stays readable on the sequential scale: white on the dark half."""
    return "#ffffff" if top and value / top > 0.55 else INK


def scale(most: float, /, *, text: list[str], **extra) -> dict:
    """The continuous colour scale of a heatmap, from 0 to `most`."""
    return {"type": "continuous", "min": 0, "max": most or 1, "calculable": False, "inRange": {"color": SEQUENTIAL},
            "itemWidth": 12, "text": text, "textStyle": {"color": INK, "fontSize": 12}, **extra}


# -- cohorts ----------------------------------------------------------------------------------
def cohort_heatmap(df: pd.DataFrame, nums: Numbers) -> dict:
    """Retention by first-purchase month (rows, oldest on top) and months since (columns, from 1:
    month 0 is 100% by definition and would wash out the scale)."""
    later = df[df.month >= 1]
    cohorts = sorted(df.cohort.unique())
    months = list(range(1, int(later.month.max()) + 1)) if len(later) else [1]
    cell = {(r.cohort, int(r.month)): r for r in later.itertuples()}
    size = df.groupby("cohort").cohort_size.max()
    top = float(later.retention.max()) if len(later) else 1.0
    dense = len(months) > 12 or len(cohorts) > 30
    data = []
    for j, c in enumerate(cohorts):
        for i, m in enumerate(months):
            r = cell.get((c, m))
            if r is None:
                continue
            item = {"value": [i, j, num(r.retention)],
                    "tip": tip(f"{nums.month(c)} cohort ({nums.int(size[c])} customers)",
                               f"month {m}: {nums.percent(r.retention, 1)} bought ({nums.int(r.active_customers)}), "
                               f"{nums.money(r.revenue)}")}
            if not dense:  # numbers in the cells only while they fit
                item |= {"text": nums.percent(r.retention),
                         "label": {"color": on_colour(float(r.retention), top)}}
            data.append(item)
    height = max(280, min(940, 130 + 22 * len(cohorts)))
    series = {"type": "heatmap", "data": data, "itemStyle": {"borderColor": "#ffffff", "borderWidth": 1},
              "label": {"show": not dense, "formatter": TEXT, "fontSize": 11},
              "emphasis": {"itemStyle": {"borderColor": INK, "borderWidth": 1}}}
    return figure(
        height=height, grid={"top": 24, "bottom": 44, "right": 16},
        xAxis=axis("months since the first purchase", "category", position="top",
                   data=[str(m) for m in months], splitLine={"show": False},
                   axisLabel={"interval": 0 if len(months) <= 24 else 2}),
        yAxis=axis("first purchase in (customers)", "category", inverse=True, splitLine={"show": False},
                   data=[f"{nums.month(c)} ({nums.int(size[c])})" for c in cohorts], axisLabel={"interval": 0}),
        visualMap=scale(top, text=[nums.percent(top), f"share who bought that month: {nums.percent(0)}"],
                        orient="horizontal", left="center", bottom=0, itemHeight=220, formatter=PCT),
        series=[series])


# -- funnel -----------------------------------------------------------------------------------
def funnel_bars(df: pd.DataFrame, nums: Numbers) -> dict:
    data = []
    for r in df.itertuples():
        what = "every customer starts as a lead" if r.step_number == 0 else f"reached the {r.step}"
        parts = [f"{nums.int(r.customers)} customers ({nums.percent(r.overall, 1)} of all): {what}"]
        if r.conversion == r.conversion and r.step_number > 0:
            parts.append(f"{nums.percent(r.conversion, 1)} of the step before")
        if r.median_days == r.median_days and r.step_number > 1:
            parts.append(f"median {nums.days(r.median_days)} after the previous purchase")
        data.append({"value": num(r.customers),
                     "itemStyle": {"color": OKABE_ITO["grey"] if r.step_number == 0 else OKABE_ITO["blue"]},
                     "text": f"{{b|{nums.int(r.customers)}}} ({nums.percent(r.overall)})", "tip": tip(*parts)})
    steps = ["all customers" if r.step_number == 0 else r.step for r in df.itertuples()]
    return figure(
        grid={"bottom": 28},
        xAxis=axis("", "category", data=steps, axisLabel={"interval": 0, "color": INK, "fontSize": 13}),
        yAxis=axis("customers", formatter=NUM, boundaryGap=[0, "12%"], minInterval=1),
        series=[{"type": "bar", "data": data, "barCategoryGap": "20%",
                 "label": {"show": True, "position": "top", "formatter": TEXT, "color": INK, "fontSize": 13,
                           "rich": {"b": {"fontWeight": "bold", "fontSize": 13, "color": INK}}}}])


# -- Pareto -----------------------------------------------------------------------------------
def concentration_curve(lorenz: pd.DataFrame, pareto: pd.DataFrame, nums: Numbers) -> dict:
    """Share of revenue of the top x% of buyers: the Lorenz curve read from the best customer down."""
    pts = sorted(zip(1 - lorenz.customer_share, 1 - lorenz.revenue_share))
    curve_name, equal_name = "buyers, best first", "if every buyer spent alike"
    curve = {"type": "line", "name": curve_name, "showSymbol": False, "clip": False, "z": 3,
             "lineStyle": {"color": OKABE_ITO["blue"], "width": 3}, "itemStyle": {"color": OKABE_ITO["blue"]},
             "data": [{"value": [round(float(a), 6), round(float(b), 6)],
                       "tip": tip(f"top {nums.percent(a)} of buyers: {nums.percent(b, 1)} of revenue")}
                      for a, b in pts]}
    equal = {"type": "line", "name": equal_name, "showSymbol": False, "silent": True, "data": [[0, 0], [1, 1]],
             "lineStyle": {"color": MUTED, "type": "dotted", "width": 1.5}, "itemStyle": {"color": MUTED}}
    marks = {"type": "scatter", "name": "marked", "symbolSize": 9, "z": 4, "clip": False,
             "itemStyle": {"color": OKABE_ITO["vermillion"]},
             "label": {"show": True, "position": "right", "formatter": TEXT, "fontSize": 12, "color": INK,
                       "offset": [0, 8]},
             "data": [{"value": [num(a), num(b)], "text": f"top {nums.percent(a)}: {nums.percent(b)}",
                       "tip": tip(f"top {nums.percent(a)} of buyers ({nums.int(n)}) bring {nums.percent(b, 1)} of revenue")}
                      for a, n, b in zip(pareto.top_share, pareto.customers, pareto.revenue_share)]}
    return figure(
        height=400, grid={"bottom": 52, "right": 32},
        legend={"data": [curve_name, equal_name], "left": 0, "bottom": 0, "itemGap": 24,
                "textStyle": {"fontSize": 13, "color": INK}},
        tooltip={**figure()["option"]["tooltip"], "trigger": "axis", "formatter": TIPS,
                 "axisPointer": {"type": "line", "lineStyle": {"color": AXIS}}},
        xAxis=axis("share of buyers, best first", formatter=PCT, min=0, max=1, interval=0.1),
        yAxis=axis("share of revenue", formatter=PCT, min=0, max=1, interval=0.2),
        series=[equal, curve, marks])


# -- purchase cycles --------------------------------------------------------------------------
def cycle_histogram(intervals: pd.DataFrame, *, store_cycle: float, median: float | None,
                    nums: Numbers, fixed: bool = False) -> dict:
    """Intervals between consecutive purchase days, cut at the 95th percentile (the long tail
    would squeeze the bulk into a few bars); weekly bins when the cut is beyond four months."""
    df = intervals.sort_values("days")
    total = int(df.intervals.sum())
    cum = df.intervals.cumsum() / total
    cut = int(df.days[cum >= 0.95].iloc[0])
    cut = max(cut, int(math.ceil(store_cycle)) + 1)
    width = 7 if cut > 120 else 1
    kept = df[df.days <= cut]
    grouped = kept.groupby((kept.days // width).astype(int)).intervals.sum()
    grouped = grouped.reindex(range(0, cut // width + 1), fill_value=0)  # every bin, empty ones too
    label = "days" if width == 1 else "days (weekly bins)"
    data = [{"value": [int(b) * width + (width - 1) / 2, num(n)],
             "tip": tip(f"{nums.int(n)} intervals of {int(b) * width}"
                        + (f"–{int(b) * width + width - 1}" if width > 1 else "")
                        + f" days ({nums.percent(n / total, 1)})")} for b, n in grouped.items()]
    top = float(grouped.max() or 1)
    lines = [(store_cycle, OKABE_ITO["vermillion"], f"store cycle {nums.days(store_cycle)}"
              + (" (fixed)" if fixed else ""))]
    if median is not None and abs(median - store_cycle) > 1e-9:
        lines.append((median, OKABE_ITO["black"], f"median {nums.days(median)}"))
    marked = [[{"coord": [x, 0], "lineStyle": {"color": colour, "width": 2.5, "type": "dashed"},
                "label": {"show": True, "position": "end", "formatter": text, "color": colour, "fontSize": 14,
                          "fontWeight": "bold", "align": "left", "padding": [0, 0, 0, 4],
                          "backgroundColor": "rgba(255,255,255,0.85)"}},
               {"coord": [x, top * (1.12 - 0.14 * i)]}] for i, (x, colour, text) in enumerate(lines)]
    bars = {"type": "bar", "data": data, "barWidth": "90%", "itemStyle": {"color": OKABE_ITO["sky"]},
            "markLine": {"silent": True, "symbol": ["none", "none"], "data": marked}}
    return figure(
        xAxis=axis(f"{label} between two purchases of the same customer", min=0, max=cut + width,
                   splitLine={"show": False}, axisLabel={"showMaxLabel": False}),
        yAxis=axis("intervals", formatter=NUM, boundaryGap=[0, "24%"], minInterval=1),
        series=[bars])


def cycle_by_number(df: pd.DataFrame, nums: Numbers) -> dict:
    names = [f"to the {p} purchase" for p in df.purchase_number]
    data = [{"value": num(m), "text": nums.days(m),
             "tip": tip(f"{n}: median {nums.days(m)}, mean {nums.days(a)} ({nums.int(k)} intervals)")}
            for n, m, a, k in zip(names, df.median_days, df.mean_days, df.intervals)]
    return figure(
        height=320, grid={"bottom": 28},
        xAxis=axis("", "category", data=names, axisLabel={"interval": 0, "color": INK, "fontSize": 13}),
        yAxis=axis("median days", formatter=NUM, boundaryGap=[0, "12%"]),
        series=[{"type": "bar", "data": data, "barCategoryGap": "30%", "itemStyle": {"color": OKABE_ITO["blue"]},
                 "label": {"show": True, "position": "top", "formatter": TEXT, "color": INK, "fontSize": 13}}])


# -- RFM grid ---------------------------------------------------------------------------------
def rfm_heatmap(df: pd.DataFrame, nums: Numbers) -> dict:
    """Buyers by recency score (rows, 5 = most recent on top) and frequency score (columns)."""
    cell = {(int(r.r), int(r.f)): r for r in df.itertuples()}
    total = float(df.customers.sum()) or 1.0
    top = float(df.customers.max() or 1)
    data = []
    for r in range(1, 6):
        for f in range(1, 6):
            c = cell.get((r, f))
            if c is None:
                data.append({"value": [f - 1, r - 1, 0], "text": "no buyers", "tip": tip(f"R {r}, F {f}: nobody"),
                             "label": {"color": MUTED}})
                continue
            share = nums.percent(c.revenue_share, 1 if c.revenue_share < 0.01 else 0)
            data.append({"value": [f - 1, r - 1, num(c.customers)],
                         "text": f"{nums.int(c.customers)}\n{share} of rev.",
                         "label": {"color": on_colour(float(c.customers), top)},
                         "tip": tip(f"R {r}, F {f}: {nums.int(c.customers)} buyers ({nums.percent(c.customers / total, 1)}), "
                                    f"{nums.percent(c.revenue_share, 1)} of revenue, mean spend {nums.money(c.mean_spend)}")})
    scores = ["1", "2", "3", "4", "5"]
    return figure(
        height=440, grid={"right": 96},
        xAxis=axis("F: frequency (5 = most often)", "category", data=scores, splitLine={"show": False}),
        yAxis=axis("R: recency (5 = most recent)", "category", data=scores, splitLine={"show": False}),
        visualMap=scale(top, text=[f"{nums.int(top)} buyers", "0"], orient="vertical", right=0, top="middle",
                        itemHeight=200, formatter=NUM),
        series=[{"type": "heatmap", "data": data, "itemStyle": {"borderColor": "#ffffff", "borderWidth": 2},
                 "label": {"show": True, "formatter": TEXT, "fontSize": 12, "lineHeight": 16},
                 "emphasis": {"itemStyle": {"borderColor": INK, "borderWidth": 1}}}])
