"""The campaign engine as tables: events in, actions out (pure functions, no store, no clock)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tenure.campaigns import engine, keys
from tenure.campaigns.definitions import Campaign, Step, Trigger, default_campaigns

D = dt.date(2026, 3, 10)


def campaign(**kw) -> Campaign:
    base = dict(enabled=True, trigger=Trigger(orders="1-2", days_since_last=25), holdout_share=0.0,
                steps=[Step(offset_days=0, template="a"), Step(offset_days=10, template="b")])
    return Campaign(**{**base, **kw})


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


PAST = ["campaign", "customer_id", "last_entered_on", "active"]
ENTRIES = ["campaign", "customer_id", "trigger"]


@pytest.mark.parametrize("past, reentry, enters", [
    ([], 0, True),                                          # never enrolled
    ([("c", "u1", D - dt.timedelta(days=40), False)], 0, False),   # re-entry never
    ([("c", "u1", D - dt.timedelta(days=40), False)], 30, True),   # after 30 days: 40 passed
    ([("c", "u1", D - dt.timedelta(days=20), False)], 30, False),  # only 20 passed
    ([("c", "u1", D - dt.timedelta(days=40), True)], 30, False),   # still active
    ([("c", "u1", D, False)], 1, False),                           # the same day run twice
])
def test_enroll_reentry_rules(past, reentry, enters):
    out = engine.enroll(frame([("c", "u1", "t")], ENTRIES), frame(past, PAST),
                        {"c": campaign(reentry_after_days=reentry)}, D)
    assert (len(out) == 1) == enters
    if enters:
        assert out.iloc[0].to_dict() == {"campaign": "c", "customer_id": "u1", "entered_on": D,
                                         "grp": "treatment", "trigger": "t"}


def test_enroll_ignores_disabled_campaigns_and_duplicate_entries():
    entries = frame([("on", "u1", "t"), ("on", "u1", "t"), ("off", "u1", "t")], ENTRIES)
    out = engine.enroll(entries, frame([], PAST), {"on": campaign(), "off": campaign(enabled=False)}, D)
    assert out[["campaign", "customer_id"]].values.tolist() == [["on", "u1"]]


def test_schedule_one_row_per_step_holdout_rows_are_held_out():
    enr = frame([("c", "u1", D, "treatment", "t"), ("c", "u2", D, "holdout", "t")], engine.ENROLLMENT_COLUMNS)
    out = engine.schedule(enr, {"c": campaign(priority=7)})
    got = out[["customer_id", "step", "due_on", "status", "template", "priority"]].values.tolist()
    assert got == [["u1", 0, D, "pending", "a", 7], ["u1", 1, D + dt.timedelta(days=10), "pending", "b", 7],
                   ["u2", 0, D, "held_out", "a", 7], ["u2", 1, D + dt.timedelta(days=10), "held_out", "b", 7]]
    assert out.key.tolist()[0] == keys.message_key("c", "u1", D, 0)
    assert out.key.is_unique


def test_holdout_share_and_stability():
    ids = pd.Series([f"cust-{i}" for i in range(100_000)])
    first = keys.groups("rf-wandering", ids, 0.10)
    share = (first == "holdout").mean()
    assert abs(share - 0.10) <= 0.005, share
    again = keys.groups("rf-wandering", ids.sample(frac=1, random_state=1), 0.10).sort_index()
    assert (again == first).all()                       # the same customer, the same group, any order
    other = keys.groups("rf-lost", ids, 0.10)
    assert 0.005 < ((other == "holdout") & (first == "holdout")).mean() < 0.015  # independent per campaign
    assert [keys.holdout_value("rf-wandering", c) for c in ids[:5]] == pytest.approx(
        list(keys.holdout_values("rf-wandering", ids[:5])))


OPEN = ["key", "campaign", "customer_id", "entered_on", "status"]


def test_advance_skips_after_purchase_and_when_left():
    opened = frame([("k1", "c", "bought", D, "pending"), ("k2", "c", "left", D, "pending"),
                    ("k3", "c", "stays", D, "pending"), ("k4", "c", "held", D, "held_out"),
                    ("k5", "c", "sameday", D, "pending")], OPEN)
    purchases = frame([("bought", D + dt.timedelta(days=2)), ("left", D - dt.timedelta(days=30)),
                       ("stays", D - dt.timedelta(days=30)), ("held", D + dt.timedelta(days=1)),
                       ("sameday", D)], ["customer_id", "last_purchase"])
    inside = frame([("c", "stays"), ("c", "sameday"), ("c", "held")], ["campaign", "customer_id"])
    skips, ended = engine.advance(opened, purchases, inside, {"c": campaign()})
    assert sorted(map(tuple, skips.values.tolist())) == [("k1", "converted"), ("k2", "left segment")]
    # A purchase on the entry day itself is not one made after the message (welcome series).
    assert sorted(ended.customer_id) == ["bought", "held"]


def test_advance_keeps_going_when_skip_rules_are_off():
    opened = frame([("k1", "c", "bought", D, "pending"), ("k2", "c", "left", D, "pending")], OPEN)
    purchases = frame([("bought", D + dt.timedelta(days=2))], ["customer_id", "last_purchase"])
    skips, ended = engine.advance(opened, purchases, frame([], ["campaign", "customer_id"]),
                                  {"c": campaign(exit_on_purchase=False, skip_when_left=False)})
    assert skips.empty and ended.empty


BATCH = ["id", "campaign", "customer_id", "channel", "marketing", "priority", "due_on", "step"]
CONTACTS = ["customer_id", "email", "phone", "consent_email", "consent_sms", "timezone", "suppressed"]
NOON = dt.datetime(2026, 3, 10, 12, 0)  # UTC


def decide(batch, contacts, recent=(), **kw):
    args = dict(now=NOON, today=D, cap=2, max_lateness_days=1, quiet_hours="21:00-08:00", default_zone="UTC")
    out = engine.decide(frame(batch, BATCH), frame(contacts, CONTACTS), frame(list(recent), ["customer_id", "sent"]),
                        **{**args, **kw})
    return {r.id: (r.action, r.reason) for r in out.itertuples()}


OK = ("a@x.com", "+1", True, True, "UTC", set())


def test_decide_rechecks_eligibility_before_each_send():
    batch = [(1, "c", "ok", "email", True, 1, D, 0), (2, "c", "noconsent", "email", True, 1, D, 0),
             (3, "c", "suppressed", "email", True, 1, D, 0), (4, "c", "noaddress", "sms", True, 1, D, 0),
             (5, "c", "late", "email", True, 1, D - dt.timedelta(days=3), 0),
             (6, "c", "noconsent", "email", False, 1, D, 0),          # a service message needs no consent
             (7, "c", "mkt-suppressed", "task", True, 1, D, 0),
             (8, "c", "email-suppressed", "sms", True, 1, D, 0)]
    contacts = [("ok", *OK), ("noconsent", "b@x.com", None, False, False, "UTC", set()),
                ("suppressed", *OK[:5], {"all"}), ("noaddress", "c@x.com", None, True, True, "UTC", set()),
                ("late", *OK), ("mkt-suppressed", *OK[:5], {"marketing"}), ("email-suppressed", *OK[:5], {"email"})]
    got = decide(batch, contacts)
    assert got == {1: ("send", ""), 2: ("no_consent", "no consent to email"), 3: ("suppressed", "suppressed"),
                   4: ("no_address", "no sms address"), 5: ("expired", "more than 1 day(s) late"),
                   6: ("send", ""), 7: ("suppressed", "suppressed for marketing"), 8: ("send", "")}


def test_frequency_cap_counts_earlier_sends_and_keeps_the_highest_priority():
    batch = [(1, "low", "u", "email", True, 10, D, 0), (2, "high", "u", "email", True, 90, D, 0),
             (3, "mid", "u", "sms", True, 50, D, 0), (4, "svc", "u", "email", False, 1, D, 0),
             (5, "low", "v", "email", True, 10, D, 0)]
    contacts = [("u", *OK), ("v", *OK)]
    assert decide(batch, contacts) == {2: ("send", ""), 3: ("send", ""), 1: ("capped", "frequency cap of 2"),
                                       4: ("send", ""), 5: ("send", "")}
    # One marketing message already went out this week: only the highest priority goes now.
    got = decide(batch, contacts, recent=[("u", 1)])
    assert [k for k, (a, _) in got.items() if a == "send"] == [2, 4, 5]
    assert decide(batch, contacts, recent=[("u", 5)], cap=0)[1] == ("send", "")  # cap 0: no cap


def test_quiet_hours_in_the_customers_zone():
    batch = [(1, "c", "tokyo", "email", True, 1, D, 0), (2, "c", "london", "email", True, 1, D, 0),
             (3, "c", "tokyo", "webhook", True, 1, D, 1)]
    contacts = [("tokyo", *OK[:4], "Asia/Tokyo", set()), ("london", *OK[:4], "Europe/London", set())]
    out = engine.decide(frame(batch, BATCH), frame(contacts, CONTACTS), frame([], ["customer_id", "sent"]),
                        now=NOON, today=D, cap=0, max_lateness_days=1, quiet_hours="21:00-08:00", default_zone="UTC")
    by = out.set_index("id")
    # 12:00 UTC is 21:00 in Tokyo: quiet until 08:00 Tokyo = 23:00 UTC; London is at lunch.
    assert by.loc[1, "action"] == "defer" and by.loc[1, "not_before"] == pd.Timestamp("2026-03-10 23:00")
    assert by.loc[2, "action"] == "send"
    assert by.loc[3, "action"] == "send"  # a webhook reaches a system, not a person


def test_default_campaigns_are_the_ladder_of_domain_md_and_are_off():
    c = default_campaigns()
    ladder = {n: (x.trigger.orders, x.trigger.days_since_last, x.conversion_window_days,
                  [s.offset_days for s in x.steps]) for n, x in c.items() if n.startswith("rf-")}
    assert ladder == {"rf-new": ("1", 10, 7, [0, 6]), "rf-promising": ("1-2", 25, 7, [0, 10]),
                      "rf-wandering": ("1-2", 51, 12, [0, 12]), "rf-dormant": ("1-2", 75, 10, [0, 15]),
                      "rf-loyal": ("3+", 20, 7, [0, 14]), "rf-at-risk": ("3+", 56, 2, [0, 10]),
                      "rf-lost": ("3+", 113, 14, [0, 30])}
    assert {"welcome", "anniversary", "reactivation"} <= set(c)
    assert not any(x.enabled for x in c.values())
    assert all(x.holdout_share == 0.10 for x in c.values())


def test_keys_by_duckdb_equal_keys_by_hashlib():
    n = keys.SMALL + 10  # the large path
    ids = pd.Series([f"c{i}" for i in range(n)])
    frame = pd.DataFrame({"campaign": "rf-lost", "customer_id": ids, "entered_on": D, "step": 1})
    big = keys.message_keys(frame)
    assert big.iloc[7] == keys.message_key("rf-lost", "c7", D, 1)
    assert (keys.message_keys(frame.head(50)) == big.head(50)).all()
    assert list(keys.holdout_values("x", ids)[:50]) == pytest.approx(list(keys.holdout_values("x", ids[:50])))
