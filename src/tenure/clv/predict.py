"""Predictions for a snapshot: summarise in the warehouse, fit, score, join back by customer.

The summary runs on the analytics backend (DuckDB or Spark); the fit and the scoring run in numpy
on one row per customer; the scores join the snapshot as a table of its backend
(warehouse.backends.frame_table), so the snapshot stays one Ibis expression written once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.analytics.features import Tables
from tenure.clv import scoring
from tenure.clv._mle import ModelError
from tenure.clv.summary import summary_frame
from tenure.warehouse.backends import frame_table

NO_PURCHASE, UNKNOWN = "none", "unknown"


@dataclass
class Prediction:
    scores: pd.DataFrame | None          # None when the models could not be fitted
    models: scoring.Models | None
    note: str | None                     # why predictions are missing or partial


def predict(tables: Tables, *, as_of: dt.date, settings) -> Prediction:
    cfg = settings.clv
    summary = summary_frame(tables, as_of=as_of, include_free=cfg.include_free_orders)
    try:
        models = scoring.fit(summary, unit=cfg.unit)
    except ModelError as exc:
        return Prediction(None, None, f"no predictions on {as_of}: {exc.message}")
    scores = scoring.score(summary, models, as_of=as_of, discount_rate=cfg.discount_rate)
    note = None if models.gamma_gamma is not None else (
        f"no spend predictions on {as_of}: {models.gamma_gamma_error}")
    return Prediction(scores, models, note)


def attach(snap: ir.Table, prediction: Prediction, settings) -> ir.Table:
    """The snapshot with the prediction columns and churn_risk (low/medium/high; `none` without a
    purchase; `unknown` when the models could not be fitted)."""
    cfg = settings.clv
    if prediction.scores is None:
        nulls = {c: ibis.null("float64") for c in scoring.PREDICTION_COLUMNS}
        nulls["next_purchase_expected"] = ibis.null("date")
        return snap.mutate(**nulls, churn_risk=ibis.literal(UNKNOWN))
    scores = prediction.scores.rename(columns={"customer_id": "_cid"})
    mem = frame_table(snap, scores)
    j = snap.left_join(mem, snap.customer_id == mem._cid).drop("_cid")
    p = j.purchase_probability_90d
    risk = ibis.cases((p.isnull(), NO_PURCHASE), (p < cfg.churn_risk_high_below, "high"),
                      (p >= cfg.churn_risk_low_from, "low"), else_="medium")
    return j.mutate(next_purchase_expected=j.next_purchase_expected.cast("date"), churn_risk=risk)
