"""One writer at a time: the workspace lock, held by whatever writes the warehouse or snapshots.

`tenure run`, `tenure backfill`, `tenure ingest`, the server's scheduled and requested runs and
an erasure all take it, so a run started by cron never meets one started by hand. It is an OS
file lock (filelock): a process that dies releases it, there is nothing stale to clean up.
It is re-entrant within a thread (a run that loads the inbox takes it once more for the ingest).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from tenure.errors import WorkspaceError

LOCK_FILE = ".tenure.lock"
_locks: dict[str, FileLock] = {}
_guard = threading.Lock()


def _lock_for(root: Path) -> FileLock:
    key = str(Path(root).resolve() / LOCK_FILE)
    with _guard:
        if key not in _locks:
            _locks[key] = FileLock(key, thread_local=True)
        return _locks[key]


def is_held(root: Path) -> bool:
    """Whether some process (this one included) holds the lock right now."""
    probe = FileLock(str(Path(root).resolve() / LOCK_FILE), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


@contextmanager
def workspace_lock(root: Path, *, wait: float = 3600.0, on_wait=None):
    """Hold the workspace lock for the block; wait up to `wait` seconds for it, calling
    `on_wait()` once if it is not free at once. A lock not had in time is a clear error."""
    lock = _lock_for(root)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait:
            on_wait()
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise WorkspaceError(f"the workspace {Path(root).name} is busy: another Tenure run, ingest or "
                                 f"erasure has held it for over {wait:.0f} s",
                                 fix="wait for it to finish (see `tenure runs`) and try again")
    try:
        yield
    finally:
        lock.release()
