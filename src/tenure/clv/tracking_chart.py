"""The weekly cumulative tracking chart of an evaluation: PNG (matplotlib) and HTML (ECharts,
the report's vendored copy, inlined so the file opens offline). Colours from the Okabe-Ito palette (colour-blind safe)."""

from __future__ import annotations

from pathlib import Path

from tenure.clv.evaluate import Evaluation

ACTUAL, MODEL, BASELINE = "#000000", "#0072B2", "#E69F00"


def _title(ev: Evaluation) -> str:
    return (f"Repeat purchases after {ev.calibration_end}: predicted vs actual "
            f"({ev.customers:,} customers, {ev.holdout_days}-day holdout)")


def _reading(ev: Evaluation) -> str:
    m = ev.metrics.set_index("method")
    model, base = m.loc["BG/NBD"], m.loc["baseline"]
    return (f"MAE per customer: BG/NBD {model.mae:.3f}, baseline {base.mae:.3f}. Total: predicted "
            f"{model.predicted_total:,.0f} vs actual {model.actual_total:,.0f} ({model.total_error:+.1%})")


def write_png(ev: Evaluation, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here or on a server
    import matplotlib.pyplot as plt

    t = ev.tracking
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    ax.plot(t.date, t.actual, color=ACTUAL, lw=2.4, label="actual")
    ax.plot(t.date, t.model, color=MODEL, lw=2.2, ls="--", label="BG/NBD prediction")
    ax.plot(t.date, t.baseline, color=BASELINE, lw=2.0, ls=":", label="baseline (historical rate)")
    ax.set_title(_title(ev), fontsize=11.5, loc="left", pad=22)
    ax.text(0, 1.015, _reading(ev), transform=ax.transAxes, fontsize=9.5, color="#444")
    ax.set_ylabel("cumulative repeat purchases")
    ax.set_xlabel("end of week")
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.legend(frameon=False, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_html(ev: Evaluation, path: Path) -> Path:
    """One offline page: the chart (ECharts, vendored with the report and inlined) and the figures."""
    import html
    import json

    from tenure.report.build import echarts_js

    t = ev.tracking
    dates = [d.isoformat() for d in t.date]
    series = [{"name": name, "type": "line", "showSymbol": False, "data": [[d, round(float(v), 2)] for d, v in zip(dates, t[col])],
               "lineStyle": {"color": colour, "type": dash, "width": 2.5}, "itemStyle": {"color": colour}}
              for col, name, colour, dash in (("actual", "actual", ACTUAL, "solid"),
                                              ("model", "BG/NBD prediction", MODEL, "dashed"),
                                              ("baseline", "baseline (historical rate)", BASELINE, "dotted"))]
    option = {"animation": False, "tooltip": {"trigger": "axis"}, "legend": {"bottom": 0},
              "grid": {"left": 70, "right": 30, "top": 20, "bottom": 70},
              "xAxis": {"type": "time", "name": "end of week", "nameLocation": "middle", "nameGap": 30},
              "yAxis": {"type": "value", "name": "cumulative repeat purchases", "nameLocation": "middle", "nameGap": 55},
              "series": series}
    m = ev.metrics.set_index("method")
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{r.mae:.3f}</td><td>{r.rmse:.3f}</td><td>{r.predicted_total:,.0f}</td>"
                   f"<td>{r.actual_total:,.0f}</td><td>{r.total_error:+.1%}</td></tr>" for name, r in m.iterrows())
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>CLV evaluation</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:70rem}"
        "h1{font-size:1.2rem}p{color:#444}#chart{height:480px}table{border-collapse:collapse;margin-top:1rem}"
        "td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:right}td:first-child{text-align:left}"
        f"</style><script>{echarts_js()}</script></head><body><h1>{html.escape(_title(ev))}</h1>"
        f"<p>{html.escape(_reading(ev))}</p><div id='chart'></div>"
        "<table><tr><th>method</th><th>MAE</th><th>RMSE</th><th>predicted</th><th>actual</th><th>error</th></tr>"
        f"{rows}</table><script>var c = echarts.init(document.getElementById('chart'), null, {{renderer: 'svg'}});"
        f"c.setOption({json.dumps(option)}); window.addEventListener('resize', function () {{ c.resize(); }});"
        "</script></body></html>", encoding="utf-8")
    return path
