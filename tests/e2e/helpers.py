"""Steps every browser journey shares: where the page is, and signing in."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect


def url_path(page: Page) -> str:
    return urlsplit(page.url).path


def path_is(path: str) -> re.Pattern[str]:
    """A URL pattern for ``expect(page).to_have_url``: this path, any query or fragment."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?(#.*)?$")


def sign_in(page: Page, username: str, password: str, *, expect_home: bool = True) -> None:
    """Sign in through the login form; by default wait for the home page."""
    if url_path(page) != "/login":
        page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#login-submit").click()
    if expect_home:
        expect(page).to_have_url(path_is("/"))
        expect(page.locator("h1#welcome")).to_be_visible()


# -- the JSON API of the live server (for seeding what a journey starts from) -----------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(server, method: str, path: str, body=None, token: str | None = None):
    """Call the live server's JSON API in English; returns (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept-Language", "en")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _NO_PROXY.open(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "null")


def api_token(server, username: str, password: str) -> str:
    """A personal API token of ``username`` (signs in through the API)."""
    status, body = api(
        server, "POST", "/api/v1/auth/token", {"username": username, "password": password}
    )
    assert status == 201, body
    return body["token"]
