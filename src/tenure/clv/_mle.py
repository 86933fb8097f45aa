"""What both models share: collapsing equal rows, fitting by maximum likelihood, standard errors,
checks that refuse a fit that did not converge, and JSON persistence.

Written with numpy/scipy rather than taken from lifetimes (unmaintained, pandas-1 era, autograd)
or PyMC-Marketing (a Bayesian stack far heavier than a 4-parameter likelihood needs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from tenure.errors import TenureError


class ModelError(TenureError):
    """The data cannot identify the model, or its fit did not converge."""


def collapse(*columns: np.ndarray, weights: np.ndarray | None = None):
    """Rows with equal values across `columns` become one row with a weight (their count).

    Returns the unique columns, the weights and the inverse index (row -> unique row)."""
    cols = [np.asarray(c, dtype="float64") for c in columns]
    n = cols[0].size
    whole = all(c.size == 0 or (c.min() >= 0 and c.max() < 2**20 and np.array_equal(c, np.floor(c))) for c in cols)
    if whole:
        # Small whole numbers (days, counts): a dense mixed-radix key, and unique values by a
        # counting pass instead of a hash or a sort (linear, ~10x faster on millions of rows).
        sizes = [int(c.max()) + 1 if n else 1 for c in cols]
        span = int(np.prod(sizes, dtype="float64"))
        key_f = np.zeros(n)
        for c, size in zip(cols, sizes):      # in place: fresh memory is slow to fault in
            key_f *= size
            key_f += c                        # exact in float64 below 2**53
        key = key_f.astype("int64")
        if span <= min(8 * n, 250_000_000):  # dense tables pay off only when not much larger than n
            present = np.zeros(span, dtype=bool)
            present[key] = True
            keys = np.flatnonzero(present)
            code_of = np.empty(span, dtype="int32")
            code_of[keys] = np.arange(keys.size, dtype="int32")
            inverse = code_of[key].astype("int64")
            first = np.full(keys.size, -1, dtype="int64")
            first[inverse[::-1]] = np.arange(n - 1, -1, -1)
        else:
            inverse, first = _first_rows(key)
    else:
        # Other values: hash-factorise column by column, combining the codes into one key.
        key = np.zeros(n, dtype="int64")
        for c in cols:
            codes, uniques = pd.factorize(c)
            key = pd.factorize(key * (len(uniques) + 1) + codes)[0]   # re-coded: never overflows
        inverse, first = _first_rows(key)
    w = np.bincount(inverse, minlength=first.size).astype("float64") if weights is None else \
        np.bincount(inverse, weights=np.asarray(weights, dtype="float64"), minlength=first.size)
    return [c[first] for c in cols], w, inverse


def distinct(values: np.ndarray):
    """np.unique(values, return_inverse=True), by a counting pass when the values are small whole
    numbers (purchase counts): no sort of millions of rows."""
    (uniq,), _, inverse = collapse(values)
    order = np.argsort(uniq, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse]


def _first_rows(key: np.ndarray):
    codes, uniques = pd.factorize(key)
    first = np.full(uniques.size, -1, dtype="int64")
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)   # the first row of each code
    return codes, first


LARGE_ROWS = 200_000  # above this many rows a fit starts from a sample (maximise_large)


def sample_rows(n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a uniform sample of LARGE_ROWS // 2 of n rows (all of them if fewer)."""
    if n <= LARGE_ROWS // 2:
        return np.arange(n)
    # Draw with replacement and drop repeats: about as many rows, without permuting all n.
    return np.unique(np.random.default_rng(seed).integers(0, n, LARGE_ROWS // 2))


def maximise(neg_ll_and_grad, start: np.ndarray, *, model: str, what_to_try: str) -> np.ndarray:
    """Minimise the negative log-likelihood over log-parameters (keeps them positive).

    `neg_ll_and_grad(theta)` takes positive parameters and returns (-LL, -dLL/dtheta)."""
    def objective(phi):
        theta = np.exp(phi)
        f, g = neg_ll_and_grad(theta)
        return f, g * theta          # chain rule: d/dphi = theta * d/dtheta

    with np.errstate(all="ignore"):
        res = minimize(objective, np.log(start), jac=True, method="L-BFGS-B",
                       bounds=[(-20.0, 20.0)] * len(start),
                       options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9})
    theta = np.exp(res.x)
    at_bound = np.any(np.abs(res.x) > 19.9)
    if not np.all(np.isfinite(theta)) or not np.isfinite(res.fun) or at_bound or (
            not res.success and "ABNORMAL" not in str(res.message)):
        raise ModelError(f"the {model} fit did not converge ({res.message}; parameters "
                         f"{', '.join(f'{v:.4g}' for v in theta)})", fix=what_to_try)
    if "ABNORMAL" in str(res.message):  # line search stalled: accept only if the gradient is ~0
        _, g = objective(res.x)
        if np.max(np.abs(g)) > 1e-3 * max(1.0, abs(res.fun)):
            raise ModelError(f"the {model} fit did not converge ({res.message})", fix=what_to_try)
    return theta


def maximise_large(full, sample, start: np.ndarray, *, model: str, what_to_try: str) -> np.ndarray:
    """Maximise `full` (a callable theta -> (LL, gradient)) cheaply when it has millions of rows:
    fit `sample` (a uniform sample of the rows, same weights: an unbiased estimate of the full
    likelihood up to the sampling share), then take Newton steps on the full gradient with the
    sample's Hessian scaled to the full size. Each step costs one full evaluation and the error
    shrinks by the (small) relative error of that Hessian; L-BFGS-B on the full data is the
    fallback if the steps do not settle."""
    theta = maximise(negate(sample), start, model=model, what_to_try=what_to_try)
    phi = np.log(theta)
    hess = _log_hessian(sample, phi) * (full.n / sample.n)
    try:
        inv = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        inv = None
    if inv is not None and np.all(np.linalg.eigvalsh((hess + hess.T) / 2) < 0):
        ll, g = _log_grad(full, phi)
        for _ in range(30):
            step = -inv @ g
            while True:  # halve a step that lowers the likelihood
                trial = phi + step
                ll_t, g_t = _log_grad(full, trial)
                if np.isfinite(ll_t) and ll_t >= ll - 1e-9 * abs(ll):
                    break
                step /= 2
                if np.max(np.abs(step)) < 1e-14:
                    break
            phi, ll, g = trial, ll_t, g_t
            if np.max(np.abs(step)) < 1e-8:   # log-parameters: 1e-8 relative
                return np.exp(phi)
    return maximise(negate(full), np.exp(phi), model=model, what_to_try=what_to_try)


def negate(likelihood):
    def neg(theta):
        ll, g = likelihood(theta)
        return -ll, -g
    return neg


def _log_grad(likelihood, phi):
    theta = np.exp(phi)
    ll, g = likelihood(theta)
    return ll, g * theta


def _log_hessian(likelihood, phi) -> np.ndarray:
    k = len(phi)
    hess = np.empty((k, k))
    for j in range(k):
        up, down = phi.copy(), phi.copy()
        up[j] += 1e-5
        down[j] -= 1e-5
        hess[:, j] = (_log_grad(likelihood, up)[1] - _log_grad(likelihood, down)[1]) / 2e-5
    return (hess + hess.T) / 2


def standard_errors(grad_of_ll, theta: np.ndarray) -> np.ndarray:
    """Square roots of the diagonal of the inverse observed information (the negative Hessian of
    the log-likelihood), the Hessian by central differences of the analytic gradient."""
    k = len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * theta[j]
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = (grad_of_ll(up) - grad_of_ll(down)) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    diag = np.diag(cov)
    return np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)


MAX_RELATIVE_SE = 10.0


def check_identified(names, theta, ses, *, model: str, what_to_try: str) -> None:
    """A converged optimiser is not enough: on data that do not identify a parameter it wanders to
    an absurd value with an undefined or enormous standard error. Refuse such fits."""
    for name, v, se in zip(names, theta, ses):
        if not np.isfinite(se) or se > MAX_RELATIVE_SE * v:
            shown = "undefined" if not np.isfinite(se) else f"{se:.3g}"
            raise ModelError(f"the data cannot pin down the {model} parameters ({name} = {v:.4g}, "
                             f"standard error {shown})", fix=what_to_try)


class FittedModel:
    """Parameters, their standard errors, the log-likelihood: shown, saved and loaded alike."""

    kind: str = ""
    names: tuple[str, ...] = ()

    def __init__(self, unit: str = "days") -> None:
        if unit not in ("days", "weeks"):
            raise TenureError(f"unit {unit!r} is not days or weeks", fix="use --unit days or --unit weeks")
        self.unit = unit
        self.params: dict[str, float] | None = None
        self.std_errors: dict[str, float] = {}
        self.log_likelihood = math.nan
        self.customers = 0

    @property
    def days_per_unit(self) -> float:
        return 7.0 if self.unit == "weeks" else 1.0

    def _need_fit(self) -> dict[str, float]:
        if self.params is None:
            raise TenureError(f"the {self.kind} model is not fitted", fix="call fit() or load() first")
        return self.params

    def _set(self, theta, ses, ll: float, customers: int) -> None:
        self.params = {n: float(v) for n, v in zip(self.names, theta)}
        self.std_errors = {n: float(v) for n, v in zip(self.names, ses)}
        self.log_likelihood = float(ll)
        self.customers = int(customers)

    def to_dict(self) -> dict:
        params = self._need_fit()
        return {**params, "log_likelihood": self.log_likelihood, "customers": self.customers,
                "std_errors": self.std_errors}

    def summary(self) -> str:
        params = self._need_fit()
        lines = [f"{self.kind} fitted on {self.customers:,} customers (time unit: {self.unit})",
                 f"{'parameter':<10}{'estimate':>14}{'std error':>14}"]
        for n, v in params.items():
            lines.append(f"{n:<10}{v:>14.6g}{self.std_errors.get(n, math.nan):>14.4g}")
        lines.append(f"log-likelihood {self.log_likelihood:.4f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        if self.params is None:
            return f"<{type(self).__name__} unfitted, unit={self.unit}>"
        shown = ", ".join(f"{n}={v:.4g} (±{self.std_errors.get(n, math.nan):.2g})" for n, v in self.params.items())
        return f"<{type(self).__name__} {shown}, log_likelihood={self.log_likelihood:.2f}, " \
               f"customers={self.customers}, unit={self.unit}>"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        body = {"model": type(self).__name__, "unit": self.unit, **self.to_dict()}
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path):
        try:
            body = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TenureError(f"cannot read the model file {path}: {exc}")
        if body.get("model") != cls.__name__:
            raise TenureError(f"{path} holds a {body.get('model')!r} model, not {cls.__name__}")
        model = cls(unit=body.get("unit", "days"))
        try:
            theta = [float(body[n]) for n in cls.names]
        except (KeyError, TypeError, ValueError):
            raise TenureError(f"{path} lacks the parameters {', '.join(cls.names)}")
        ses = [float(body.get("std_errors", {}).get(n, math.nan)) for n in cls.names]
        model._set(theta, ses, float(body.get("log_likelihood", math.nan)), int(body.get("customers", 0)))
        return model
