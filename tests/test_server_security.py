"""Security of `tenure serve`, against a real server (uvicorn in a subprocess): keys and scopes,
tracking tokens that cannot be forged or turned into an open redirect, the secret check, and an
erasure that removes a person everywhere and keeps them out."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import httpx
import pytest
import sqlalchemy as sa

from tenure import tokens
from tenure.store.tables import consents, tracking_events
from tests.serving import Served, make_shop


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    shop = make_shop(tmp_path_factory.mktemp("security"))
    with Served(shop.ws.root) as server:
        yield shop, server


def tracked(shop) -> int:
    with shop.ws.store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tracking_events)).scalar()


def a_customer(shop) -> str:
    con = duckdb.connect(str(shop.ws.warehouse_path), read_only=True)
    try:
        return con.execute("SELECT customer_id FROM orders WHERE customer_id IS NOT NULL "
                           "ORDER BY customer_id LIMIT 1").fetchone()[0]
    finally:
        con.close()


ENDPOINTS = [("GET", "/v1/customers/C1"), ("GET", "/v1/segments"), ("GET", "/v1/runs"), ("POST", "/v1/runs"),
             ("POST", "/v1/orders"), ("GET", "/v1/cohorts"), ("DELETE", "/v1/customers/C1"),
             ("GET", "/v1/customers/C1/export")]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_no_key_or_a_wrong_key_is_401(served, method, path):
    shop, server = served
    assert httpx.request(method, server.url + path).status_code == 401
    forged = "tnr_" + shop.keys["admin"][4:16] + "_" + "A" * 43  # a real key id with a wrong secret
    r = httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/orders", {"items": [{"order_id": "S1", "ordered_at": "2025-12-01", "amount": 1}]}),
    ("POST", "/v1/runs", None), ("DELETE", "/v1/customers/C1", None), ("GET", "/v1/customers/C1/export", None)])
def test_a_read_key_on_a_write_or_admin_endpoint_is_403_and_changes_nothing(served, method, path, body):
    shop, server = served
    with server.client("read", shop) as c:
        assert c.request(method, path, json=body).status_code == 403
    from tenure.ingest.inbox import pending
    assert pending(shop.ws.store) == {}


def test_write_key_cannot_erase_but_admin_can_export(served):
    shop, server = served
    cid = a_customer(shop)
    with server.client("write", shop) as c:
        assert c.delete(f"/v1/customers/{cid}").status_code == 403
    with server.client("admin", shop) as c:
        r = c.get(f"/v1/customers/{cid}/export")
    assert r.status_code == 200 and r.json()["warehouse"]["orders"]


def test_a_revoked_key_is_refused(served):
    from tenure.access import create_key, revoke_key

    shop, server = served
    key = create_key(shop.ws.store, scope="read", name="short-lived")
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(server.url + "/v1/runs", headers=headers).status_code == 200
    revoke_key(shop.ws.store, key)
    assert httpx.get(server.url + "/v1/runs", headers=headers).status_code == 401


def test_keys_are_stored_hashed(served):
    shop, _ = served
    with shop.ws.store.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_id, secret_hash FROM api_keys").fetchall()
    for key in shop.keys.values():
        assert all(key.split("_", 2)[2] not in row.secret_hash for row in stored)
    raw = (shop.ws.root / "store.sqlite").read_bytes()
    assert all(key.split("_", 2)[2].encode() not in raw for key in shop.keys.values())


def _bad_tokens(secret: str, kind: str, data: dict) -> list[str]:
    good = tokens.sign(secret, kind, data)
    other = "open" if kind != "open" else "click"
    return [good[:-2] + ("AA" if not good.endswith("AA") else "BB"),    # tampered signature
            good.split(".")[0] + "x." + good.split(".")[1],             # tampered payload
            tokens.sign("another workspace's secret " * 2, kind, data),  # foreign secret
            tokens.sign(secret, other, data),                           # a token of another kind
            "nonsense", "x" * 5000]


def test_tampered_or_foreign_tracking_tokens_are_404_and_record_nothing(served):
    shop, server = served
    secret = shop.ws.secret
    data = {"k": "m1", "c": "C1", "u": "https://shop.example/a"}
    before = tracked(shop)
    for token in _bad_tokens(secret, "open", data):
        assert httpx.get(f"{server.url}/t/o/{token}").status_code == 404
    for token in _bad_tokens(secret, "click", data):
        assert httpx.get(f"{server.url}/t/c/{token}").status_code == 404
    for token in _bad_tokens(secret, "unsubscribe", data):
        assert httpx.get(f"{server.url}/u/{token}").status_code == 404
        assert httpx.post(f"{server.url}/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    import time
    time.sleep(0.6)  # past the tracking writer's flush interval
    assert tracked(shop) == before
    with shop.ws.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(consents)
                            .where(consents.c.customer_id == "C1")).scalar() == 0


def test_a_click_redirects_only_to_the_signed_url(served):
    shop, server = served
    secret = shop.ws.secret
    token = tokens.sign(secret, "click", {"k": "m2", "c": "C2", "u": "https://shop.example/sale"})
    r = httpx.get(f"{server.url}/t/c/{token}?u=https://evil.example/&url=https://evil.example/",
                  headers={"Referer": "https://evil.example/"})
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example/sale"
    # A token signed with another URL's payload but a swapped URL fails the signature.
    payload = json.dumps({"k": "m2", "c": "C2", "u": "https://evil.example/"}, separators=(",", ":"))
    import base64
    forged = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=") + "." + token.split(".")[-1]
    assert httpx.get(f"{server.url}/t/c/{forged}").status_code == 404
    # A signed token whose URL is not http(s) is refused rather than followed.
    js = tokens.sign(secret, "click", {"k": "m2", "c": "C2", "u": "javascript:alert(1)"})
    assert httpx.get(f"{server.url}/t/c/{js}").status_code == 404


def test_opens_clicks_and_one_click_unsubscribe_are_recorded(served):
    shop, server = served
    secret = shop.ws.secret
    r = httpx.get(f"{server.url}/t/o/{tokens.sign(secret, 'open', {'k': 'm3', 'c': 'C3'})}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif" and r.content.startswith(b"GIF89a")
    httpx.get(f"{server.url}/t/c/{tokens.sign(secret, 'click', {'k': 'm3', 'c': 'C3', 'u': 'https://shop.example/'})}")
    page = httpx.get(f"{server.url}/u/{tokens.sign(secret, 'unsubscribe', {'k': 'm3', 'c': 'C3'})}")
    assert page.status_code == 200 and "<form" in page.text
    with shop.ws.store.connect() as conn:  # the GET page changed nothing
        assert conn.execute(sa.select(consents).where(consents.c.customer_id == "C3")).first() is None
    r = httpx.post(f"{server.url}/u/{tokens.sign(secret, 'unsubscribe', {'k': 'm3', 'c': 'C3'})}",
                   data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    import time
    time.sleep(0.6)
    with shop.ws.store.connect() as conn:
        row = conn.execute(sa.select(consents).where(consents.c.customer_id == "C3")).first()
        types = conn.execute(sa.select(tracking_events.c.type).where(tracking_events.c.customer_id == "C3")
                             .order_by(tracking_events.c.id)).scalars().all()
    assert row.granted is False and row.source == "one-click" and row.channel == "email"
    assert types == ["open", "click", "unsubscribe"]  # only C3's: another test's events may still be landing


def test_the_server_refuses_a_placeholder_secret(tmp_path):
    from tenure import Workspace
    from tenure.cli import main

    ws = Workspace.init(tmp_path / "ws")
    (ws.root / ".tenure-secret").write_text("changeme\n")
    assert main(["serve", "--workspace", str(ws.root), "--port", "1"]) == 2


def test_erasure_removes_the_person_everywhere_and_a_reingest_does_not_revive_them(served, tmp_path):
    shop, server = served
    ws = shop.ws
    cid = a_customer(shop)
    secret = ws.secret
    httpx.get(f"{server.url}/t/o/{tokens.sign(secret, 'open', {'k': 'm9', 'c': cid})}")
    with server.client("write", shop) as c:  # waiting in the inbox when the erasure comes
        c.post("/v1/events", json={"items": [{"customer_id": cid, "occurred_at": "2025-12-30", "type": "site_visit"}]})
    import time
    time.sleep(0.6)
    with server.client("admin", shop) as c:
        before = c.get(f"/v1/customers/{cid}/export").json()
        assert before["warehouse"]["orders"] and before["snapshots"]
        r = c.delete(f"/v1/customers/{cid}")
        assert r.status_code == 200, r.text
        removed = r.json()["removed"]
        assert removed["warehouse.orders"] == len(before["warehouse"]["orders"])
        assert removed["snapshots.rows"] == len(before["snapshots"]) == 2
        assert removed["store.tracking_events"] == 1 and removed["store.inbox"] == 1
        assert c.get(f"/v1/customers/{cid}/export").status_code == 404
        assert c.get(f"/v1/customers/{cid}").status_code == 404
    # Nothing left anywhere: warehouse, snapshot and transition files, quarantine, store.
    con = duckdb.connect()
    for path in (ws.root / "snapshots").glob("*.parquet"):
        assert con.execute("SELECT count(*) FROM read_parquet(?) WHERE customer_id = ?", [str(path), cid]).fetchone()[0] == 0
    con.close()
    assert cid.encode() not in (ws.root / "store.sqlite").read_bytes() or _only_hash(ws, cid)
    # A re-ingest of the shop's export (files and API) does not bring them back.
    summary = ws.ingest("orders", [ws.root.parent / "in" / "orders.parquet"])
    assert summary.reasons.get("customer erased (privacy request)", 0) == len(before["warehouse"]["orders"])
    ws.ingest("customers", [ws.root.parent / "in" / "customers.parquet"])
    with server.client("write", shop) as c:
        r = c.post("/v1/orders", json={"items": [{"order_id": "NEW-1", "customer_id": cid, "ordered_at": "2025-12-30",
                                                  "amount": 5}]}).json()
    assert r["accepted"] == 0 and r["rejected"][0]["reason"] == "customer erased (privacy request)"
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        for table in ("customers", "orders", "events"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE customer_id = ?", [cid]).fetchone()[0] == 0
        kept = con.execute("SELECT count(*), count(original) FROM quarantine WHERE reason = "
                           "'customer erased (privacy request)'").fetchone()
        assert kept[0] > 0 and kept[1] == 0  # rejected rows are counted, their content is not kept
    finally:
        con.close()
    ws.run(as_of=dt.date(2025, 12, 31), dispatch=False)
    with server.client("admin", shop) as c:
        assert c.get(f"/v1/customers/{cid}").status_code == 404


def _only_hash(ws, cid) -> bool:
    """The store may hold the id only inside other ids' text (e.g. C0001 in C00012): check exactly."""
    with ws.store.connect() as conn:
        for table in ("enrollments", "outbox", "consents", "suppressions", "tracking_events", "tasks", "inbox"):
            if conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE customer_id = ?", (cid,)).scalar():
                return False
    return True


@pytest.mark.parametrize("form", ["urlencoded", "multipart", "rfc8058-example", "empty"])
def test_one_click_unsubscribe_in_every_form_a_mail_provider_posts(served, form):
    """RFC 8058 lets the provider post multipart/form-data (its own example) or a urlencoded form."""
    shop, server = served
    cid = f"C-{form}"
    url = f"{server.url}/u/{tokens.sign(shop.ws.secret, 'unsubscribe', {'k': 'm-' + form, 'c': cid})}"
    if form == "urlencoded":
        r = httpx.post(url, data={"List-Unsubscribe": "One-Click"})
    elif form == "multipart":
        r = httpx.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    elif form == "rfc8058-example":  # section 8.1, with its boundary delimiters written out in full
        body = ("-----FormBoundaryjWmhtjORrn\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                "One-Click\r\n-----FormBoundaryjWmhtjORrn--\r\n")
        r = httpx.post(url, content=body.encode(),
                       headers={"Content-Type": "multipart/form-data; boundary=---FormBoundaryjWmhtjORrn"})
    else:  # the page's own button
        r = httpx.post(url)
    assert r.status_code == 200, r.text
    with shop.ws.store.connect() as conn:
        row = conn.execute(sa.select(consents).where(consents.c.customer_id == cid)).first()
    assert row.granted is False
    assert row.source == ("unsubscribe link" if form == "empty" else "one-click")


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PATCH", "/v1/runs", "GET, POST"), ("PUT", "/v1/customers/C1", "GET, DELETE"), ("PUT", "/u/x", "GET, POST"),
    ("PUT", "/v1/customers", "POST"), ("DELETE", "/t/o/x", "GET"), ("POST", "/t/c/x", "GET")])
def test_a_wrong_method_is_405_naming_every_allowed_one(served, method, path, allow):
    """RFC 9110 15.5.6: Allow lists the methods the resource answers (Starlette names one route's)."""
    shop, server = served
    r = httpx.request(method, f"{server.url}{path}")
    assert r.status_code == 405 and r.headers["allow"] == allow
