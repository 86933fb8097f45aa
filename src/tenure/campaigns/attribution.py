"""Campaign attribution: which enrollment converted, and what the campaign added over its holdout.

Pure pandas on frames the caller has loaded; no I/O, no clock. All timestamps are naive
wall-clock times in the shop's zone (as the warehouse stores them): the caller converts sent_at
if the operational store holds it in another zone.

Definition of a conversion, per enrollment:
- the *anchor* of a step is its `sent_at` for a message with status 'sent', and the start of its
  `due_on` day for any other message (a holdout 'would have been sent' on due_on; a capped,
  suppressed, failed, skipped or pending message likewise);
- a *purchase* is an order with status 'completed' and amount > 0;
- the enrollment converted with the FIRST purchase of the customer that falls strictly after the
  anchor of some step and at most `conversion_window_days` days after it
  (anchor < ordered_at <= anchor + window);
- the step credited is the one whose anchor is the latest before that purchase.
Because every step has the same window, a purchase lies in some step's window exactly when it lies
in the window of the latest anchor before it, and the first purchase in the union of the windows
is the earliest of each step's first purchase after its anchor, when that is inside its window:
sorted searches on integer keys, no customer-by-order cross product.

Groups are compared as assigned (intention to treat): a treatment enrollment whose messages were
all capped, suppressed or undeliverable stays in the treatment group. Who is left unsent is not
random (caps hit the most-messaged, consent and address gaps the least engaged), and the holdout
is never filtered that way, so comparing only the messages actually sent would compare two
different populations; the assigned groups are randomised, so their difference is unbiased.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tenure.campaigns.uplift import mean_difference_ci, rate_difference_ci

ENROLLMENT = ["campaign", "customer_id", "entered_on"]
SUPPRESSED = ("suppressed", "no_consent", "no_address")


def _codes(*columns: pd.Series) -> tuple[list[np.ndarray], pd.Index]:
    """Integer codes shared by several columns (-1 for a missing value): joins on integers are
    several times faster than on strings, which is what keeps a million enrollments in seconds."""
    codes, uniques = pd.factorize(pd.concat(columns, ignore_index=True))
    return np.split(codes.astype("int64"), np.cumsum([len(c) for c in columns])[:-1]), uniques


def _time(column: pd.Series) -> np.ndarray:
    return pd.to_datetime(column).to_numpy().astype("datetime64[ns]")


def _enrollment_of(keys_e: tuple, keys_m: tuple, n_campaigns: int) -> np.ndarray:
    """Each message's enrollment row (-1 for none), from (customer code, campaign code, entry
    day) by a sorted search on one integer key: ten times faster than a three-column merge."""
    (ce, ke, de), (cm, km, dm) = keys_e, keys_m
    de, dm = (d.astype("datetime64[D]").astype("int64") for d in (de, dm))
    lo = min(de.min(initial=0), dm.min(initial=0))
    span = int(max(de.max(initial=0), dm.max(initial=0)) - lo + 1)
    n_customers = int(max(ce.max(initial=0), cm.max(initial=0))) + 1
    if n_customers * n_campaigns * span >= 2 ** 62:  # codes are below the row counts: not a shop
        raise ValueError("too many customers, campaigns and days for one attribution run")
    key_e, key_m = ((c * n_campaigns + k) * span + (d - lo) for c, k, d in ((ce, ke, de), (cm, km, dm)))
    if len(key_e) == 0:
        return np.full(len(key_m), -1)
    order = np.argsort(key_e, kind="stable")
    pos = np.searchsorted(key_e[order], key_m).clip(max=len(order) - 1)
    return np.where(key_e[order][pos] == key_m, order[pos], -1)


class _Purchases:
    """Completed orders with amount > 0, searchable for "a customer's first purchase strictly
    after t" for millions of (customer, t) at once: with every purchase's position in time order
    `pos`, the key customer * n + pos is sorted per customer and then by time, so one
    searchsorted answers all queries (merge_asof by customer is several times slower)."""

    def __init__(self, orders: pd.DataFrame, customer: np.ndarray) -> None:
        amount = pd.to_numeric(orders["amount"]).astype(float).to_numpy()
        keep = np.flatnonzero((orders["status"] == "completed").to_numpy() & (amount > 0)
                              & (customer >= 0))
        self.amount = amount
        self.at = _time(orders["ordered_at"])
        at, c = self.at[keep], customer[keep]
        by_time = np.argsort(at, kind="stable")
        self.times, self.n = at[by_time], len(keep)
        key = c[by_time] * self.n + np.arange(self.n)
        order = np.argsort(key, kind="stable")
        self.keys, self.rows = key[order], keep[by_time][order]
        # A customer's orders at one instant: keep the smallest order_id, so that a tie resolves
        # the same way whatever the input order (rare, so the ids are read for those rows only).
        same = np.flatnonzero((np.diff(self.keys // max(self.n, 1)) == 0)
                              & (np.diff(self.at[self.rows]) == np.timedelta64(0)))
        if len(same):
            tied = np.unique(np.concatenate([same, same + 1]))
            ids = pd.DataFrame({"c": self.keys[tied] // self.n, "at": self.at[self.rows[tied]],
                                "id": orders["order_id"].iloc[self.rows[tied]].to_numpy(),
                                "i": tied})
            losers = np.setdiff1d(tied, ids.sort_values("id").drop_duplicates(["c", "at"])["i"])
            self.keys, self.rows = np.delete(self.keys, losers), np.delete(self.rows, losers)

    def first_after(self, customer: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Row (in `orders`) of each customer's first purchase strictly after t; -1 if none."""
        if len(self.keys) == 0:
            return np.full(len(t), -1)
        query = customer * self.n + np.searchsorted(self.times, t, side="right")
        i = np.searchsorted(self.keys, query)
        ok = i < len(self.keys)
        i = np.where(ok, i, 0)
        return np.where(ok & (self.keys[i] // self.n == customer), self.rows[i], -1)


def conversions(enrollments: pd.DataFrame, messages: pd.DataFrame, orders: pd.DataFrame,
                windows: dict[str, int]) -> pd.DataFrame:
    """One row per enrollment (unique per campaign, customer_id, entered_on): campaign,
    customer_id, entered_on, grp, converted, order_id, converted_at, revenue (the converting
    order's amount; 0.0 without one) and step (the step credited; <NA> without a conversion).
    `windows` maps a campaign to its conversion window in days. Messages of no listed
    enrollment are ignored."""
    missing = sorted(set(messages["campaign"].unique()) - set(windows))
    if missing:
        raise ValueError(f"no conversion window given for campaign(s) {', '.join(map(str, missing))}")
    (ce, cm, co), _ = _codes(enrollments["customer_id"], messages["customer_id"],
                             orders["customer_id"])
    (ke, km), names = _codes(enrollments["campaign"], messages["campaign"])
    m = messages
    eid = _enrollment_of((ce, ke, _time(enrollments["entered_on"])),
                         (cm, km, _time(m["entered_on"])), len(names))
    sent_at, due = _time(m["sent_at"]), _time(m["due_on"])
    anchor = np.where((m["status"] == "sent").to_numpy() & ~np.isnat(sent_at), sent_at, due)
    days = np.array([windows.get(name, 0) for name in names], dtype="int64")[km]
    buys = _Purchases(orders, co)
    # Each step's first purchase strictly after its anchor, kept when inside its window.
    row = buys.first_after(cm, anchor)
    at = np.full(len(row), np.datetime64("NaT"), dtype="datetime64[ns]")
    at[row >= 0] = buys.at[row[row >= 0]]
    hit = (eid >= 0) & (row >= 0) & ~np.isnat(anchor) & (at <= anchor + days.astype("timedelta64[D]"))
    found = pd.DataFrame({"eid": eid[hit], "row": row[hit], "at": at[hit]})
    found = found.sort_values(["at", "row"], kind="stable").drop_duplicates("eid")
    # Credit the latest anchor before the purchase (possibly a later step than the one above).
    mine = np.flatnonzero(np.isin(eid, found["eid"].to_numpy()))
    steps = pd.DataFrame({"eid": eid[mine], "step": m["step"].to_numpy()[mine],
                          "anchor": anchor[mine]}).merge(found, on="eid")
    steps = steps[steps["anchor"] < steps["at"]].sort_values(["anchor", "step"])
    credit = steps.drop_duplicates("eid", keep="last").set_index("eid")["step"]

    out = enrollments[[*ENROLLMENT, "grp"]].reset_index(drop=True)
    out["converted"] = False
    out["order_id"] = pd.Series(None, index=out.index, dtype=object)
    out["converted_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    out["revenue"] = 0.0
    out["step"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
    rows, ids = found["eid"].to_numpy(), found["row"].to_numpy()
    out.loc[rows, "converted"] = True
    out.loc[rows, "order_id"] = orders["order_id"].iloc[ids].to_numpy()
    out.loc[rows, "converted_at"] = found["at"].to_numpy()
    out.loc[rows, "revenue"] = buys.amount[ids]
    out.loc[rows, "step"] = credit.reindex(rows).to_numpy()
    return out


def _funnel(enrollments, messages, events, conv) -> pd.DataFrame:
    """Counts per campaign and step, then per campaign as step 'all'."""
    m = messages[["key", "campaign", "step", "status"]]
    ev = events[events["type"].isin(["open", "click"])][["key", "type"]].drop_duplicates()
    m = m.assign(
        reached=1,
        sent=m["status"].eq("sent"), capped=m["status"].eq("capped"),
        failed=m["status"].eq("failed"), suppressed=m["status"].isin(SUPPRESSED),
        opened=m["key"].isin(ev.loc[ev["type"] == "open", "key"]),
        clicked=m["key"].isin(ev.loc[ev["type"] == "click", "key"]))
    cols = ["sent", "capped", "failed", "suppressed", "opened", "clicked"]
    by_step = m.groupby(["campaign", "step"])[["reached", *cols]].sum()
    by_step = by_step.rename(columns={"reached": "enrolled"})
    # Conversions and revenue are the treatment group's; the holdout's go to holdout_rate.
    t = conv[conv["grp"] == "treatment"]
    t = t[t["converted"]].assign(step=lambda d: d["step"].astype("int64"))
    won = t.groupby(["campaign", "step"]).agg(converted=("converted", "size"),
                                              revenue=("revenue", "sum"))
    by_step = by_step.join(won, how="outer").fillna(0).reset_index()
    enrolled = enrollments.groupby("campaign").size().rename("enrolled")
    total = by_step.groupby("campaign")[cols + ["converted", "revenue"]].sum()
    total = total.join(enrolled, how="outer").fillna(0).reset_index().assign(step="all")
    return pd.concat([by_step.astype({"step": object}), total], ignore_index=True)


def report(enrollments: pd.DataFrame, messages: pd.DataFrame, events: pd.DataFrame,
           conversions: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign and step, plus a step 'all' row per campaign.

    Every row: enrolled (enrollments with a message at the step, both groups; on 'all' every
    enrollment), sent, capped, failed, suppressed (suppressed + no_consent + no_address), opened
    and clicked (distinct messages with an open/click event), converted and revenue (treatment
    conversions credited to the step). The 'all' row also carries treatment_n, holdout_n,
    treatment_rate, holdout_rate, uplift (= the rate difference) with uplift_low/uplift_high
    (95%, Newcombe), and incremental_revenue = (mean revenue per treatment enrollment - mean per
    holdout enrollment) * treatment_n with incremental_revenue_low/_high (95%, Welch)."""
    rows = _funnel(enrollments, messages, events, conversions)
    # As assigned (intention to treat): never only the enrollments whose messages went out.
    conv = conversions[conversions["grp"].isin(["treatment", "holdout"])]
    g = conv.assign(t=conv["grp"] == "treatment").groupby(["campaign", "t"])
    stats = g.agg(n=("converted", "size"), x=("converted", "sum"),
                  mean=("revenue", "mean"), sd=("revenue", "std")).unstack("t")
    stats = stats.reindex(columns=pd.MultiIndex.from_product([stats.columns.levels[0], [True, False]]))
    n1, n0 = stats["n"][True].fillna(0), stats["n"][False].fillna(0)
    x1, x0 = stats["x"][True].fillna(0), stats["x"][False].fillna(0)
    diff, low, high = rate_difference_ci(x1.to_numpy(), n1.to_numpy(), x0.to_numpy(), n0.to_numpy())
    rev, rev_low, rev_high = mean_difference_ci(
        stats["mean"][True].to_numpy(), stats["sd"][True].to_numpy(), n1.to_numpy(),
        stats["mean"][False].to_numpy(), stats["sd"][False].to_numpy(), n0.to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = pd.DataFrame({
            "campaign": stats.index, "step": "all",
            "treatment_n": n1.to_numpy().astype(int), "holdout_n": n0.to_numpy().astype(int),
            "treatment_rate": (x1 / n1).to_numpy(), "holdout_rate": (x0 / n0).to_numpy(),
            "uplift": diff, "uplift_low": low, "uplift_high": high,
            "incremental_revenue": rev * n1.to_numpy(),
            "incremental_revenue_low": rev_low * n1.to_numpy(),
            "incremental_revenue_high": rev_high * n1.to_numpy()})
    out = rows.merge(effect, on=["campaign", "step"], how="left")
    ints = ["enrolled", "sent", "capped", "failed", "suppressed", "opened", "clicked", "converted"]
    out[ints] = out[ints].astype(int)
    out["revenue"] = out["revenue"].astype(float)
    # Steps in numeric order, 'all' last; the step column is text so that it can hold 'all'.
    out["_order"] = pd.to_numeric(out["step"], errors="coerce").fillna(np.inf)
    out = out.sort_values(["campaign", "_order"], kind="stable").drop(columns="_order")
    out["step"] = out["step"].astype(str)
    return out.reset_index(drop=True)
