"""Stored snapshots and transitions: immutable Parquet files under the workspace's snapshots/.

A file is written under a temporary name and renamed into place, so a reader (the server, a
report) never sees half a snapshot, and the DuckDB warehouse is not held open while it is read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import ibis
import ibis.expr.types as ir

from tenure.errors import TenureError

_SNAPSHOT = re.compile(r"^snapshot-(\d{4}-\d{2}-\d{2})\.parquet$")


class History:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._con = None

    @property
    def con(self):
        # Snapshot files are small (one row per customer): one in-memory DuckDB reads them, whatever
        # the warehouse backend, and holds no lock on the warehouse.
        if self._con is None:
            self._con = ibis.duckdb.connect()
        return self._con

    def path(self, as_of: dt.date) -> Path:
        return self.folder / f"snapshot-{as_of.isoformat()}.parquet"

    def transitions_path(self, as_of: dt.date) -> Path:
        return self.folder / f"transitions-{as_of.isoformat()}.parquet"

    def dates(self) -> list[dt.date]:
        if not self.folder.is_dir():
            return []
        found = (_SNAPSHOT.match(p.name) for p in self.folder.iterdir())
        return sorted(dt.date.fromisoformat(m.group(1)) for m in found if m)

    def previous(self, as_of: dt.date) -> dt.date | None:
        earlier = [d for d in self.dates() if d < as_of]
        return earlier[-1] if earlier else None

    def latest(self) -> dt.date:
        dates = self.dates()
        if not dates:
            raise TenureError("no snapshot stored yet", fix="run `tenure run` (or `tenure backfill`) first")
        return dates[-1]

    def read(self, as_of: dt.date | None = None) -> ir.Table:
        as_of = as_of or self.latest()
        path = self.path(as_of)
        if not path.exists():
            near = ", ".join(d.isoformat() for d in self.dates()[-5:]) or "none"
            raise TenureError(f"no snapshot stored for {as_of.isoformat()} (latest: {near})",
                              fix=f"run `tenure run --as-of {as_of.isoformat()}`")
        return self.con.read_parquet(path)

    def read_all(self) -> ir.Table:
        self.latest()
        return self.con.read_parquet(self.folder / "snapshot-*.parquet", union_by_name=True)


def write_atomically(path: Path, writer) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")  # two runs at once must not share it
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
