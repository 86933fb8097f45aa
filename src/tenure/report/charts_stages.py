"""ECharts options of the lifecycle stages over time (flows, history) and of customer value."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tenure.analytics.transitions import NEW
from tenure.report.charts import (DATE, FONT, INK, MONEY, MUTED, NUM, OKABE_ITO, TEXT, TIPS, axis, figure, num,
                                  tip)
from tenure.report.fmt import Numbers

# Stage key -> colour: growth stages cool (blue, green), risk warm (orange, vermillion).
STAGE_COLOURS = {"lead": OKABE_ITO["grey"], "new": OKABE_ITO["sky"], "one_time": OKABE_ITO["yellow"],
                 "active": OKABE_ITO["blue"], "reactivated": OKABE_ITO["green"],
                 "lapsing": OKABE_ITO["orange"], "dormant": OKABE_ITO["vermillion"]}
# Bottom to top of the stacked history: the loyal core first, leads last.
STACK_ORDER = ("active", "reactivated", "new", "one_time", "lapsing", "dormant", "lead")


def stage_colour(label: str, labels: dict[str, str]) -> str:
    key = {v: k for k, v in labels.items()}.get(label)
    return STAGE_COLOURS.get(key, OKABE_ITO["black"]) if label != NEW else OKABE_ITO["purple"]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def stage_sankey(df: pd.DataFrame, *, start: dt.date, end: dt.date, labels: dict[str, str],
                 nums: Numbers) -> dict:
    """Customers who changed stage between `start` (left) and `end` (right); '(new)' are customers
    not yet known on `start`. Those who kept their stage are left out: their wide bands would
    hide the moves, and the reading counts them."""
    df = df[df.from_label != df.to_label]
    order = [NEW, *labels.values()]
    rank = {label: i for i, label in enumerate(order)}
    out_n = df.groupby("from_label").customers.sum()
    in_n = df.groupby("to_label").customers.sum()
    froms = sorted(out_n.index, key=lambda x: rank.get(x, 99))
    tos = sorted(in_n.index, key=lambda x: rank.get(x, 99))
    nodes = []  # ids "from:"/"to:" keep a stage on both sides apart; `text` is what shows
    for side, column, counts, position in ((0, froms, out_n, "right"), (1, tos, in_n, "left")):
        for x in column:
            text = f"{'not yet known' if x == NEW and side == 0 else x} ({nums.int(counts[x])})"
            nodes.append({"name": f"{'from' if side == 0 else 'to'}:{x}", "depth": side, "text": text,
                          "tip": tip(text), "itemStyle": {"color": stage_colour(x, labels)},
                          "label": {"position": position}})
    links = [{"source": f"from:{f}", "target": f"to:{t}", "value": num(n),
              "lineStyle": {"color": stage_colour(f, labels), "opacity": 0.45},
              "tip": tip(f"{'not yet known' if f == NEW else f} → {t}: {nums.int(n)} customers")}
             for f, t, n in zip(df.from_label, df.to_label, df.customers)]
    heads = [{"type": "text", side: 4, "top": 4,
              "style": {"text": f"stage on {nums.date(day)}", "fill": INK, "font": f"bold 13px {FONT}"}}
             for side, day in (("left", start), ("right", end))]
    series = {"type": "sankey", "left": 4, "right": 4, "top": 30, "bottom": 8, "nodeWidth": 16, "nodeGap": 18,
              "layoutIterations": 0, "draggable": False, "data": nodes, "links": links,
              "itemStyle": {"borderColor": "#ffffff", "borderWidth": 0.5},
              "lineStyle": {"curveness": 0.5},
              "label": {"formatter": TEXT, "color": INK, "fontSize": 13},
              "emphasis": {"focus": "adjacency"}}
    return figure(height=460, graphic=heads, series=[series])


def stage_area(df: pd.DataFrame, *, labels: dict[str, str], nums: Numbers) -> dict:
    """Customers by stage in every stored snapshot, stacked."""
    wide = df.pivot_table(index="as_of", columns="label", values="customers", aggfunc="sum").fillna(0)
    wide = wide.sort_index()
    keyed = [labels[k] for k in STACK_ORDER if labels.get(k) in wide.columns]
    other = sorted(c for c in wide.columns if c not in keyed)
    days = [pd.Timestamp(d).date() for d in wide.index]
    total = wide.sum(axis=1)
    series = []
    for label in [*keyed, *other]:
        colour = stage_colour(label, labels)
        series.append({
            "type": "line", "stack": "stages", "name": label, "showSymbol": False, "symbol": "circle",
            "lineStyle": {"color": colour, "width": 0.5}, "itemStyle": {"color": colour},
            "areaStyle": {"color": _rgba(colour, 0.85)},
            "data": [{"value": [d.isoformat(), num(v)],
                      "tip": tip(f"{nums.date(d)}: {label} {nums.int(v)} ({nums.percent(v / t if t else 0, 1)})")}
                     for d, v, t in zip(days, wide[label], total)]})
    x = axis("snapshot", "time", formatter=DATE, splitLine={"show": False},
             min=days[0].isoformat(), max=days[-1].isoformat())
    if len(days) <= 8:  # a tick on every snapshot
        ticks = [int(pd.Timestamp(d).timestamp() * 1000) for d in days]
        x["axisLabel"]["customValues"] = ticks
        x["axisTick"] = {**x["axisTick"], "customValues": ticks}
    return figure(
        height=380, grid={"right": 140},
        legend={"data": [s["name"] for s in reversed(series)], "orient": "vertical", "right": 0, "top": 16,
                "icon": "rect", "itemWidth": 14, "itemHeight": 14, "textStyle": {"fontSize": 13, "color": INK}},
        tooltip={"trigger": "axis", "formatter": TIPS, "confine": True, "backgroundColor": "#ffffff",
                 "axisPointer": {"type": "line", "lineStyle": {"color": MUTED}},
                 "textStyle": {"fontFamily": FONT, "fontSize": 13, "color": INK}},
        xAxis=x, yAxis=axis("customers", formatter=NUM, minInterval=1),
        series=series)


# -- customer value ---------------------------------------------------------------------------
def clv_histogram(bins: pd.DataFrame, *, width: float, nums: Numbers) -> dict:
    """Buyers by expected spend over the next 365 days, in bins of `width` (bin, buyers), cut at
    the 99th percentile: a few very large customers would squeeze everyone into one bar."""
    counts = bins.set_index("bin").buyers
    last = max(39, int(counts.index.max())) if len(counts) else 39
    counts = counts.reindex(range(0, last + 1), fill_value=0)  # every bin, empty ones too
    data = [{"value": [(int(b) + 0.5) * width, num(n)],
             "tip": tip(f"{nums.int(n)} buyers expected to spend {nums.money(b * width)}–{nums.money((b + 1) * width)}")}
            for b, n in counts.items()]
    return figure(
        xAxis=axis("expected spend over the next 365 days, per buyer", formatter=MONEY, min=0,
                   max=(last + 1) * width, splitLine={"show": False}, axisLabel={"showMaxLabel": False}),
        yAxis=axis("buyers", formatter=NUM, minInterval=1),
        series=[{"type": "bar", "data": data, "barWidth": "92%", "itemStyle": {"color": OKABE_ITO["green"]}}])


def clv_by_stage(df: pd.DataFrame, *, labels: dict[str, str], nums: Numbers) -> dict:
    """df: label, clv (sum of clv_365d), customers."""
    total = float(df.clv.sum()) or 1.0
    data = [{"value": num(v), "itemStyle": {"color": stage_colour(label, labels), "borderColor": MUTED,
                                             "borderWidth": 0.5},
             "text": f"{nums.money(v)} ({nums.percent(v / total)})",
             "tip": tip(f"{label}: {nums.money(v)} expected from {nums.int(n)} customers")}
            for label, v, n in zip(df.label, df.clv, df.customers)]
    return figure(
        height=max(240, 80 + 36 * len(df)), grid={"right": 40},
        xAxis=axis("expected revenue over the next 365 days", formatter=MONEY, boundaryGap=[0, "25%"]),
        yAxis=axis("", "category", data=list(df.label), inverse=True,
                   axisLabel={"interval": 0, "color": INK, "fontSize": 13}),
        series=[{"type": "bar", "data": data, "barCategoryGap": "25%",
                 "label": {"show": True, "position": "right", "formatter": TEXT, "color": INK, "fontSize": 13}}])
