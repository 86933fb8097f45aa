"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"):
a customer's spend per purchase varies around their own mean, which varies across customers.
Fitted on repeat buyers: x = repeat purchase days, m = the mean value of those repeat purchases.
It assumes spend is independent of purchase frequency (check the correlation: docs/clv.md).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from tenure.clv._mle import (LARGE_ROWS, FittedModel, ModelError, check_identified, distinct, maximise,
                             maximise_large, negate, sample_rows, standard_errors)

TRY = "try a later --as-of (more repeat buyers), or check the order amounts"


class _Likelihood:
    """(LL, gradient) in (p, q, gamma). Terms of x alone are evaluated once per distinct x; per
    row only log(x m + gamma) and its reciprocal change with the parameters."""

    def __init__(self, x, m, w) -> None:
        self.xu, xi = distinct(x)
        self.Wx = np.bincount(xi, weights=w)
        self.n = float(w.sum())
        self.w, self.wx, self.xm = w, w * x, x * m
        lm, lx = np.log(m), np.log(x)
        self.const_p = float(np.dot(w, x * (lm + lx)))   # d/dp of (px - 1) log m + px log x
        self.const_ll = -float(np.dot(w, lm))            # the -log m of (px - 1) log m

    def __call__(self, theta):
        p, q, v = theta
        xu, Wx, n = self.xu, self.Wx, self.n
        lxm = np.log(self.xm + v)
        inv = 1.0 / (self.xm + v)
        wx_l, w_l = np.dot(self.wx, lxm), np.dot(self.w, lxm)
        pxu = p * xu
        ll = (np.dot(Wx, gammaln(pxu + q) - gammaln(pxu)) + n * (q * np.log(v) - gammaln(q))
              + p * self.const_p + self.const_ll - p * wx_l - q * w_l)
        psu = digamma(pxu + q)
        g = np.array([
            np.dot(Wx, xu * (psu - digamma(pxu))) + self.const_p - wx_l,
            np.dot(Wx, psu) + n * (np.log(v) - digamma(q)) - w_l,
            n * q / v - p * np.dot(self.wx, inv) - q * np.dot(self.w, inv),
        ])
        return float(ll), g


class GammaGamma(FittedModel):
    kind = "Gamma-Gamma"
    names = ("p", "q", "gamma")

    def fit(self, x, monetary, *, weights=None) -> GammaGamma:
        """Fit on repeat buyers: x > 0 repeat purchase days with mean repeat value `monetary` > 0.
        Rows with x = 0 or a non-positive mean are left out (the model is about repeat spend)."""
        x, m = np.asarray(x, dtype="float64"), np.asarray(monetary, dtype="float64")
        keep = (x > 0) & np.isfinite(m) & (m > 0)
        # No collapsing: mean spends are continuous, so equal (x, m) rows are rare.
        x, m = x[keep], m[keep]
        w = np.ones(x.size) if weights is None else np.asarray(weights, dtype="float64")[keep]
        if w.sum() < 2:
            raise ModelError(f"{int(w.sum())} repeat buyer(s) with a positive spend: Gamma-Gamma needs many", fix=TRY)
        if m.min() == m.max():
            raise ModelError("every repeat buyer spent the same mean amount: Gamma-Gamma cannot learn "
                             "how spend varies", fix=TRY)
        scale = 10.0 / np.average(m, weights=w)    # spend scaled to ~10: gamma scales with money
        ms = m * scale

        scaled = _Likelihood(x, ms, w)
        start = np.array([1.0, 2.0, 1.0])
        if x.size > LARGE_ROWS:
            pick = sample_rows(x.size)
            sample = _Likelihood(x[pick], ms[pick], w[pick] * (w.sum() / w[pick].sum()))
            theta = maximise_large(scaled, sample, start, model=self.kind, what_to_try=TRY)
        else:
            theta = maximise(negate(scaled), start, model=self.kind, what_to_try=TRY)
        if theta[1] <= 1:
            raise ModelError(f"Gamma-Gamma gave q = {theta[1]:.3g} <= 1: mean spend is unbounded under "
                             "these data", fix=TRY)
        # Back to the data's money: gamma scales with it, and each customer's density of m by
        # 1/scale, so the log-likelihood shifts by n log(scale).
        ll, _ = scaled(theta)
        ses = standard_errors(lambda th: scaled(th)[1], theta)
        ll += w.sum() * np.log(scale)
        theta[2] /= scale
        ses[2] /= scale
        check_identified(self.names, theta, ses, model=self.kind, what_to_try=TRY)
        self._set(theta, ses, ll, w.sum())
        return self

    def expected_spend(self, x, monetary) -> np.ndarray:
        """E[spend per purchase | x, m]: a weighted mean of the population mean gamma*p/(q-1) and the
        customer's own mean m, the weight on m growing with x. x = 0 gets the population mean."""
        p, q, v = self._need_fit().values()
        x = np.asarray(x, dtype="float64")
        m = np.nan_to_num(np.asarray(monetary, dtype="float64"), nan=0.0)
        return p * (v + x * m) / (p * x + q - 1)

    @property
    def population_mean_spend(self) -> float:
        p, q, v = self._need_fit().values()
        return p * v / (q - 1)
