"""Plotly specs of the lifecycle stages over time (flows, history) and of customer value."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tenure.analytics.transitions import NEW
from tenure.report.charts import INK, MUTED, OKABE_ITO, axis, clean, hover, layout
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
    left = {label: i for i, label in enumerate(froms)}
    right = {label: len(froms) + i for i, label in enumerate(tos)}
    names = [f"{'not yet known' if x == NEW else x} ({nums.int(out_n[x])})" for x in froms]
    names += [f"{x} ({nums.int(in_n[x])})" for x in tos]
    colours = [stage_colour(x, labels) for x in [*froms, *tos]]
    tips = [f"{'not yet known' if f == NEW else f} → {t}: {nums.int(n)} customers"
            for f, t, n in zip(df.from_label, df.to_label, df.customers)]
    ys = _column_positions([out_n[x] for x in froms]) + _column_positions([in_n[x] for x in tos])
    trace = {"type": "sankey", "arrangement": "fixed", "valueformat": ",d",
             "node": {"label": names, "color": colours, "pad": 12, "thickness": 16,
                      "x": [0.001] * len(froms) + [0.999] * len(tos), "y": ys,
                      "line": {"color": "#ffffff", "width": 0.5},
                      "hovertemplate": "%{label}<extra></extra>"},
             "link": {"source": [left[f] for f in df.from_label], "target": [right[t] for t in df.to_label],
                      "value": clean(df.customers),
                      "color": [_rgba(stage_colour(f, labels), 0.45) for f in df.from_label],
                      **hover(tips)}}
    heads = [{"x": x, "y": 1.0, "xref": "paper", "yref": "paper", "showarrow": False, "xanchor": anchor,
              "yanchor": "bottom", "text": f"<b>{text} {nums.date(day)}</b>", "font": {"color": INK}}
             for x, anchor, text, day in ((0, "left", "stage on", start), (1, "right", "stage on", end))]
    return {"data": [trace], "layout": layout(nums, height=440, annotations=heads,
                                              margin={"l": 10, "r": 10, "t": 34, "b": 10})}


def _column_positions(sizes: list[float], pad: float = 0.04) -> list[float]:
    """Centres (0 = top) of nodes stacked in the given order, each as tall as its share."""
    total = float(sum(sizes)) or 1.0
    room = max(0.2, 1 - pad * (len(sizes) - 1))
    ys, top = [], 0.0
    for s in sizes:
        h = room * s / total
        ys.append(min(0.999, max(0.001, top + h / 2)))
        top += h + pad
    return ys


def stage_area(df: pd.DataFrame, *, labels: dict[str, str], nums: Numbers) -> dict:
    """Customers by stage in every stored snapshot, stacked."""
    wide = df.pivot_table(index="as_of", columns="label", values="customers", aggfunc="sum").fillna(0)
    wide = wide.sort_index()
    keyed = [labels[k] for k in STACK_ORDER if labels.get(k) in wide.columns]
    other = sorted(c for c in wide.columns if c not in keyed)
    days = [pd.Timestamp(d).date() for d in wide.index]
    total = wide.sum(axis=1)
    traces = []
    for label in [*keyed, *other]:
        colour = stage_colour(label, labels)
        traces.append({
            "type": "scatter", "mode": "lines", "stackgroup": "stages", "name": label,
            "x": [d.isoformat() for d in days], "y": clean(wide[label]),
            "line": {"color": colour, "width": 0.5}, "fillcolor": _rgba(colour, 0.85),
            **hover(f"{nums.date(d)}: {label} {nums.int(v)} ({nums.percent(v / t if t else 0, 1)})"
                    for d, v, t in zip(days, wide[label], total))})
    return {"data": traces, "layout": layout(
        nums, height=380, showlegend=True, legend={"traceorder": "reversed", "x": 1.01, "y": 1},
        margin={"l": 70, "r": 130, "t": 16, "b": 56},
        xaxis=axis("snapshot", type="date", tickformat="%Y-%m-%d",
                   **({"tickvals": [d.isoformat() for d in days]} if len(days) <= 8 else {})),
        yaxis=axis("customers", tickformat=",d"))}


# -- customer value ---------------------------------------------------------------------------
def clv_histogram(bins: pd.DataFrame, *, width: float, nums: Numbers) -> dict:
    """Buyers by expected spend over the next 365 days, in bins of `width` (bin, buyers), cut at
    the 99th percentile: a few very large customers would squeeze everyone into one bar."""
    bins = bins.sort_values("bin")
    xs = [(int(b) + 0.5) * width for b in bins.bin]
    tips = [f"{nums.int(n)} buyers expected to spend {nums.money(b * width)}–{nums.money((b + 1) * width)}"
            for b, n in zip(bins.bin, bins.buyers)]
    bars = {"type": "bar", "x": clean(xs), "y": clean(bins.buyers), "width": [width * 0.92] * len(xs),
            "marker": {"color": OKABE_ITO["green"]}, **hover(tips)}
    return {"data": [bars], "layout": layout(
        nums, bargap=0.05,
        xaxis=axis("expected spend over the next 365 days, per buyer", tickformat=",.0f", **nums.money_axis()),
        yaxis=axis("buyers", tickformat=",d"))}


def clv_by_stage(df: pd.DataFrame, *, labels: dict[str, str], nums: Numbers) -> dict:
    """df: label, clv (sum of clv_365d), customers."""
    total = float(df.clv.sum()) or 1.0
    trace = {"type": "bar", "orientation": "h", "y": list(df.label), "x": clean(df.clv),
             "marker": {"color": [stage_colour(x, labels) for x in df.label],
                        "line": {"color": MUTED, "width": 0.5}},
             "text": [f"{nums.money(v)} ({nums.percent(v / total)})" for v in df.clv],
             "textposition": "outside", "cliponaxis": False,
             **hover(f"{label}: {nums.money(v)} expected from {nums.int(n)} customers"
                     for label, v, n in zip(df.label, df.clv, df.customers))}
    top = float(df.clv.max() or 1)
    return {"data": [trace], "layout": layout(
        nums, height=max(220, 60 + 36 * len(df)), margin={"l": 100, "r": 30, "t": 16, "b": 56},
        xaxis=axis("expected revenue over the next 365 days", range=[0, top * 1.3], tickformat=",.0f",
                   **nums.money_axis()),
        yaxis=axis("", autorange="reversed", type="category"))}
