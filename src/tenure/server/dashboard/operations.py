"""Campaign results, the run log with its "Run now" button, and the managers' open tasks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from tenure.errors import TenureError
from tenure.server import reads
from tenure.server.auth import current_user
from tenure.server.dashboard.web import Page, check_form, flash, guarded, see_other

router = APIRouter(include_in_schema=False)
RUNS_SHOWN = 50


def verdict(low, high) -> tuple[str, str]:
    """What the uplift's 95% interval lets a marketer say, and a class for its colour."""
    if low != low or high != high or low is None or high is None:
        return "no holdout to compare with", "muted"
    if low > 0:
        return "lifts conversion", "good"
    if high < 0:
        return "lowers conversion", "bad"
    return "not clear yet: the interval spans zero", "muted"


def campaign_rows(df, fmt) -> list[dict]:
    """One entry per campaign: its overall row ('all') with the uplift, and its steps."""
    if df.empty:
        return []
    out = []
    for name, g in df.groupby("campaign", sort=True):
        total = g[g.step.astype(str) == "all"]
        steps = g[g.step.astype(str) != "all"].to_dict("records")
        row = total.iloc[0].to_dict() if len(total) else {}
        text, tone = verdict(row.get("uplift_low"), row.get("uplift_high"))
        out.append({"name": name, "all": row, "steps": steps, "verdict": text, "tone": tone})
    reach = max([max(abs(c["all"].get("uplift_low") or 0), abs(c["all"].get("uplift_high") or 0))
                 for c in out if c["all"].get("uplift_low") == c["all"].get("uplift_low")] or [0]) or 1
    for c in out:  # where the interval sits on a shared scale, -reach..+reach, for a small SVG
        a = c["all"]
        if a.get("uplift") is not None and a.get("uplift") == a.get("uplift"):
            pos = lambda x: round(50 + 50 * float(x) / reach, 2)  # noqa: E731
            c["bar"] = {"low": pos(a["uplift_low"]), "high": pos(a["uplift_high"]), "mid": pos(a["uplift"])}
    return out


@router.get("/campaigns", response_class=HTMLResponse)
@guarded
def campaigns(request: Request, user: dict = Depends(current_user)):
    from tenure.campaigns.measure import campaign_report

    page = Page(request, user)
    ws = page.ws
    day = reads.default_day(ws, None)
    rows = campaign_rows(campaign_report(ws, as_of=day), page.fmt)
    configured = [{"name": n, "enabled": c.enabled, "description": c.description,
                   "channels": sorted({s.channel for s in c.steps}), "holdout": c.holdout_share}
                  for n, c in sorted(ws.settings.campaigns.items(), key=lambda kv: not kv[1].enabled)]
    return page.render("campaigns.html", day=day, rows=rows, configured=configured)


def count_text(counts: dict | None) -> list[str]:
    """A run's counts as short phrases; timings and the trigger are shown on their own."""
    out = []
    for key, value in (counts or {}).items():
        if key in ("timings", "trigger") or value in (None, 0, {}, []):
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {v}" for k, v in value.items() if v not in (0, None, {}))
            if inner:
                out.append(f"{key.replace('_', ' ')}: {inner}")
        else:
            out.append(f"{key.replace('_', ' ')} {value}")
    return out


@router.get("/runs", response_class=HTMLResponse)
@guarded
def runs(request: Request, user: dict = Depends(current_user)):
    import datetime as dt

    from tenure import access
    from tenure.locking import is_held

    page = Page(request, user)
    rows = reads.runs(page.ws.store, RUNS_SHOWN)
    for r in rows:
        start, end = (dt.datetime.fromisoformat(r[k]) if r[k] else None for k in ("started_at", "finished_at"))
        r["seconds"] = (end - start).total_seconds() if start and end else None
        r["phrases"] = count_text(r["counts"])
        r["trigger"] = (r["counts"] or {}).get("trigger")
    scheduler = request.app.state.scheduler
    return page.render("runs.html", rows=rows, can_run=access.allows(user["scope"], "write"),
                       busy=is_held(request.app.state.ws.root),
                       running=any(r["status"] == "running" for r in rows),
                       schedule=scheduler.expr if scheduler else None,
                       next_fire=scheduler.next_fire.replace(tzinfo=None) if scheduler and scheduler.next_fire else None)


@router.post("/runs")
def run_now(request: Request, csrf: str = Form(""), user: dict = Depends(current_user)):
    """Start the daily pipeline exactly as POST /v1/runs does (the same function)."""
    from tenure.server.api import post_run

    refused = check_form(request, csrf, user, scope="write")
    if refused:
        return refused
    try:
        started = post_run(request, _key=user)
    except HTTPException as exc:  # 409: the workspace lock is held
        flash(request, f"Not started: {exc.detail.split(':')[0]}. Wait for it to finish, then try again.", "warn")
        return see_other("/runs")
    flash(request, f"Run {started.run_id} started: the page refreshes until it ends.", "ok")
    return see_other("/runs")


@router.get("/tasks", response_class=HTMLResponse)
@guarded
def tasks(request: Request, user: dict = Depends(current_user)):
    from tenure import access
    from tenure.campaigns.views import task_list

    page = Page(request, user)
    open_rows = task_list(page.ws, status="open").to_dict("records")
    done = task_list(page.ws, status="done").sort_values("done_at", ascending=False).head(10).to_dict("records")
    return page.render("tasks.html", rows=open_rows, done=done, can_write=access.allows(user["scope"], "write"))


@router.post("/tasks/{task_id}/done")
def task_done(request: Request, task_id: int = Path(..., ge=1), csrf: str = Form(""),
              note: str = Form("", max_length=2000), user: dict = Depends(current_user)):
    from tenure.campaigns.runner import utc
    from tenure.campaigns.views import finish_task

    refused = check_form(request, csrf, user, scope="write")
    if refused:
        return refused
    ws = reads.workspace(request.app.state)
    try:
        finish_task(ws, task_id, note=note.strip() or None, now=utc(ws.now(), ws.settings.workspace.timezone))
    except TenureError as exc:
        flash(request, exc.message, "warn")
        return see_other("/tasks")
    flash(request, f"Task {task_id} marked done.", "ok")
    return see_other("/tasks")
