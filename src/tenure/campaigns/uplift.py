"""Confidence intervals for a campaign's effect: treatment against holdout.

- `rate_difference_ci`: the difference of two independent proportions with Newcombe's hybrid
  score interval, built from the two Wilson score intervals (Newcombe R.G., "Interval estimation
  for the difference between independent proportions: comparison of eleven methods", Statistics
  in Medicine 17, 873-890, 1998; method 10). Unlike the Wald interval it keeps its coverage when
  rates are small (a few per cent, as conversion rates are) or 0 or 1, and never leaves [-1, 1].
- `mean_difference_ci`: the difference of two means (revenue per enrollment) with Welch's
  unequal-variance standard error and a normal quantile (samples are large; revenue is skewed,
  so a t quantile would add no real accuracy).

Both accept scalars or numpy arrays (one value per campaign) and return (difference, low, high);
an empty group gives NaNs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    return float(norm.ppf(0.5 + level / 2))


def _out(*values: np.ndarray) -> tuple:
    # Scalars in, floats out: the common call is for one campaign.
    if all(np.ndim(v) == 0 for v in values):
        return tuple(float(v) for v in values)
    return values


def wilson_ci(x, n, level: float = 0.95) -> tuple:
    """Wilson's score interval for x successes out of n: (low, high); NaN when n = 0."""
    z = _z(level)
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if np.any((x < 0) | (x > n)):
            raise ValueError("successes must lie between 0 and n")
        centre = (x + z * z / 2) / (n + z * z)
        half = z * np.sqrt(x * (n - x) / n + z * z / 4) / (n + z * z)
        low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    empty = n <= 0
    return _out(np.where(empty, np.nan, low), np.where(empty, np.nan, high))


def rate_difference_ci(x1, n1, x0, n0, level: float = 0.95) -> tuple:
    """p1 - p0 for x1/n1 (treatment) and x0/n0 (holdout), with Newcombe's method 10 interval:
    low = d - sqrt((p1 - l1)^2 + (u0 - p0)^2), high = d + sqrt((u1 - p1)^2 + (p0 - l0)^2),
    where (l, u) are the Wilson intervals of each proportion."""
    x1, n1, x0, n0 = (np.asarray(v, dtype=float) for v in (x1, n1, x0, n0))
    l1, u1 = (np.asarray(v) for v in wilson_ci(x1, n1, level))
    l0, u0 = (np.asarray(v) for v in wilson_ci(x0, n0, level))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p0 = x1 / n1, x0 / n0
    diff = p1 - p0
    low = diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    empty = (n1 <= 0) | (n0 <= 0)
    return _out(*(np.where(empty, np.nan, v) for v in (diff, low, high)))


def mean_difference_ci(mean1, sd1, n1, mean0, sd0, n0, level: float = 0.95) -> tuple:
    """mean1 - mean0 with a Welch standard error, sqrt(sd1^2/n1 + sd0^2/n0), and a normal
    quantile. `sd` is the sample standard deviation (ddof=1); a group of fewer than two gives
    NaN bounds (its variance is unknown), an empty group a NaN difference too."""
    z = _z(level)
    mean1, sd1, n1, mean0, sd0, n0 = (np.asarray(v, dtype=float)
                                       for v in (mean1, sd1, n1, mean0, sd0, n0))
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where((n1 > 0) & (n0 > 0), mean1 - mean0, np.nan)
        se = np.sqrt(sd1 ** 2 / n1 + sd0 ** 2 / n0)
        se = np.where((n1 > 1) & (n0 > 1), se, np.nan)
    return _out(diff, diff - z * se, diff + z * se)
