"""The workspace: a folder with tenure.toml, the warehouse and the folders Tenure writes to."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from tenure import warehouse
from tenure.config import CONFIG_FILE, Settings, load_settings, render_template
from tenure.errors import WorkspaceError
from tenure.ingest import pipeline
from tenure.ingest.readers import ReadOptions
from tenure.ingest.schema import TABLES
from tenure.ingest.summary import IngestSummary

FOLDERS = ("quarantine", "snapshots", "reports")
SECRET_FILE = ".tenure-secret"


def _write_secret(path: Path) -> None:
    import secrets

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32) + "\n")


class Workspace:
    """An existing workspace folder. Create one with `Workspace.init(path)`."""

    def __init__(self, path: str | Path = ".") -> None:
        self.root = Path(path).resolve()
        if not (self.root / CONFIG_FILE).exists():
            raise WorkspaceError(f"{self.root} is not a Tenure workspace (no {CONFIG_FILE})",
                                 fix="run `tenure init DIR` first, or pass --workspace DIR")
        self.settings: Settings = load_settings(self.root / CONFIG_FILE)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @classmethod
    def init(cls, path: str | Path = ".", *, timezone: str | None = None,
             currency: str | None = None, loyalty: bool = False) -> Workspace:
        """Create a workspace; `loyalty=True` writes tenure.toml with the loyalty programme on."""
        root = Path(path).resolve()
        if (root / CONFIG_FILE).exists():
            raise WorkspaceError(f"{root} is already a Tenure workspace", fix="use it, or choose another folder")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} is a file, not a folder")
        given: dict[str, dict] = {}
        if timezone:
            given["workspace"] = {"timezone": timezone}
        if currency:
            given.setdefault("workspace", {})["currency"] = currency
        if loyalty:
            given["loyalty"] = {"enabled": True}
        settings = Settings.model_validate(given) if given else Settings()
        root.mkdir(parents=True, exist_ok=True)
        for folder in FOLDERS:
            (root / folder).mkdir(exist_ok=True)
        con = warehouse.connect(root / settings.warehouse.path)
        try:
            warehouse.create_tables(con)
        finally:
            con.close()
        if not (root / SECRET_FILE).exists():
            _write_secret(root / SECRET_FILE)
        (root / CONFIG_FILE).write_text(render_template(settings), encoding="utf-8")
        return cls(root)

    # -- paths -------------------------------------------------------------------------------
    @property
    def warehouse_path(self) -> Path:
        return self.root / self.settings.warehouse.path

    @property
    def secret(self) -> str:
        """The workspace secret that signs links in messages: made at init, never printed.

        Kept in a file of its own (mode 0600) so that tenure.toml can be shared or committed."""
        path = self.root / SECRET_FILE
        if not path.exists():  # a workspace made before secrets existed gets one on first use
            _write_secret(path)
        return path.read_text(encoding="utf-8").strip()

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def now(self) -> dt.datetime:
        """Current wall-clock time in the workspace zone: used only at entry points."""
        tz = ZoneInfo(self.settings.workspace.timezone)
        return dt.datetime.now(tz).replace(tzinfo=None, microsecond=0)

    # -- ingest ------------------------------------------------------------------------------
    def ingest(self, entity: str, sources: list[str | Path], *, preset: str = "generic",
               mapping: dict[str, str] | None = None, now: dt.datetime | None = None,
               options: ReadOptions | None = None, date_format: str | None = None,
               max_quarantine_share: float | None = None, progress=None) -> IngestSummary:
        """Load `sources` into the `entity` table; all or nothing. See docs/ingest.md."""
        cfg = self.settings
        merged = dict(cfg.ingest.mapping.get(entity, {})) if preset == "generic" else {}
        merged.update(mapping or {})
        with self.lock():
            return self._ingest(entity, sources, preset, merged, now, options, date_format,
                                max_quarantine_share, progress)

    def _ingest(self, entity, sources, preset, merged, now, options, date_format, max_quarantine_share, progress):
        cfg = self.settings
        con = warehouse.connect(self.warehouse_path)
        try:
            warehouse.create_tables(con)
            return pipeline.run(
                con, entity=entity, sources=[str(s) for s in sources], preset_name=preset,
                mapping=merged, options=options or ReadOptions(), now=now or self.now(),
                timezone=cfg.workspace.timezone, currency=cfg.workspace.currency,
                max_quarantine_share=(cfg.ingest.max_quarantine_share if max_quarantine_share is None
                                      else max_quarantine_share),
                quarantine_dir=self.quarantine_dir, date_format=date_format, progress=progress,
            )
        finally:
            con.close()

    def lock(self, *, wait: float = 3600.0, on_wait=None):
        """The workspace lock (tenure.locking): one run, ingest or erasure at a time."""
        from tenure.locking import workspace_lock

        return workspace_lock(self.root, wait=wait, on_wait=on_wait)

    def load_inbox(self, *, now: dt.datetime | None = None) -> dict[str, dict]:
        """Load the items posted to the ingest API since the last run into the warehouse."""
        from tenure.campaigns.runner import store_in_use
        from tenure.ingest import inbox

        if not store_in_use(self):
            return {}
        with self.lock():
            done = inbox.drain(self, now=now or self.now())
            tracked = inbox.load_tracking(self, now=now or self.now())
        if tracked:
            done["tracking"] = tracked
        return done

    # -- reading -----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        con = warehouse.connect(self.warehouse_path, read_only=True)
        try:
            return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in (*TABLES, "quarantine")}
        finally:
            con.close()

    def ingest_runs(self, limit: int = 10) -> list[dict]:
        con = warehouse.connect(self.warehouse_path, read_only=True)
        try:
            cur = con.execute("SELECT run_id, entity, preset, sources, status, counts FROM ingest_runs "
                              "ORDER BY started_at DESC LIMIT ?", [limit])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            con.close()

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def history(self):
        from tenure.history import History

        if getattr(self, "_history", None) is None:
            self._history = History(self.root / "snapshots")
        return self._history

    def today(self) -> dt.date:
        return self.now().date()

    def snapshot(self, *, as_of: dt.date, backend: str | None = None):
        """The snapshot of `as_of` as an Ibis table (computed, not stored): one row per customer."""
        from tenure.runs import full_snapshot
        from tenure.warehouse.backends import analytics_tables

        return full_snapshot(analytics_tables(self, backend), as_of, self.settings)[0]

    def run(self, *, as_of: dt.date | None = None, backend: str | None = None, now: dt.datetime | None = None,
            dispatch: bool = True):
        """Compute and store the snapshot of `as_of` (default today) and its transitions; enroll the
        enabled campaigns' entries of that day and (unless `dispatch=False`) send what is due by `now`."""
        from tenure import runs

        with self.lock():
            loaded = self.load_inbox(now=now)
            result = runs.run(self, as_of or self.today(), backend=backend, now=now, dispatch=dispatch)
        result.inbox = loaded
        return result

    def backfill(self, *, start: dt.date, end: dt.date, every_days: int = 7, backend: str | None = None,
                 progress=None):
        """Store snapshots from `start` to `end` every `every_days` days, oldest first."""
        from tenure import runs
        from tenure.warehouse.backends import analytics_tables

        with self.lock():
            self.load_inbox()
            tables = analytics_tables(self, backend)
            results = []
            for day in runs.dates_between(start, end, every_days):
                results.append(runs.run(self, day, tables=tables, dispatch=False))
                if progress:
                    progress(day)
            if results and results[-1].campaigns is not None:  # once, at the end: old messages expire
                results[-1].campaigns.dispatched = self.dispatch()
        return results

    # -- campaigns ---------------------------------------------------------------------------
    @property
    def store(self):
        """The operational store (opened and migrated on first use)."""
        if getattr(self, "_store", None) is None:
            from tenure.store import open_store, url_for

            self._store = open_store(url_for(self.root, self.settings.store.url))
        return self._store

    @property
    def templates(self):
        """Message templates: the workspace's templates/ folder first, then the shipped defaults."""
        from tenure.campaigns.templates import Templates

        return Templates(self.root / "templates")

    def dispatch(self, *, now: dt.datetime | None = None, limit: int | None = None, workers: int = 1):
        """Send the campaign messages due by `now` (default: the wall clock in the workspace zone).

        `workers` > 1 runs that many dispatchers in separate processes (claims are atomic, so
        they share the work and never a message); `limit` applies to each."""
        if workers > 1:
            return _parallel_dispatch(self.root, now=now or self.now(), limit=limit, workers=workers)
        from tenure.campaigns.runner import check, dispatch
        from tenure.store import runlog

        check(self)  # `tenure run` checks before it computes; a bare dispatch checks here
        with runlog.logged(self.store, kind="dispatch", as_of=None) as logged:
            counts = dispatch(self, now_local=now or self.now(), limit=limit)
            logged.update(counts)
        return counts

    def table(self, name: str):
        """An Ibis table of the warehouse (read-only), e.g. `ws.table("orders")`."""
        return warehouse.ibis_connection(self.warehouse_path).table(name)


def _dispatch_in(root: str, now: dt.datetime, limit: int | None):
    return Workspace(root).dispatch(now=now, limit=limit)


def _parallel_dispatch(root: Path, *, now: dt.datetime, limit: int | None, workers: int):
    """Dispatchers in `workers` processes (spawned: a forked SQLite or DuckDB handle is unsafe)."""
    import multiprocessing
    from collections import Counter
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = [pool.submit(_dispatch_in, str(root), now, limit) for _ in range(workers)]
        total: Counter = Counter()
        for result in results:
            total.update(result.result())
    return total
