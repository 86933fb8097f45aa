"""Reading and writing campaign state in the operational store (enrollments, outbox, tasks)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from tenure.store import Store
from tenure.store.engine import analyze, bulk_insert_ignore, insert_ignore
from tenure.store.tables import enrollments, outbox, suppressions, tasks

def _frame(conn, query) -> pd.DataFrame:
    result = conn.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def past_enrollments(store: Store, campaigns: list[str], customer_ids=None) -> pd.DataFrame:
    """campaign, customer_id, last_entered_on, active: each customer's latest enrollment, for
    `customer_ids` only when given (today's entrants: the history grows every day, they do not).

    A text query: its values come back raw (dates as ISO text on SQLite), which pandas parses
    a hundred times faster than SQLAlchemy's typed rows."""
    names = list(campaigns) or [""]
    query = ("SELECT e.campaign, e.customer_id, max(e.entered_on) AS last_entered_on, "
             "max(CASE WHEN e.status = 'active' THEN 1 ELSE 0 END) AS active FROM enrollments e {join}"
             "WHERE e.campaign IN :names GROUP BY e.campaign, e.customer_id")
    bind = sa.bindparam("names", expanding=True)
    with store.begin() as conn:
        if customer_ids is None:
            df = _frame(conn, sa.text(query.format(join="")).bindparams(bind).params(names=names))
        else:
            # A temporary table of the entrants, joined in the store: an IN list of a million ids
            # would not do. Dropped at the end of the transaction on both databases.
            conn.exec_driver_sql("CREATE TEMP TABLE _entrants (customer_id VARCHAR(200) PRIMARY KEY)"
                                 + (" ON COMMIT DROP" if conn.dialect.name == "postgresql" else ""))
            bulk_insert_ignore(conn, _ENTRANTS, pd.DataFrame({"customer_id": pd.unique(pd.Series(customer_ids))}))
            join = "JOIN _entrants x ON x.customer_id = e.customer_id "
            df = _frame(conn, sa.text(query.format(join=join)).bindparams(bind).params(names=names))
            if conn.dialect.name != "postgresql":
                conn.exec_driver_sql("DROP TABLE _entrants")
    df["last_entered_on"] = pd.to_datetime(df.last_entered_on).dt.date
    df["active"] = df.active.astype(bool)
    return df


# The temporary table's shape, for bulk_insert_ignore (not part of the store's schema).
_ENTRANTS = sa.Table("_entrants", sa.MetaData(), sa.Column("customer_id", sa.String(200), primary_key=True))


def write_enrollments(store: Store, new: pd.DataFrame, messages: pd.DataFrame, now: dt.datetime) -> tuple[int, int]:
    """Enrollments and their messages in one transaction; what is already there is kept."""
    with store.begin() as conn:
        counts = (bulk_insert_ignore(conn, enrollments, new.assign(created_at=now, status="active")),
                  bulk_insert_ignore(conn, outbox, messages.assign(created_at=now)))
        if sum(counts) > 10_000:
            analyze(conn, "enrollments", "outbox")
    return counts


def open_messages(store: Store) -> pd.DataFrame:
    """Pending and held-out messages of active enrollments (what advance() looks at)."""
    o, e = outbox, enrollments
    q = (sa.select(o.c.key, o.c.campaign, o.c.customer_id, o.c.entered_on, o.c.status)
         .join(e, sa.and_(e.c.campaign == o.c.campaign, e.c.customer_id == o.c.customer_id,
                          e.c.entered_on == o.c.entered_on))
         .where(e.c.status == "active"))
    with store.connect() as conn:
        return _frame(conn, q)


def apply_advance(store: Store, skips: pd.DataFrame, ended: pd.DataFrame, today: dt.date) -> None:
    with store.begin() as conn:
        if len(skips):
            conn.execute(outbox.update().where(outbox.c.key == sa.bindparam("k"), outbox.c.status == "pending")
                         .values(status="skipped", reason=sa.bindparam("r")),
                         [{"k": k, "r": r} for k, r in zip(skips.key, skips.reason)])
        if len(ended):
            e = enrollments
            conn.execute(e.update().where(e.c.campaign == sa.bindparam("c"), e.c.customer_id == sa.bindparam("u"),
                                          e.c.entered_on == sa.bindparam("d"), e.c.status == "active")
                         .values(status="ended", ended_on=today, end_reason=sa.bindparam("why")),
                         [{"c": c, "u": u, "d": d, "why": w} for c, u, d, w in
                          zip(ended.campaign, ended.customer_id, ended.entered_on, ended.end_reason)])
        complete_enrollments(conn, today)


def complete_enrollments(conn, today: dt.date) -> None:
    """An active enrollment none of whose messages is still open has run its course."""
    e, o = enrollments, outbox
    open_left = (sa.select(o.c.id).where(o.c.campaign == e.c.campaign, o.c.customer_id == e.c.customer_id,
                                         o.c.entered_on == e.c.entered_on,
                                         o.c.status.in_(("pending", "claimed", "in_flight"))).exists())
    future_holdout = (sa.select(o.c.id).where(o.c.campaign == e.c.campaign, o.c.customer_id == e.c.customer_id,
                                              o.c.entered_on == e.c.entered_on, o.c.status == "held_out",
                                              o.c.due_on > today).exists())
    conn.execute(e.update().where(e.c.status == "active", ~open_left, ~future_holdout)
                 .values(status="ended", ended_on=today, end_reason="completed"))


def active_suppressions(conn, customer_ids: list[str]) -> dict[str, set[str]]:
    s = suppressions
    out: dict[str, set[str]] = {}
    for start in range(0, len(customer_ids), 5000):
        q = sa.select(s.c.customer_id, s.c.scope).where(s.c.lifted_at.is_(None),
                                                         s.c.customer_id.in_(customer_ids[start:start + 5000]))
        for cid, scope in conn.execute(q):
            out.setdefault(cid, set()).add(scope)
    return out


def insert_task(store: Store, row: dict, now: dt.datetime) -> bool:
    with store.begin() as conn:
        return insert_ignore(conn, tasks, [{**row, "status": "open", "created_at": now}]) == 1
