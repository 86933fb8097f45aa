"""The self-contained HTML report (`tenure report`): key figures, one chart per analysis with a
one-line reading, and what to do about each lifecycle stage. See docs/report.md."""

from __future__ import annotations


def __getattr__(name: str):
    # Lazy: importing tenure.report.fmt must not load Jinja and the analyses.
    if name in ("build_report", "write_report"):
        from tenure.report import build

        return getattr(build, name)
    raise AttributeError(name)


__all__ = ["build_report", "write_report"]
