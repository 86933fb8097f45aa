"""Plotly figure specs of the analyses, as plain dicts (data + layout) that the page hands to
Plotly.newPlot. Pure: DataFrames in, dicts out; nothing here knows the workspace.

Colours are the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies;
heatmaps use one hue whose lightness carries the value, so they also read in greyscale print.
"""

from __future__ import annotations

import math

import pandas as pd

from tenure.report.fmt import Numbers

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
             "grey": "#999999"}
INK, MUTED = "#1f2328", "#59636e"
SEQUENTIAL = [[0.0, "#f3f8fc"], [0.25, "#c6dff0"], [0.5, "#7fb6dc"], [0.75, "#2f7fba"], [1.0, "#0b3a66"]]
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def layout(nums: Numbers, *, height: int = 360, **extra) -> dict:
    base = {
        "height": height, "separators": nums.separators,
        "font": {"family": FONT, "size": 13, "color": INK},
        "margin": {"l": 70, "r": 20, "t": 16, "b": 56},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "hoverlabel": {"bgcolor": "#ffffff", "font": {"family": FONT, "size": 13}},
        "showlegend": False,
    }
    base.update(extra)
    return base


def axis(title: str, **extra) -> dict:
    return {"title": {"text": title, "standoff": 8}, "gridcolor": "#e6e9ec", "zeroline": False,
            "linecolor": "#b8bfc6", "automargin": True, **extra}


def clean(values) -> list:
    """JSON-ready values: NaN becomes null (a gap in Plotly), numpy scalars plain numbers."""
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


def hover(texts) -> dict:
    """Hover boxes with our own locale-formatted text (Plotly would format numbers in English)."""
    return {"customdata": list(texts), "hovertemplate": "%{customdata}<extra></extra>"}


# -- cohorts ----------------------------------------------------------------------------------
def cohort_heatmap(df: pd.DataFrame, nums: Numbers) -> dict:
    """Retention by first-purchase month (rows, oldest on top) and months since (columns, from 1:
    month 0 is 100% by definition and would wash out the scale)."""
    later = df[df.month >= 1]
    cohorts = sorted(df.cohort.unique())
    months = list(range(1, int(later.month.max()) + 1)) if len(later) else [1]
    cell = {(r.cohort, int(r.month)): r for r in later.itertuples()}
    size = df.groupby("cohort").cohort_size.max()
    z, texts, tips = [], [], []
    for c in cohorts:
        row = [cell.get((c, m)) for m in months]
        z.append(clean([r.retention if r is not None else None for r in row]))
        texts.append([nums.percent(r.retention) if r is not None else "" for r in row])
        tips.append([f"{nums.month(c)} cohort ({nums.int(size[c])} customers)<br>month {m}: "
                     f"{nums.percent(r.retention, 1)} bought ({nums.int(r.active_customers)}), "
                     f"{nums.money(r.revenue)}" if r is not None else "" for r, m in zip(row, months)])
    dense = len(months) > 12 or len(cohorts) > 30
    trace = {"type": "heatmap", "x": months, "y": [f"{nums.month(c)} ({nums.int(size[c])})" for c in cohorts], "z": z,
             "colorscale": SEQUENTIAL, "zmin": 0, "xgap": 1, "ygap": 1,
             "colorbar": {"title": {"text": "bought<br>that month"}, "tickformat": ".0%", "thickness": 12},
             **hover(tips)}
    if not dense:  # numbers in the cells only while they fit
        trace |= {"text": texts, "texttemplate": "%{text}", "textfont": {"size": 11}}
    height = max(260, min(900, 90 + 22 * len(cohorts)))
    return {"data": [trace], "layout": layout(
        nums, height=height,
        xaxis=axis("months since the first purchase", dtick=1 if len(months) <= 24 else 3, side="top",
                   showgrid=False),
        yaxis=axis("first purchase in (customers)", autorange="reversed", type="category", showgrid=False),
        margin={"l": 90, "r": 20, "t": 56, "b": 16})}


# -- funnel -----------------------------------------------------------------------------------
def funnel_bars(df: pd.DataFrame, nums: Numbers) -> dict:
    labels = [f"<b>{nums.int(r.customers)}</b> ({nums.percent(r.overall)})" for r in df.itertuples()]
    tips = []
    for r in df.itertuples():
        what = "every customer starts as a lead" if r.step_number == 0 else f"reached the {r.step}"
        parts = [f"{nums.int(r.customers)} customers ({nums.percent(r.overall, 1)} of all): {what}"]
        if r.conversion == r.conversion and r.step_number > 0:
            parts.append(f"{nums.percent(r.conversion, 1)} of the step before")
        if r.median_days == r.median_days and r.step_number > 1:
            parts.append(f"median {nums.days(r.median_days)} after the previous purchase")
        tips.append("<br>".join(parts))
    colours = [OKABE_ITO["grey"], *[OKABE_ITO["blue"]] * (len(df) - 1)]
    steps = ["all customers" if r.step_number == 0 else r.step for r in df.itertuples()]
    trace = {"type": "bar", "x": steps, "y": clean(df.customers), "marker": {"color": colours},
             "text": labels, "textposition": "outside", "cliponaxis": False, **hover(tips)}
    top = float(df.customers.max() or 1)
    return {"data": [trace], "layout": layout(
        nums, xaxis=axis("", type="category", showgrid=False),
        yaxis=axis("customers", range=[0, top * 1.15], tickformat=",d"))}


# -- Pareto -----------------------------------------------------------------------------------
def concentration_curve(lorenz: pd.DataFrame, pareto: pd.DataFrame, nums: Numbers) -> dict:
    """Share of revenue of the top x% of buyers: the Lorenz curve read from the best customer down."""
    pts = sorted(zip(1 - lorenz.customer_share, 1 - lorenz.revenue_share))
    x, y = [round(p[0], 6) for p in pts], [round(p[1], 6) for p in pts]
    curve = {"type": "scatter", "mode": "lines", "x": x, "y": y, "name": "buyers, best first",
             "line": {"color": OKABE_ITO["blue"], "width": 3},
             **hover(f"top {nums.percent(a)} of buyers: {nums.percent(b, 1)} of revenue" for a, b in zip(x, y))}
    equal = {"type": "scatter", "mode": "lines", "x": [0, 1], "y": [0, 1], "name": "if every buyer spent alike",
             "line": {"color": MUTED, "dash": "dot", "width": 1.5}, "hoverinfo": "skip"}
    marks = {"type": "scatter", "mode": "markers+text", "x": clean(pareto.top_share),
             "y": clean(pareto.revenue_share), "name": "",
             "marker": {"color": OKABE_ITO["vermillion"], "size": 9},
             "text": [f"top {nums.percent(a)}: {nums.percent(b)}"
                      for a, b in zip(pareto.top_share, pareto.revenue_share)],
             "textposition": "bottom right", "textfont": {"size": 12}, "showlegend": False,
             **hover(f"top {nums.percent(a)} of buyers ({nums.int(n)}) bring {nums.percent(b, 1)} of revenue"
                     for a, n, b in zip(pareto.top_share, pareto.customers, pareto.revenue_share))}
    return {"data": [equal, curve, marks], "layout": layout(
        nums, height=380, showlegend=True,
        legend={"orientation": "h", "x": 0, "y": -0.22},
        xaxis=axis("share of buyers, best first", tickformat=".0%", range=[0, 1.0]),
        yaxis=axis("share of revenue", tickformat=".0%", range=[0, 1.02]))}


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
    bins = (kept.days // width).astype(int)
    grouped = kept.groupby(bins).intervals.sum()
    xs = [int(b) * width + (width - 1) / 2 for b in grouped.index]
    label = "days" if width == 1 else "days (weekly bins)"
    tips = [f"{nums.int(n)} intervals of {int(b) * width}" + (f"–{int(b) * width + width - 1}" if width > 1 else "")
            + f" days ({nums.percent(n / total, 1)})" for b, n in grouped.items()]
    bars = {"type": "bar", "x": xs, "y": clean(grouped.values), "width": [width * 0.9] * len(xs),
            "marker": {"color": OKABE_ITO["sky"]}, **hover(tips)}
    shapes, notes = [], []
    lines = [(store_cycle, OKABE_ITO["vermillion"], f"store cycle {nums.days(store_cycle)}"
              + (" (fixed)" if fixed else ""))]
    if median is not None and abs(median - store_cycle) > 1e-9:
        lines.append((median, OKABE_ITO["black"], f"median {nums.days(median)}"))
    for i, (x, colour, text) in enumerate(lines):
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"color": colour, "width": 2.5, "dash": "dash"}})
        notes.append({"x": x, "y": 1 - 0.09 * i, "xref": "x", "yref": "paper", "text": text,
                      "showarrow": False, "xanchor": "left", "xshift": 6, "yanchor": "top",
                      "font": {"color": colour, "size": 14, "weight": "bold"}, "bgcolor": "rgba(255,255,255,0.85)"})
    return {"data": [bars], "layout": layout(
        nums, shapes=shapes, annotations=notes, bargap=0.05,
        xaxis=axis(f"{label} between two purchases of the same customer", range=[0, cut + width]),
        yaxis=axis("intervals", tickformat=",d"))}


def cycle_by_number(df: pd.DataFrame, nums: Numbers) -> dict:
    names = [f"to the {p} purchase" for p in df.purchase_number]
    tips = [f"{n}: median {nums.days(m)}, mean {nums.days(a)} ({nums.int(k)} intervals)"
            for n, m, a, k in zip(names, df.median_days, df.mean_days, df.intervals)]
    trace = {"type": "bar", "x": names, "y": clean(df.median_days), "marker": {"color": OKABE_ITO["blue"]},
             "text": [nums.days(m) for m in df.median_days], "textposition": "outside", "cliponaxis": False,
             **hover(tips)}
    top = float(df.median_days.max() or 1)
    return {"data": [trace], "layout": layout(
        nums, height=320, xaxis=axis("", type="category", showgrid=False),
        yaxis=axis("median days", range=[0, top * 1.2]))}


# -- RFM grid ---------------------------------------------------------------------------------
def rfm_heatmap(df: pd.DataFrame, nums: Numbers) -> dict:
    """Buyers by recency score (rows, 5 = most recent on top) and frequency score (columns)."""
    cell = {(int(r.r), int(r.f)): r for r in df.itertuples()}
    total = float(df.customers.sum()) or 1.0
    z, texts, tips = [], [], []
    for r in range(1, 6):
        row = [cell.get((r, f)) for f in range(1, 6)]
        z.append([c.customers if c is not None else None for c in row])
        texts.append([f"{nums.int(c.customers)}<br>{nums.percent(c.revenue_share, 1 if c.revenue_share < 0.01 else 0)}"
                      " of rev." if c is not None else "no buyers" for c in row])
        tips.append([f"R {r}, F {f}: {nums.int(c.customers)} buyers ({nums.percent(c.customers / total, 1)}), "
                     f"{nums.percent(c.revenue_share, 1)} of revenue, mean spend {nums.money(c.mean_spend)}"
                     if c is not None else f"R {r}, F {f}: nobody" for f, c in zip(range(1, 6), row)])
    trace = {"type": "heatmap", "x": [1, 2, 3, 4, 5], "y": [1, 2, 3, 4, 5], "z": [clean(v) for v in z],
             "colorscale": SEQUENTIAL, "zmin": 0, "xgap": 2, "ygap": 2, "text": texts,
             "texttemplate": "%{text}", "textfont": {"size": 12},
             "colorbar": {"title": {"text": "buyers"}, "thickness": 12}, **hover(tips)}
    return {"data": [trace], "layout": layout(
        nums, height=420,
        xaxis=axis("F: frequency (5 = most often)", dtick=1, showgrid=False),
        yaxis=axis("R: recency (5 = most recent)", dtick=1, showgrid=False))}
