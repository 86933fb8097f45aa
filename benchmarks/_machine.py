"""The machine line every benchmark prints: CPU, cores, memory, Python and library versions."""

from __future__ import annotations

import os
import platform


def describe(**versions: str) -> str:
    """e.g. describe(SQLite="3.40.1") -> 'AMD EPYC ..., 2 cores, 24 GiB; Python 3.11.7, DuckDB 2.0.0, SQLite 3.40.1'."""
    cpu = platform.machine() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    parts = [f"Python {platform.python_version()}", f"DuckDB {duckdb.__version__}",
             *(f"{name} {version}" for name, version in versions.items())]
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; " + ", ".join(parts)
