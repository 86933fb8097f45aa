"""Results of the slower reads (the headline's key figures, the stage history), kept while the data
they come from is unchanged: the key holds the warehouse files' and stored snapshots' sizes and
modification times, so an ingest or a run makes the next page compute afresh (never stale)."""

from __future__ import annotations

import threading
from collections import OrderedDict

_lock = threading.Lock()
_kept: OrderedDict = OrderedDict()
MAX_KEPT = 64


def data_version(ws) -> tuple:
    """What changes whenever an ingest, a run or a backfill writes: a few stat() calls."""
    marks = []
    for path in (ws.warehouse_path, ws.warehouse_path.with_name(ws.warehouse_path.name + ".wal")):
        try:
            st = path.stat()
            marks.append((path.name, st.st_size, st.st_mtime_ns))
        except OSError:
            marks.append((path.name, None, None))
    folder = ws.history.folder
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.suffix == ".parquet" and not p.name.startswith("."):
                st = p.stat()
                marks.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(marks)


def kept(ws, name: str, args: tuple, compute):
    """compute() once per (workspace, name, args, data version)."""
    key = (str(ws.root), name, args, data_version(ws))
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    value = compute()  # outside the lock: two first requests may both compute, neither waits
    with _lock:
        _kept[key] = value
        while len(_kept) > MAX_KEPT:
            _kept.popitem(last=False)
    return value


def analysis(ws, name: str, **kw):
    """tenure.analyses.<name>(ws, **kw), kept until the warehouse or the snapshots change."""
    from tenure import analyses

    return kept(ws, name, tuple(sorted(kw.items())), lambda: getattr(analyses, name)(ws, **kw))
