"""The loyalty programme: points (an append-only ledger in the operational store), spend tiers
and paid membership (segmentations of the snapshot, tenure.analytics.tiers and .membership).

- settings.py  `[loyalty]` of tenure.toml
- simulate.py  the ledger's rules replayed day by day (FIFO lots, expiry, capped reversals): pure
- history.py   what the warehouse says customers earned (orders with multipliers, events, sign-ups)
- accrual.py   the daily run's accrual and `tenure loyalty rebuild`
- ledger.py    balances, history, redeem and adjust (locked, idempotent), the points liability
- views.py     what the API, CLI and dashboard read: the programme, one customer's loyalty
"""
