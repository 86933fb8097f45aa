"""The BG/NBD log-likelihood and its gradient, arranged to be cheap on millions of customers.

Terms that depend on x alone are summed once per distinct x; one-time buyers (x = 0) contribute
-(r) log(alpha + T) and are summed by distinct T; only repeat buyers need work per row, and
their logs of (alpha + T) and (alpha + t_x) are computed per distinct value and gathered.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, log_expit

from tenure.clv._mle import distinct


class Likelihood:
    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.n = float(w.sum())
        self.xu, xi = distinct(x)
        self.Wx = np.bincount(xi, weights=w, minlength=self.xu.size)   # weight of each distinct x
        self.Tu, Ti = np.unique(T, return_inverse=True)
        zero = x == 0
        self.w0T = np.bincount(Ti[zero], weights=w[zero], minlength=self.Tu.size)
        rep = ~zero
        self.xr, self.wr, self.Ti = x[rep], w[rep], Ti[rep]
        self.xi = xi[rep]
        self.tu, self.ti = np.unique(t_x[rep], return_inverse=True)
        self.W_rep = float(self.wr.sum())

    def __call__(self, theta) -> tuple[float, np.ndarray]:
        r, alpha, a, b = theta
        xu, Wx = self.xu, self.Wx
        # Per distinct x: the Gamma/Beta normalising terms and their derivatives.
        ll = float(np.dot(Wx, gammaln(r + xu) + gammaln(b + xu) - gammaln(a + b + xu)))
        ll += self.n * (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b))
        g = np.array([
            np.dot(Wx, digamma(r + xu)) + self.n * (np.log(alpha) - digamma(r)),
            self.n * r / alpha,
            self.n * digamma(a + b) - np.dot(Wx, digamma(a + b + xu)),
            self.n * (digamma(a + b) - digamma(b)) + np.dot(Wx, digamma(b + xu) - digamma(a + b + xu)),
        ])
        # One-time buyers: S = C = -r log(alpha + T), by distinct T.
        lTu = np.log(alpha + self.Tu)
        ll -= r * np.dot(self.w0T, lTu)
        g[0] -= np.dot(self.w0T, lTu)
        g[1] -= r * np.dot(self.w0T, 1.0 / (alpha + self.Tu))
        if self.xr.size == 0:
            return ll, g
        # Repeat buyers: S = logaddexp(C, D), C = -(r+x) log(alpha+T), D = log a - log(b+x-1) - (r+x) log(alpha+t_x).
        ltu = np.log(alpha + self.tu)
        kx = np.log(a) - np.log(b + xu - 1.0, where=xu > 0, out=np.zeros_like(xu))
        lT, lt = lTu[self.Ti], ltu[self.ti]
        rx = r + self.xr
        C = -rx * lT
        # S = logaddexp(C, D) = C - log(p1) with p1 = e^C / (e^C + e^D) = expit(C - D); log_expit
        # stays finite where p1 underflows (far from the optimum, during line searches).
        log_p1 = log_expit(C - (kx[self.xi] - rx * lt))
        S = C - log_p1
        p1 = np.exp(log_p1)
        wp1 = self.wr * p1
        wp2 = self.wr - wp1
        ll += float(np.dot(self.wr, S))
        g[0] -= np.dot(wp1, lT) + np.dot(wp2, lt)
        g[1] -= np.dot(wp1 * rx, (1.0 / (alpha + self.Tu))[self.Ti]) + np.dot(wp2 * rx, (1.0 / (alpha + self.tu))[self.ti])
        sum_wp2 = wp2.sum()
        g[2] += sum_wp2 / a
        inv_bx = np.divide(1.0, b + xu - 1.0, where=xu > 0, out=np.zeros_like(xu))
        g[3] -= np.dot(wp2, inv_bx[self.xi])
        return ll, g
