"""Tracking links: the open pixel, tracked clicks and unsubscribes (no API key: the token is the
authority). A tampered or foreign token is a 404 and records nothing; a click goes only to the
URL signed into its token, never to one given in the request.

Opens and clicks are written in batches by one thread (a transaction per event would cap the
pixel at a few hundred a second on SQLite): as soon as it is free, it writes what has arrived
since its last write, so a batch is what came in while the last one was written; `stop()`
flushes what is queued. A crash can lose the opens and clicks of the last moments (under load,
a fraction of a second), never an unsubscribe: those are written before the answer is sent,
after the opens and clicks queued before them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from functools import lru_cache

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadData, base64_decode
from markupsafe import escape
from starlette.routing import Route

from tenure import tokens
from tenure.store.tables import tracking_events

log = logging.getLogger("tenure.server")
# The smallest transparent GIF (43 bytes).
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
NO_STORE = {"Cache-Control": "no-store, max-age=0"}
COLUMNS = ("outbox_key", "customer_id", "type", "occurred_at", "url")
ROWS_PER_INSERT = 199  # x 5 columns: 995 parameters, under the 999 of SQLite before 3.32


@lru_cache(maxsize=4)
def _insert_sql(rows: int) -> str:
    one = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    return f"INSERT INTO {tracking_events.name} ({', '.join(COLUMNS)}) VALUES " + ", ".join([one] * rows)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


class TrackingWriter:
    """Queue of tracking events, written by a thread as soon as one is queued, at most one write
    every `gap` seconds (what arrives meanwhile waits for the next); it also wakes every
    `interval` seconds. `batch` is not used.

    The queue holds tuples in COLUMNS' order (appending to a deque is atomic). On SQLite a flush
    hands them to the driver as multi-row INSERTs, the time as the text SQLAlchemy's DateTime
    stores, instead of through SQLAlchemy's per-row parameter processing, which held the GIL
    (and so the event loop) for about 20 us per event: a tenth of the open pixel's cost."""

    def __init__(self, store, *, interval: float = 0.2, batch: int = 2000, gap: float = 0.1) -> None:
        self.store, self.interval, self.batch, self.gap = store, interval, batch, gap
        self._queue: deque[tuple] = deque()
        self._flushing = threading.Lock()  # one flush at a time: the queue is stored in order
        self._stop = threading.Event()
        self._wake = threading.Event()  # set when something is queued
        self._thread = threading.Thread(target=self._loop, name="tenure-tracking", daemon=True)
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def add(self, outbox_key: str, customer_id: str, type: str, occurred_at: dt.datetime, url: str | None) -> None:
        self._queue.append((outbox_key, customer_id, type, occurred_at, url))
        if not self._wake.is_set():
            self._wake.set()

    def put(self, row: dict) -> None:
        self._queue.append(tuple(row.get(c) for c in COLUMNS))
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()

    def flush(self) -> int:
        """Write what is queued; returns when it is committed (also what another thread's flush
        had taken from the queue)."""
        with self._flushing:
            rows = []
            while True:
                try:
                    rows.append(self._queue.popleft())
                except IndexError:
                    break
            if rows:
                try:
                    with self.store.begin() as conn:
                        self._insert(conn, rows)
                    self.written += len(rows)
                except Exception:
                    log.exception("could not write %d tracking events", len(rows))
            return len(rows)

    @staticmethod
    def _insert(conn, rows: list[tuple]) -> None:
        if conn.dialect.name != "sqlite":
            conn.execute(tracking_events.insert(), [dict(zip(COLUMNS, r)) for r in rows])
            return
        stored = tracking_events.c.occurred_at.type.dialect_impl(conn.dialect)
        when = stored.bind_processor(conn.dialect)  # datetime -> the text SQLAlchemy stores
        stamps: dict = {}  # times are to the second: a batch has a few
        values: list = []
        for key, cid, kind, at, url in rows:
            text = stamps.get(at)
            if text is None:
                text = stamps[at] = when(at) if when else at
            values += (key, cid, kind, text, url)
        # Many rows per INSERT, not an executemany: the driver releases the GIL around each
        # statement it steps and must win it back from the busy event loop after each, which
        # made an executemany crawl at a row per GIL switch (seconds for a few thousand rows).
        width = len(COLUMNS)
        for start in range(0, len(values), ROWS_PER_INSERT * width):
            part = values[start:start + ROWS_PER_INSERT * width]
            conn.exec_driver_sql(_insert_sql(len(part) // width), tuple(part))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()  # before the flush takes the queue: a later add wakes the next one
            started = time.monotonic()
            if self.flush():
                # Under load, let the next batch gather for `gap`: each commit rewrites the pages
                # it touched, so 100 events a commit cost twice the CPU per event of 500 (38, 19 us).
                self._stop.wait(max(0.0, self.gap - (time.monotonic() - started)))


class _Verifier:
    """`tokens.verify(secret, kind, token)` with itsdangerous' serializer, signer and derived key
    built once rather than on every call (building them cost three times the HMAC). Every token
    is still checked in full: the same HMAC-SHA256 over the same bytes, compared in constant
    time, then its payload decoded, as `Signer.unsign` and `Serializer.loads` do."""

    def __init__(self, secret: str, kind: str) -> None:
        self.serializer = tokens._serializer(secret, kind)
        self.signer = self.serializer.make_signer()
        self.keys = [self.signer.derive_key(k) for k in reversed(self.signer.secret_keys)]

    def __call__(self, token: str) -> dict | None:
        value, sep, sig = token.encode().rpartition(self.signer.sep)
        if not sep:
            return None
        try:
            sig = base64_decode(sig)
        except Exception:
            return None
        if not any(self.signer.algorithm.verify_signature(key, value, sig) for key in self.keys):
            return None
        try:
            data = self.serializer.load_payload(value)
        except BadData:
            return None
        return data if isinstance(data, dict) else None


@lru_cache(maxsize=16)
def _verifier(secret: str, kind: str):
    """The fast verifier, if it agrees with `tokens.verify` on a token signed now and on that
    token tampered with; otherwise `tokens.verify` itself (should the token format change)."""
    fast = _Verifier(secret, kind)
    probe = tokens.sign(secret, kind, {"k": "probe", "c": "probe"})
    tampered = probe[:-2] + ("AA" if probe[-2:] != "AA" else "BB")
    if fast(probe) == tokens.verify(secret, kind, probe) == {"k": "probe", "c": "probe"} and fast(tampered) is None:
        return fast
    log.warning("tracking tokens: the fast check disagrees with tenure.tokens; using tenure.tokens")
    return lambda token: tokens.verify(secret, kind, token)


@lru_cache(maxsize=1024)
def _verify(secret: str, kind: str, token: str) -> dict | None:
    """A token's payload when it is one this server signed for `kind`, else None. Cached by the
    token's text (mail clients and image proxies load a pixel more than once)."""
    data = _verifier(secret, kind)(token)
    if data is None or not isinstance(data.get("k"), str) or not isinstance(data.get("c"), str):
        return None
    return data


def verified(request: Request, kind: str, token: str) -> dict:
    data = _verify(request.app.state.secret, kind, token) if len(token) < 4096 else None
    if data is None:
        raise HTTPException(404, "not found")
    return data


def _open(request: Request, token: str) -> Response:
    data = verified(request, "open", token)
    request.app.state.tracker.add(data["k"], data["c"], "open", _utcnow(), None)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


def _click(request: Request, token: str) -> RedirectResponse:
    data = verified(request, "click", token)
    url = data.get("u")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise HTTPException(404, "not found")
    request.app.state.tracker.add(data["k"], data["c"], "click", _utcnow(), url[:4000])
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


class _Link:
    """The ASGI app of a plain Starlette route for one tracking link: a GET is answered by
    `handle`; any other method gets the 405 that FastAPI's GET-only route gave (a HEAD records
    nothing). The app's middleware and exception handlers apply as to any route: a bad token is
    the same 404 JSON."""

    def __init__(self, handle) -> None:
        self.handle = handle

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive, send)
        if request.method != "GET":
            raise HTTPException(405, headers={"Allow": "GET"})
        await self.handle(request, request.path_params["token"])(scope, receive, send)


router = APIRouter(tags=["tracking"])
NOT_FOUND = {404: {"description": "The token is not one this server signed: nothing is recorded."}}
# The open pixel and the click are the hot paths: plain Starlette routes answer them, ahead of
# the FastAPI routes below, which stay for the OpenAPI description (the first route that matches
# answers). FastAPI's per-route work (the dependency solver, two exit stacks, the response
# checks) was 40% of the pixel's cost. Both kinds of route share _open and _click.
router.routes.append(Route("/t/o/{token}", _Link(_open), include_in_schema=False))
router.routes.append(Route("/t/c/{token}", _Link(_click), include_in_schema=False))


@router.get("/t/o/{token}", response_class=Response, summary="Open pixel",
            responses={200: {"content": {"image/gif": {}}, "description": "A 1x1 transparent GIF."}, **NOT_FOUND})
async def open_pixel(token: str, request: Request) -> Response:
    """Record that the message in the token was opened, and answer a transparent pixel."""
    return _open(request, token)


@router.get("/t/c/{token}", status_code=302, response_class=RedirectResponse, summary="Tracked click",
            responses={302: {"description": "Redirect to the URL signed into the token."}, **NOT_FOUND})
async def click(token: str, request: Request) -> RedirectResponse:
    """Record the click and redirect to the link's URL, which is taken from the signed token only."""
    return _click(request, token)


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
    request.app.state.tracker.flush()  # the opens and clicks before it are stored before it
    record_unsubscribe(request.app.state.store, data,
                       source="one-click" if list_unsubscribe == "One-Click" else "unsubscribe link")
    return _page("Unsubscribed", "<h1>You are unsubscribed</h1><p>You will get no more marketing emails from us.</p>")


__all__ = ["router", "TrackingWriter", "record_unsubscribe"]
