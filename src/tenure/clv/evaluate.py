"""Fit on a calibration period, predict a holdout, compare with what happened and with a naive
baseline (each customer's historical repeat-purchase rate: x / T per day, 0 when T = 0).

Only customers who bought by the end of calibration are scored: the models predict repeat
purchases of known customers, not the arrival of new ones.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tenure.analytics.features import Tables
from tenure.clv import scoring
from tenure.clv._mle import collapse
from tenure.clv.summary import holdout_purchases, summary_frame
from tenure.errors import TenureError


@dataclass
class Evaluation:
    calibration_end: dt.date
    holdout_days: int
    customers: int
    models: scoring.Models
    metrics: pd.DataFrame        # model and baseline: mae, rmse, predicted_total, actual_total, total_error
    tracking: pd.DataFrame       # day, date, actual, model, baseline (cumulative purchases)

    def to_dict(self) -> dict:
        m = self.metrics.set_index("method")
        return {"calibration_end": self.calibration_end.isoformat(), "holdout_days": self.holdout_days,
                "customers": self.customers,
                **{name: {k: float(v) for k, v in m.loc[name].items()} for name in m.index},
                "bgnbd": self.models.bgnbd.to_dict()}


def evaluate(tables: Tables, *, calibration_end: dt.date, holdout_days: int, unit: str = "weeks",
             include_free: bool = True) -> Evaluation:
    if holdout_days < 1:
        raise TenureError(f"--holdout-days {holdout_days} must be at least 1")
    summary = summary_frame(tables, as_of=calibration_end, include_free=include_free)
    models = scoring.fit(summary, unit=unit)
    bg, k = models.bgnbd, models.bgnbd.days_per_unit
    bought = holdout_purchases(tables, calibration_end=calibration_end, days=holdout_days,
                               include_free=include_free).to_pandas()
    bought = bought[bought.customer_id.isin(summary.customer_id)]
    actual = bought.groupby("customer_id").size().reindex(summary.customer_id, fill_value=0).to_numpy()

    x, t_x, T = (summary[c].to_numpy(dtype="float64") for c in ("x", "t_x", "T"))
    (ux, ut, uT), _, inv = collapse(x, t_x / k, T / k)
    rate = np.divide(x, T, out=np.zeros_like(x), where=T > 0)       # repeat purchase days per day
    predicted = bg.expected_purchases(holdout_days / k, ux, ut, uT)[inv]
    baseline = rate * holdout_days

    metrics = pd.DataFrame([_metrics("BG/NBD", predicted, actual), _metrics("baseline", baseline, actual)])
    days = sorted({*range(7, holdout_days + 1, 7), holdout_days})
    offsets = (pd.to_datetime(bought.day) - pd.Timestamp(calibration_end)).dt.days.to_numpy()
    tracking = pd.DataFrame({
        "day": days,
        "date": [calibration_end + dt.timedelta(days=d) for d in days],
        "actual": [int((offsets <= d).sum()) for d in days],
        "model": [float(bg.expected_purchases(d / k, ux, ut, uT)[inv].sum()) for d in days],
        "baseline": [float(rate.sum() * d) for d in days],
    })
    return Evaluation(calibration_end, holdout_days, len(summary), models, metrics, tracking)


def _metrics(method: str, predicted: np.ndarray, actual: np.ndarray) -> dict:
    err = predicted - actual
    total_p, total_a = float(predicted.sum()), float(actual.sum())
    return {"method": method, "mae": float(np.abs(err).mean()), "rmse": math.sqrt(float((err ** 2).mean())),
            "predicted_total": total_p, "actual_total": total_a,
            "total_error": (total_p - total_a) / total_a if total_a else math.nan}
