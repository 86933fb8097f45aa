"""The operational store's tables (SQLAlchemy Core): state that needs transactions.

The migrations in store/migrations build exactly these tables; a test compares the two.
Timestamps here are UTC (naive); dates (entered_on, due_on) are days in the shop's zone.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# BIGINT keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

enrollments = sa.Table(
    "enrollments", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("campaign", sa.String(100), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("entered_on", sa.Date, nullable=False),
    sa.Column("grp", sa.String(10), nullable=False),                 # treatment | holdout
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="active"),  # active | ended
    sa.Column("ended_on", sa.Date),
    sa.Column("end_reason", sa.String(50)),                          # purchased | completed
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("campaign", "customer_id", "entered_on"),
    sa.Index(None, "customer_id", "campaign"),
    sa.Index(None, "campaign", "entered_on"),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),    # hash(campaign, customer, entry, step)
    sa.Column("campaign", sa.String(100), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("entered_on", sa.Date, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("template", sa.String(200), nullable=False),
    sa.Column("grp", sa.String(10), nullable=False),
    sa.Column("marketing", sa.Boolean, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("not_before", sa.DateTime),                            # quiet hours or a retry's backoff
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("worker", sa.String(100)),
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("reason", sa.String(500)),
    sa.Column("provider_id", sa.String(200)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index(None, "status", "due_on"),
    sa.Index(None, "customer_id", "sent_at"),
    # Revision 0003: dispatchers claim due messages in customer order by walking this index
    # instead of sorting every due message for each batch.
    sa.Index(None, "status", "customer_id"),
    sa.Index(None, "campaign", "customer_id", "entered_on"),
)

delivery_attempts = sa.Table(
    "delivery_attempts", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", Id, sa.ForeignKey("outbox.id"), nullable=False, index=True),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("outcome", sa.String(20)),                             # sent | failed | retry | unknown
    sa.Column("detail", sa.String(1000)),
)

consents = sa.Table(
    "consents", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),             # email | sms
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(100), nullable=False),             # unsubscribe link, api, admin
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("customer_id", "channel"),
)

suppressions = sa.Table(
    "suppressions", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("scope", sa.String(20), nullable=False),               # all | marketing | email | sms
    sa.Column("reason", sa.String(50), nullable=False),              # sunset | unsubscribe | bounce | manual
    sa.Column("source", sa.String(200)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("lifted_at", sa.DateTime),
    sa.Column("lifted_reason", sa.String(200)),
)

tracking_events = sa.Table(
    "tracking_events", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("outbox_key", sa.String(64), nullable=False, index=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("type", sa.String(20), nullable=False),                # open | click | unsubscribe
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("url", sa.Text),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("outbox_key", sa.String(64), nullable=False, unique=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("campaign", sa.String(100), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="open"),  # open | done
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("done_at", sa.DateTime),
    sa.Column("note", sa.Text),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),                # run | dispatch
    sa.Column("as_of", sa.Date),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(20), nullable=False),              # running | ok | failed
    sa.Column("counts", sa.JSON),
    sa.Column("error", sa.Text),
)

# Revision 0002: the sunset policy's offers.
sunset_offers = sa.Table(
    "sunset_offers", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("offered_on", sa.Date, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),               # offered | reacted | suppressed
    sa.Column("resolved_on", sa.Date),
)

# Revision 0004: the server's API keys, dashboard users, ingest inbox and erasure list.
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("key_id", sa.String(32), nullable=False, unique=True),  # the public part of the key
    sa.Column("secret_hash", sa.String(64), nullable=False),         # sha256 of the secret part
    sa.Column("scope", sa.String(10), nullable=False),               # read | write | admin
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),      # scrypt$n$r$p$salt$hash
    sa.Column("scope", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("disabled_at", sa.DateTime),
)

# Items posted to the ingest API wait here until a run loads them into the warehouse: the
# server never writes the DuckDB file, so it never fights a CLI run over it.
inbox = sa.Table(
    "inbox", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.String(20), nullable=False),              # customers | orders | events
    sa.Column("item_key", sa.String(200)),                           # the item's id, when it has one
    sa.Column("customer_id", sa.String(200), index=True),
    sa.Column("digest", sa.String(64), nullable=False),              # sha256 of entity + canonical JSON
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("batch", sa.String(40), nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("loaded_at", sa.DateTime),
    sa.Column("ingest_run", sa.String(100)),
    # The same item posted twice while it waits is stored once (idempotent retries); once
    # loaded, a repost waits again and the warehouse's own rules decide (re-delivery or update).
    sa.Index("uq_inbox_pending_digest", "entity", "digest", unique=True,
             sqlite_where=sa.text("loaded_at IS NULL"), postgresql_where=sa.text("loaded_at IS NULL")),
    sa.Index(None, "loaded_at", "entity"),
)

erasures = sa.Table(
    "erasures", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("id_hash", sa.String(64), nullable=False, unique=True),  # sha256 of the customer id
    sa.Column("erased_at", sa.DateTime, nullable=False),
    sa.Column("counts", sa.JSON),                                     # rows removed, by place
)

# Revision 0005: the loyalty programme. The ledger is append-only: a balance is the sum of a
# customer's entries, never a stored counter. Derived entries (earned from orders and events,
# reversed, expired) have keys made from their source, so a rerun inserts nothing twice.
loyalty_ledger = sa.Table(
    "loyalty_ledger", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),   # earn:order:ID, redeem:KEY, ...
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),                # earn|redeem|expire|adjust|reverse
    sa.Column("points", sa.BigInteger, nullable=False),              # signed: earn +, redeem/expire/reverse -
    sa.Column("effective_on", sa.Date, nullable=False),              # the shop's day it counts from
    sa.Column("expires_on", sa.Date),                                # a credit's expiry day
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),              # order|event|signup|admin|api|cli|expiry
    sa.Column("source_id", sa.String(200)),
    sa.Column("derived", sa.Boolean, nullable=False),                # recomputable from history
    sa.Column("reward", sa.String(100)),
    sa.Column("request_digest", sa.String(64)),                      # idempotency: sha256 of the request
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index(None, "customer_id", "effective_on"),
    # Ids are never reused (SQLite would reuse a deleted highest id): with rows never updated,
    # the row count and the highest id tell whether the ledger changed (loyalty.views caches on it).
    sqlite_autoincrement=True,
)

# One row per customer in the programme. A redemption locks its customer's row (SELECT ... FOR
# UPDATE) so two concurrent redemptions see each other's entry: a lock, never a balance.
loyalty_accounts = sa.Table(
    "loyalty_accounts", metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
