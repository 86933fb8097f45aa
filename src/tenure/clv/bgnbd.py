"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
customer buys at rate lambda ~ Gamma(r, alpha); after each purchase they drop out with
probability p ~ Beta(a, b). Fitted by maximum likelihood on (x, t_x, T) per customer.

x = repeat purchase days, t_x = time from the first to the last purchase, T = time from the first
purchase to the end of calibration, all in the model's unit (days or weeks).
"""

from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1

from tenure.clv._bgnbd_ll import Likelihood
from tenure.clv._mle import (LARGE_ROWS, FittedModel, ModelError, negate, check_identified, collapse, maximise,
                             maximise_large, sample_rows, standard_errors)

TRY = "try a later --as-of (more history), --unit weeks, or check that orders carry the right customer ids"


def _arrays(x, t_x, T):
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    if x.shape != t_x.shape or x.shape != T.shape:
        raise ModelError("x, t_x and T must have the same length")
    return x, t_x, T


def check_summary(x, t_x, T, w) -> None:
    """Refuse data that cannot identify the model, saying what is wrong and what to try."""
    if not np.all(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T)):
        raise ModelError("the customer summary holds missing or infinite values")
    if np.any((x < 0) | (t_x < 0) | (t_x > T + 1e-9) | ((x == 0) & (t_x > 0))):
        raise ModelError("the customer summary is inconsistent (need x >= 0 and 0 <= t_x <= T, t_x = 0 when x = 0)")
    n = float(w.sum())
    if n == 0:
        raise ModelError("no customer has a purchase yet: nothing to fit", fix=TRY)
    if n < 2:
        raise ModelError("only 1 customer has purchases: BG/NBD needs many customers", fix=TRY)
    if x.max() == 0 and T.max() == T.min():
        raise ModelError("all purchases fall on one day: no repeat purchase and no spread of first "
                         "purchases to learn from", fix=TRY)
    if x.max() == 0:
        raise ModelError("no customer has bought on two different days: BG/NBD needs repeat buyers", fix=TRY)


class BetaGeo(FittedModel):
    """BG/NBD purchase and dropout model. `fit(x, t_x, T)` then predict; see docs/clv.md."""

    kind = "BG/NBD"
    names = ("r", "alpha", "a", "b")

    def fit(self, x, t_x, T, *, weights=None) -> BetaGeo:
        """Fit on per-customer x, t_x, T (in this model's unit); equal rows are collapsed first."""
        x, t_x, T = _arrays(x, t_x, T)
        (x, t_x, T), w, _ = collapse(x, t_x, T, weights=weights)
        check_summary(x, t_x, T, w)
        # Fit in a time scale where the longest T is 10 (alpha scales with time, r, a, b do not):
        # the optimiser then starts near the answer whatever the unit.
        scale = 10.0 / T.max() if T.max() > 0 else 1.0
        full = Likelihood(x, t_x * scale, T * scale, w)
        if x.size > LARGE_ROWS:
            # Every one-time-buyer row (one per distinct T: few, heavy) and a sample of the repeat
            # rows, weighted up to stand for all of them.
            zero, rep = np.flatnonzero(x == 0), np.flatnonzero(x > 0)
            picked = rep[sample_rows(rep.size)]
            pick = np.concatenate([zero, picked])
            ws = np.concatenate([w[zero], w[picked] * (w[rep].sum() / w[picked].sum())])
            sample = Likelihood(x[pick], t_x[pick] * scale, T[pick] * scale, ws)
            theta = maximise_large(full, sample, np.ones(4), model=self.kind, what_to_try=TRY)
        else:
            theta = maximise(negate(full), np.ones(4), model=self.kind, what_to_try=TRY)
        # Back to the data's time unit: alpha scales with time, and each repeat buyer's likelihood
        # carries lambda^x, so the log-likelihood shifts by log(scale) per repeat purchase.
        ll, _ = full(theta)
        ses = standard_errors(lambda th: full(th)[1], theta)
        ll += np.log(scale) * float(np.dot(w, x))
        theta[1] /= scale
        ses[1] /= scale
        if not np.isfinite(ll):
            raise ModelError(f"the {self.kind} log-likelihood is not finite at the optimum", fix=TRY)
        check_identified(self.names, theta, ses, model=self.kind, what_to_try=TRY)
        self._set(theta, ses, ll, w.sum())
        return self

    # -- predictions -------------------------------------------------------------------------
    def p_alive(self, x, t_x, T) -> np.ndarray:
        """P(still alive at T | x, t_x, T). One-time buyers (x = 0) get 1: in BG/NBD a customer can
        only drop out right after a purchase, so nobody has had the chance to leave after their first."""
        r, alpha, a, b = self._need_fit().values()
        x, t_x, T = _arrays(x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_odds = np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (
                np.log(alpha + T) - np.log(alpha + t_x))
            odds = np.where(x > 0, np.exp(log_odds), 0.0)
        return 1.0 / (1.0 + odds)

    def expected_purchases(self, t, x, t_x, T) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10)."""
        x, t_x, T = _arrays(x, t_x, T)
        if np.ndim(t) == 0 and x.size > 1000:
            # hyp2f1 is the cost and depends on (x, T) only: once per distinct pair, of which there are few.
            (ux, uT), _, inv = collapse(x, T)
            body = self.expected_purchases_if_alive(t, ux, uT)[inv].reshape(x.shape)
        else:
            body = self.expected_purchases_if_alive(t, x, T)
        return body * self.p_alive(x, t_x, T)

    def expected_purchases_if_alive(self, t, x, T) -> np.ndarray:
        """E[purchases in (T, T + t] | alive at T, x, T]: eq. 10 without its P(alive) factor."""
        r, alpha, a, b = self._need_fit().values()
        x, T = np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64")
        t = np.asarray(t, dtype="float64")
        z = t / (alpha + T + t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            head = (a + b + x - 1) / (a - 1)
            out = head * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        return np.where(t > 0, out, 0.0)

    def probability_of_purchase(self, t, x, t_x, T) -> np.ndarray:
        """P(at least one purchase in (T, T + t]). Alive customers drop out only after a purchase,
        so it is P(alive) times P(the next purchase comes within t) = 1 - ((alpha+T)/(alpha+T+t))^(r+x)."""
        r, alpha, _, _ = self._need_fit().values()
        x, t_x, T = _arrays(x, t_x, T)
        t = np.asarray(t, dtype="float64")
        within = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        return self.p_alive(x, t_x, T) * within

    def median_time_to_next_purchase(self, x, t_x, T) -> np.ndarray:
        """The t at which P(at least one purchase in (T, T + t]) reaches 1/2; NaN when that never
        happens (P(alive) <= 1/2: the customer is more likely gone than not)."""
        r, alpha, _, _ = self._need_fit().values()
        x, t_x, T = _arrays(x, t_x, T)
        pa = self.p_alive(x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            left = 1 - 0.5 / pa                    # ((alpha+T)/(alpha+T+t))^(r+x) must fall to this
            t = (alpha + T) * (np.exp(-np.log(left) / (r + x)) - 1)
        return np.where(pa > 0.5, t, np.nan)

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """E[X(t)] for a customer just acquired (eq. 9): the unconditional purchase curve."""
        r, alpha, a, b = self._need_fit().values()
        t = np.asarray(t, dtype="float64")
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
