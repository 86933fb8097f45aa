"""The one chart the report has no equivalent of: a customer's orders over time, with the days
their lifecycle stage changed. Built with the report's helpers (same look, same formatters)."""

from __future__ import annotations

import datetime as dt

from tenure.report.charts import DATE, MONEY, MUTED, OKABE_ITO, axis, figure, tip
from tenure.report.fmt import Numbers


def order_timeline(orders: list[dict], changes: list[dict], nums: Numbers, *, as_of: str | None) -> dict:
    """orders: the profile's (ordered_at, amount, status, order_id); changes: (as_of, lifecycle). The
    axis runs to the snapshot's day, so the silence since the last order shows."""
    done, other = [], []
    for o in orders:
        when = str(o["ordered_at"])[:19]
        item = {"value": [when, float(o["amount"] or 0)],
                "tip": tip(f"{nums.date(dt.date.fromisoformat(when[:10]))}: {o['order_id']}",
                           f"{nums.money(float(o['amount'] or 0), cents=True)} ({o['status']})")}
        (done if o["status"] == "completed" else other).append(item)
    marks = [{"xAxis": str(c["as_of"])[:10], "label": {"formatter": c["lifecycle"]}} for c in changes if c.get("lifecycle")]
    first = {"type": "scatter", "name": "completed", "data": done, "symbolSize": 10,
             "itemStyle": {"color": OKABE_ITO["blue"]}}
    if marks:
        first["markLine"] = {"silent": True, "symbol": ["none", "none"],
                             "lineStyle": {"color": OKABE_ITO["orange"], "type": "dashed", "width": 1.5},
                             "label": {"position": "insideEndTop", "color": "#8a4b00", "fontSize": 12}, "data": marks}
    series = [first, {"type": "scatter", "name": "cancelled or returned", "data": other, "symbolSize": 9,
                      "symbol": "diamond", "itemStyle": {"color": MUTED, "opacity": 0.7}}]
    return figure(height=240, grid={"left": 16, "right": 24, "top": 28, "bottom": 34},
                  legend={"data": ["completed", "cancelled or returned"], "right": 0, "top": 0,
                          "textStyle": {"fontSize": 12}},
                  xAxis=axis("", "time", formatter=DATE, splitLine={"show": False},
                             **({"max": f"{str(as_of)[:10]}T23:59:59"} if as_of else {})),
                  yAxis=axis("order amount", formatter=MONEY, min=0),
                  series=series)
