"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"):
a customer's spend per purchase varies around their own mean, which varies across customers.
Fitted on repeat buyers: x = repeat purchase days, m = the mean value of those repeat purchases.
It assumes spend is independent of purchase frequency (check the correlation: docs/clv.md).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from tenure.clv._mle import FittedModel, ModelError, check_identified, collapse, maximise, standard_errors

TRY = "try a later --as-of (more repeat buyers), or check the order amounts"


class GammaGamma(FittedModel):
    kind = "Gamma-Gamma"
    names = ("p", "q", "gamma")

    @staticmethod
    def _ll_and_grad(theta, x, m, w):
        p, q, v = theta
        px = p * x
        lxm = np.log(x * m + v)
        ll_i = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
                + px * np.log(x) - (px + q) * lxm)
        ps = digamma(px + q)
        g = np.array([
            np.dot(w, x * ps - x * digamma(px) + x * np.log(m) + x * np.log(x) - x * lxm),
            np.dot(w, ps - digamma(q) + np.log(v) - lxm),
            np.dot(w, q / v - (px + q) / (x * m + v)),
        ])
        return float(np.dot(w, ll_i)), g

    def fit(self, x, monetary, *, weights=None) -> GammaGamma:
        """Fit on repeat buyers: x > 0 repeat purchase days with mean repeat value `monetary` > 0.
        Rows with x = 0 or a non-positive mean are left out (the model is about repeat spend)."""
        x, m = np.asarray(x, dtype="float64"), np.asarray(monetary, dtype="float64")
        keep = (x > 0) & np.isfinite(m) & (m > 0)
        wts = None if weights is None else np.asarray(weights, dtype="float64")[keep]
        (x, m), w, _ = collapse(x[keep], m[keep], weights=wts)
        if w.sum() < 2:
            raise ModelError(f"{int(w.sum())} repeat buyer(s) with a positive spend: Gamma-Gamma needs many", fix=TRY)
        if np.unique(m).size < 2:
            raise ModelError("every repeat buyer spent the same mean amount: Gamma-Gamma cannot learn "
                             "how spend varies", fix=TRY)
        scale = 10.0 / np.average(m, weights=w)    # spend scaled to ~10: gamma scales with money
        ms = m * scale

        def neg(theta):
            ll, g = self._ll_and_grad(theta, x, ms, w)
            return -ll, -g

        theta = maximise(neg, np.array([1.0, 2.0, 1.0]), model=self.kind, what_to_try=TRY)
        theta[2] /= scale
        if theta[1] <= 1:
            raise ModelError(f"Gamma-Gamma gave q = {theta[1]:.3g} <= 1: mean spend is unbounded under "
                             "these data", fix=TRY)
        ll, _ = self._ll_and_grad(theta, x, m, w)
        ses = standard_errors(lambda th: self._ll_and_grad(th, x, m, w)[1], theta)
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
