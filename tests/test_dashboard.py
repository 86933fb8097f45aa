"""The dashboard over HTTP, without a browser: login, redirects, cookies, CSRF, scopes, escaping,
and every page of a workspace that has no snapshot yet. A real `tenure serve` answers."""

from __future__ import annotations

import re

import httpx
import pytest

from tenure import Workspace
from tenure.access import add_user
from tests.serving import PASSWORD, Served, make_shop

PAGES = ["/", "/segments", "/segments?by=rfm", "/cohorts", "/funnel", "/flows", "/pareto", "/campaigns",
         "/runs", "/tasks"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(client: httpx.Client, user: str, password: str = PASSWORD, next: str = "/") -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password, "csrf": token, "next": next})


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dash-http")
    shop = make_shop(root)
    add_user(shop.ws.store, username="reader@example.com", password=PASSWORD, scope="read")
    with Served(shop.ws.root) as served:
        yield served, shop


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("dash-empty") / "ws")
    add_user(ws.store, username="new@example.com", password=PASSWORD, scope="write")
    with Served(ws.root) as served:
        yield served


def test_a_wrong_password_gets_the_form_again_with_401(shop_server):
    served, shop = shop_server
    with served.client() as c:
        r = log_in(c, shop.user, "not the password")
        assert r.status_code == 401
        assert "Wrong user name or password" in r.text and 'id="login"' in r.text
        assert c.get("/segments").status_code == 303  # still not logged in


def test_login_without_its_csrf_token_is_refused(shop_server):
    served, shop = shop_server
    with served.client() as c:
        c.get("/login")
        r = c.post("/login", data={"username": shop.user, "password": PASSWORD, "next": "/"})
        assert r.status_code == 403 and "CSRF" in r.text


@pytest.mark.parametrize("target", ["//evil.example", "//evil.example/segments", "/\\evil.example",
                                    "https://evil.example/", "javascript:alert(1)", "/\t/evil.example"])
def test_login_never_redirects_to_another_site(shop_server, target):
    served, shop = shop_server
    with served.client() as c:
        page = c.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text
        r = log_in(c, shop.user, next=target)
        assert r.status_code == 303 and r.headers["location"] == "/"


def test_login_goes_back_to_the_page_asked_for(shop_server):
    served, shop = shop_server
    with served.client() as c:
        first = c.get("/segments?by=rfm")
        assert first.status_code == 303
        target = httpx.URL(first.headers["location"]).params["next"]
        assert target == "/segments?by=rfm"
        r = log_in(c, shop.user, next=target)
        assert r.status_code == 303 and r.headers["location"] == "/segments?by=rfm"
        assert c.get("/segments?by=rfm").status_code == 200


def test_the_session_cookie_is_httponly_and_samesite_lax(shop_server):
    served, shop = shop_server
    with served.client() as c:
        r = log_in(c, shop.user)
        cookie = [v for k, v in r.headers.multi_items() if k.lower() == "set-cookie" and v.startswith("tenure_session=")]
        assert cookie, r.headers
        flags = cookie[0].lower()
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags


def test_logout_needs_its_token_and_ends_the_session(shop_server):
    served, shop = shop_server
    with served.client() as c:
        log_in(c, shop.user)
        page = c.get("/runs")
        assert c.post("/logout").status_code == 403
        assert c.get("/runs").status_code == 200
        r = c.post("/logout", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert c.get("/runs").status_code == 303


def test_a_read_only_user_sees_but_cannot_start_a_run(shop_server):
    served, _ = shop_server
    with served.client() as c:
        log_in(c, "reader@example.com")
        page = c.get("/runs")
        assert page.status_code == 200 and "needs the write scope" in page.text
        assert re.search(r"<button type=\"submit\" disabled>Run now", page.text)
        r = c.post("/runs", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 403 and "needs write" in r.text


def test_pages_escape_what_they_show(shop_server):
    served, shop = shop_server
    with served.client() as c:
        log_in(c, shop.user)
        r = c.get("/customers/<img src=x onerror=alert(1)>")
        assert r.status_code == 404 and "No such customer" in r.text
        assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
        r = c.get("/segments", params={"by": "<b>nope</b>"})
        assert r.status_code == 400 and "<b>nope" not in r.text and "is not a segmentation" in r.text


def test_members_page_and_its_csv_agree(shop_server):
    served, shop = shop_server
    with served.client() as c:
        log_in(c, shop.user)
        seg = c.get("/segments?by=lifecycle").text
        label = re.search(r'<a href="/segments/lifecycle/([^"?]+)">', seg).group(1)
        page = c.get(f"/segments/lifecycle/{label}")
        assert page.status_code == 200
        total = int(re.search(r"([\d,]+) customers? on", page.text).group(1).replace(",", ""))
        csv = c.get(f"/segments/lifecycle/{label}.csv")
        assert csv.status_code == 200 and "attachment" in csv.headers["content-disposition"]
        assert len(csv.text.strip().splitlines()) == total + 1
        api = httpx.get(f"{served.url}/v1/segments/lifecycle/{label}/customers", params={"format": "csv"},
                        headers={"Authorization": f"Bearer {shop.keys['read']}"})
        assert api.text == csv.text


def test_pages_carry_the_security_headers(shop_server):
    served, shop = shop_server
    with served.client() as c:
        for r in (c.get("/login"), c.get("/segments"), c.get("/static/dashboard.css"), c.get("/static/echarts.min.js")):
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert "'unsafe-inline'" not in r.headers["content-security-policy"]
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"
        log_in(c, shop.user)
        page = c.get("/")
        assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "<style" not in page.text and " style=" not in page.text  # nothing the policy would block
        assert not re.search(r"<script(?![^>]*(src=\"/static/|type=\"application/json\"))", page.text)


def test_the_api_keeps_its_own_headers(shop_server):
    served, shop = shop_server
    r = httpx.get(f"{served.url}/v1/runs", headers={"Authorization": f"Bearer {shop.keys['read']}"})
    assert r.status_code == 200 and "content-security-policy" not in r.headers
    assert "content-security-policy" not in httpx.get(f"{served.url}/docs").headers  # Swagger UI loads from a CDN


def test_every_page_renders_on_a_workspace_without_a_snapshot(empty_server):
    with empty_server.client() as c:
        log_in(c, "new@example.com")
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[-500:])
            assert 'id="no-snapshot"' in r.text and "tenure run" in r.text, path
        assert "The warehouse is empty" in c.get("/").text
        assert "No campaign has enrolled anyone yet" in c.get("/campaigns").text
        members = c.get("/segments/lifecycle/active")
        assert members.status_code == 200 and "run `tenure run` first" in members.text.replace("<code>", "`").replace("</code>", "`")
        assert c.get("/segments/lifecycle/active.csv").status_code == 404
        assert c.get("/customers/nobody").status_code == 404


def test_run_now_waits_while_the_workspace_lock_is_held(shop_server):
    from tenure.locking import workspace_lock
    from tenure.server import reads

    served, shop = shop_server
    before = len(reads.runs(shop.ws.store, 1000))
    with served.client() as c:
        log_in(c, shop.user)
        with workspace_lock(shop.ws.root, wait=5):  # as a `tenure run` in another process would
            page = c.get("/runs")
            assert "holds the workspace" in page.text
            r = c.post("/runs", data={"csrf": csrf_of(page.text)})
            assert r.status_code == 303 and r.headers["location"] == "/runs"
            assert "Not started" in c.get("/runs").text
        assert len(reads.runs(shop.ws.store, 1000)) == before  # nothing was started
