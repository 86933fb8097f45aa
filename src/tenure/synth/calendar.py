"""Time inside the window: seconds since `start` 00:00 (wall clock of the shop, no zone).

Shop activity is not flat: November and December sell more, weekends differ, and people shop in
the evening. Purchase processes run in "operational time" (days weighted by that seasonality) and
are mapped back to calendar time, which keeps them vectorised and still seasonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

DAY = 86_400
# Relative activity by month (Jan..Dec) and by weekday (Mon..Sun).
MONTH_FACTOR = np.array([0.85, 0.85, 0.95, 1.0, 1.0, 0.95, 0.9, 0.95, 1.0, 1.05, 1.35, 1.5])
WEEKDAY_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 0.95, 0.9, 1.1])
# Relative activity by hour of day (0..23): quiet nights, a lunch bump, an evening peak.
HOUR_WEIGHTS = np.array([
    0.3, 0.2, 0.12, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.1, 1.2,
    1.3, 1.2, 1.1, 1.1, 1.15, 1.25, 1.45, 1.65, 1.75, 1.6, 1.1, 0.6,
])
HOUR_CDF = np.cumsum(HOUR_WEIGHTS) / HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class Window:
    start: date
    days: int
    activity: np.ndarray  # per day, mean 1
    cum: np.ndarray  # operational time at each day boundary, len days + 1

    @property
    def seconds(self) -> int:
        return self.days * DAY

    @property
    def epoch_seconds(self) -> int:
        """Seconds from 1970-01-01 to `start`, to turn window seconds into timestamps."""
        midnight = datetime.combine(self.start, datetime.min.time())
        return int((midnight - datetime(1970, 1, 1)).total_seconds())


def make_window(start: date, end: date) -> Window:
    days = (end - start).days + 1
    dates = np.arange(np.datetime64(start, "D"), np.datetime64(end + timedelta(days=1), "D"))
    months = dates.astype("datetime64[M]").astype(int) % 12
    weekdays = (dates.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    activity = MONTH_FACTOR[months] * WEEKDAY_FACTOR[weekdays]
    activity = activity / activity.mean()
    cum = np.concatenate([[0.0], np.cumsum(activity)])
    return Window(start, days, activity, cum)


def time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight following the diurnal profile."""
    hours = np.searchsorted(HOUR_CDF, rng.random(n), side="right").clip(0, 23)
    return hours * 3600 + rng.integers(0, 3600, n)


def sample_days(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Day indexes drawn with the given per-day weights."""
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").clip(0, len(weights) - 1)


def to_operational(window: Window, t: np.ndarray) -> np.ndarray:
    return np.interp(t / DAY, np.arange(window.days + 1), window.cum)


def from_operational(window: Window, tau: np.ndarray) -> np.ndarray:
    """Calendar seconds for operational times (caller drops those past `window.cum[-1]`)."""
    return np.interp(tau, window.cum, np.arange(window.days + 1)) * DAY


def with_time_of_day(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Keep the day of each time, redraw its clock time from the diurnal profile."""
    return (t // DAY).astype(np.int64) * DAY + time_of_day(rng, len(t))


def month_sends(window: Window) -> tuple[np.ndarray, list[str]]:
    """The monthly newsletter: first Tuesday of each month at 10:00, and its campaign names."""
    sends, names = [], []
    first = window.start.replace(day=1)
    while first <= window.start + timedelta(days=window.days - 1):
        tuesday = first + timedelta(days=(1 - first.weekday()) % 7)
        t = (tuesday - window.start).days * DAY + 10 * 3600
        if 0 <= t < window.seconds:
            sends.append(t)
            names.append(f"newsletter-{first:%Y-%m}")
        first = (first + timedelta(days=32)).replace(day=1)
    return np.array(sends, dtype=np.int64), names
