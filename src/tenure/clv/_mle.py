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
from scipy.optimize import minimize

from tenure.errors import TenureError


class ModelError(TenureError):
    """The data cannot identify the model, or its fit did not converge."""


def collapse(*columns: np.ndarray, weights: np.ndarray | None = None):
    """Rows with equal values across `columns` become one row with a weight (their count).

    Returns the unique columns, the weights and the inverse index (row -> unique row)."""
    stacked = np.column_stack([np.asarray(c, dtype="float64") for c in columns])
    uniq, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    w = counts.astype("float64") if weights is None else np.bincount(inverse.ravel(), weights=weights)
    return [uniq[:, i] for i in range(uniq.shape[1])], w, inverse.ravel()


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
