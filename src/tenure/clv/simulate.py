"""Draw customers from known BG/NBD and Gamma-Gamma parameters: for parameter-recovery tests and
the benchmark. Vectorised numpy; each customer's purchases follow the model exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_summary(n: int, *, r: float, alpha: float, a: float, b: float, T: float | np.ndarray,
                     seed: int = 0) -> pd.DataFrame:
    """x, t_x, T for `n` customers observed for T (same unit as alpha) after their first purchase."""
    rng = np.random.default_rng(seed)
    T = np.broadcast_to(np.asarray(T, dtype="float64"), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n, dtype="int64")
    t_x = np.zeros(n)
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    # Each round: every live customer's next purchase; it counts if it falls before T, and after
    # each purchase the customer drops out with probability p. Rounds end when nobody is left.
    while alive.any():
        idx = np.flatnonzero(alive)
        clock[idx] += rng.exponential(1.0 / lam[idx])
        inside = clock[idx] <= T[idx]
        buyers = idx[inside]
        x[buyers] += 1
        t_x[buyers] = clock[buyers]
        alive[idx[~inside]] = False
        alive[buyers] = rng.random(buyers.size) >= p[buyers]
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T})


def simulate_spend(x: np.ndarray, *, p: float, q: float, gamma: float, seed: int = 0) -> np.ndarray:
    """Mean spend of each customer's x repeat purchases (NaN when x = 0): each purchase ~
    Gamma(p, nu), nu ~ Gamma(q, gamma), so the mean of x purchases ~ Gamma(p x, nu x)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x)
    nu = rng.gamma(q, 1.0 / gamma, x.size)
    out = np.full(x.size, np.nan)
    rep = x > 0
    out[rep] = rng.gamma(p * x[rep], 1.0 / (nu[rep] * x[rep]))
    return out


def simulate_transactions(n: int, *, r: float, alpha: float, a: float, b: float, p: float, q: float,
                          gamma: float, start: str, days: int, seed: int = 0) -> pd.DataFrame:
    """Purchases of `n` customers acquired uniformly over the first half of a `days`-long window
    starting on `start`, each buying per BG/NBD (rates per day) and spending per Gamma-Gamma.
    Columns: customer (int), day (offset from start, int), amount. For benchmarks at scale."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, days // 2, n)
    lam = rng.gamma(r, 1.0 / alpha, n)
    drop = rng.beta(a, b, n)
    nu = rng.gamma(q, 1.0 / gamma, n)
    cust, when = [np.arange(n)], [first.astype("float64")]
    clock = first.astype("float64")
    alive = np.ones(n, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        clock[idx] += rng.exponential(1.0 / lam[idx])
        inside = clock[idx] < days
        buyers = idx[inside]
        cust.append(buyers)
        when.append(clock[buyers].copy())
        alive[idx[~inside]] = False
        alive[buyers] = rng.random(buyers.size) >= drop[buyers]
    customer = np.concatenate(cust)
    amount = rng.gamma(p, 1.0 / nu[customer])
    return pd.DataFrame({"customer": customer, "day": np.floor(np.concatenate(when)).astype("int64"),
                         "amount": np.round(amount, 2)})
