"""Fit both models on a summary and score every customer: the prediction columns of a snapshot.

Formulas (docs/clv.md):
- p_alive, expected purchases and P(at least one purchase) from BG/NBD, horizons in days;
- expected_spend from Gamma-Gamma (population mean for one-time buyers);
- clv_365d = sum over 12 monthly steps k of (E[Y(t_k)] - E[Y(t_(k-1))]) * expected_spend
  / (1 + d)^(t_k / 365), t_k = k * 365/12 days, d = the annual discount rate;
- next_purchase_expected = as_of + the median time to the next purchase (the day by which the
  chance of having bought again reaches 50%), null when that chance never reaches 50%.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tenure.clv._mle import ModelError, collapse
from tenure.clv.bgnbd import BetaGeo
from tenure.clv.gammagamma import GammaGamma

PREDICTION_COLUMNS = ("p_alive", "purchase_probability_90d", "expected_purchases_90d", "expected_spend",
                      "clv_365d", "next_purchase_expected")
MAX_NEXT_DAYS = 3650  # a median wait beyond ten years is no date to plan with: null


@dataclass
class Models:
    bgnbd: BetaGeo
    gamma_gamma: GammaGamma | None
    gamma_gamma_error: str | None = None


def fit(summary: pd.DataFrame, *, unit: str = "weeks") -> Models:
    """BG/NBD must fit; Gamma-Gamma may fail alone (then spend and CLV are unknown, not invented)."""
    k = 7.0 if unit == "weeks" else 1.0
    # Collapse in whole days (a fast counting pass), then hand the weighted rows to the model.
    (x, t_x, T), w, _ = collapse(summary["x"].to_numpy(), summary["t_x"].to_numpy(), summary["T"].to_numpy())
    bg = BetaGeo(unit=unit).fit(x, t_x / k, T / k, weights=w)
    try:
        gg = GammaGamma(unit=unit).fit(summary["x"].to_numpy(), summary["monetary"].to_numpy(dtype="float64", na_value=np.nan))
        return Models(bg, gg)
    except ModelError as exc:
        return Models(bg, None, str(exc))


def score(summary: pd.DataFrame, models: Models, *, as_of: dt.date, discount_rate: float = 0.10,
          probability_days: int = 90, horizon_days: int = 365) -> pd.DataFrame:
    """The prediction columns for every row of `summary` (customer_id first)."""
    bg = models.bgnbd
    k = bg.days_per_unit
    x = summary["x"].to_numpy(dtype="float64")
    # Predictions depend on (x, t_x, T) only, and their costly part (hyp2f1) on (x, T) only:
    # score each distinct triple once, each distinct pair once per horizon, then broadcast.
    (ux, ut, uT), _, inv = collapse(x, summary["t_x"].to_numpy(), summary["T"].to_numpy())
    ut, uT = ut / k, uT / k
    (px, pT), _, pair = collapse(ux, uT)
    p_alive = bg.p_alive(ux, ut, uT)
    prob = bg.probability_of_purchase(probability_days / k, ux, ut, uT)
    expected = bg.expected_purchases_if_alive(probability_days / k, px, pT)[pair] * p_alive
    steps = np.arange(1, 13) * horizon_days / 12
    cum = np.stack([bg.expected_purchases_if_alive(s / k, px, pT) for s in steps])
    increments = np.diff(cum, axis=0, prepend=0.0)
    discount = (1 + discount_rate) ** (-steps / 365)
    discounted_purchases = (increments * discount[:, None]).sum(axis=0)[pair] * p_alive
    wait = bg.median_time_to_next_purchase(ux, ut, uT) * k
    out = pd.DataFrame({"customer_id": summary["customer_id"].reset_index(drop=True)})
    out["p_alive"] = p_alive[inv]
    out["purchase_probability_90d"] = prob[inv]
    out["expected_purchases_90d"] = expected[inv]
    if models.gamma_gamma is not None:
        spend = models.gamma_gamma.expected_spend(x, summary["monetary"].to_numpy(dtype="float64", na_value=np.nan))
        out["expected_spend"] = spend
        out["clv_365d"] = discounted_purchases[inv] * spend
    else:
        out["expected_spend"] = np.nan
        out["clv_365d"] = np.nan
    days = wait[inv]
    ok = np.isfinite(days) & (days <= MAX_NEXT_DAYS)
    # Whole days after as_of, as datetime64 (NaT where no date): fast, and cast to DATE on storing.
    offset = np.where(ok, np.ceil(np.nan_to_num(days)), 0).astype("int64").astype("timedelta64[D]")
    next_day = np.datetime64(as_of, "D") + offset
    out["next_purchase_expected"] = np.where(ok, next_day, np.datetime64("NaT")).astype("datetime64[s]")
    return out
