"""Tracking links: the open pixel, tracked clicks and unsubscribes (no API key: the token is the
authority). A tampered or foreign token is a 404 and records nothing; a click goes only to the
URL signed into its token, never to one given in the request.

Opens and clicks are written in batches by one thread (a transaction per event would cap the
pixel at a few hundred a second on SQLite); `stop()` flushes what is queued. A crash can lose at
most the last flush interval of opens and clicks, never an unsubscribe: those are written before
the answer is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from functools import lru_cache

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from tenure import tokens
from tenure.store.tables import tracking_events

log = logging.getLogger("tenure.server")
# The smallest transparent GIF (43 bytes).
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
NO_STORE = {"Cache-Control": "no-store, max-age=0"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


class TrackingWriter:
    """Queue of tracking events, flushed every `interval` seconds or `batch` events."""

    def __init__(self, store, *, interval: float = 0.2, batch: int = 2000) -> None:
        self.store, self.interval, self.batch = store, interval, batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tenure-tracking", daemon=True)
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def put(self, row: dict) -> None:
        self._queue.put(row)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.flush()

    def flush(self) -> int:
        rows = []
        while True:
            try:
                rows.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if rows:
            try:
                with self.store.begin() as conn:
                    conn.execute(tracking_events.insert(), rows)
                self.written += len(rows)
            except Exception:
                log.exception("could not write %d tracking events", len(rows))
        return len(rows)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


@lru_cache(maxsize=64)
def _verify(secret: str, kind: str, token: str) -> dict | None:
    data = tokens.verify(secret, kind, token)
    if data is None or not isinstance(data.get("k"), str) or not isinstance(data.get("c"), str):
        return None
    return data


def verified(request: Request, kind: str, token: str) -> dict:
    data = _verify(request.app.state.secret, kind, token) if len(token) < 4096 else None
    if data is None:
        raise HTTPException(404, "not found")
    return data


router = APIRouter(tags=["tracking"])
NOT_FOUND = {404: {"description": "The token is not one this server signed: nothing is recorded."}}


@router.get("/t/o/{token}", response_class=Response, summary="Open pixel",
            responses={200: {"content": {"image/gif": {}}, "description": "A 1x1 transparent GIF."}, **NOT_FOUND})
async def open_pixel(token: str, request: Request) -> Response:
    """Record that the message in the token was opened, and answer a transparent pixel."""
    data = verified(request, "open", token)
    request.app.state.tracker.put({"outbox_key": data["k"], "customer_id": data["c"], "type": "open",
                                   "occurred_at": _utcnow(), "url": None})
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/t/c/{token}", status_code=302, response_class=RedirectResponse, summary="Tracked click",
            responses={302: {"description": "Redirect to the URL signed into the token."}, **NOT_FOUND})
async def click(token: str, request: Request) -> RedirectResponse:
    """Record the click and redirect to the link's URL, which is taken from the signed token only."""
    data = verified(request, "click", token)
    url = data.get("u")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise HTTPException(404, "not found")
    request.app.state.tracker.put({"outbox_key": data["k"], "customer_id": data["c"], "type": "click",
                                   "occurred_at": _utcnow(), "url": url[:4000]})
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


def _page(title: str, body: str) -> HTMLResponse:
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933}}
button{{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:6px;background:#1f4e79;color:#fff;cursor:pointer}}</style>
</head><body>{body}</body></html>"""
    return HTMLResponse(html, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


@router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe page",
            responses={200: {"description": "A page with a button that unsubscribes."}, **NOT_FOUND})
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """A page asking to confirm. A GET changes nothing: mail scanners follow links."""
    verified(request, "unsubscribe", token)
    return _page("Unsubscribe", f"""<h1>Unsubscribe</h1><p>You will get no more marketing emails from us.
<form method="post" action="/u/{escape(token)}"><button type="submit">Unsubscribe</button></form>""")


def record_unsubscribe(store, data: dict, *, source: str) -> None:
    """Email consent withdrawn (the runner reads it before every send) and the event logged."""
    from tenure.store.engine import upsert_consent

    now = _utcnow()
    with store.begin() as conn:
        upsert_consent(conn, customer_id=data["c"], channel="email", granted=False, source=source, recorded_at=now)
        conn.execute(tracking_events.insert().values(outbox_key=data["k"], customer_id=data["c"], type="unsubscribe",
                                                     occurred_at=now, url=None))


@router.post("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe (also RFC 8058 one-click)",
             responses={200: {"description": "Unsubscribed."}, **NOT_FOUND})
def unsubscribe(token: str, request: Request,
                list_unsubscribe: str | None = Form(None, alias="List-Unsubscribe")) -> HTMLResponse:
    """Withdraw the customer's email consent. Mail providers POST `List-Unsubscribe=One-Click`
    here (RFC 8058); the page's button posts an empty form. Both unsubscribe; repeating is harmless."""
    data = verified(request, "unsubscribe", token)
    record_unsubscribe(request.app.state.store, data,
                       source="one-click" if list_unsubscribe == "One-Click" else "unsubscribe link")
    return _page("Unsubscribed", "<h1>You are unsubscribed</h1><p>You will get no more marketing emails from us.</p>")


__all__ = ["router", "TrackingWriter", "record_unsubscribe"]
