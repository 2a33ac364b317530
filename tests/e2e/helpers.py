"""Steps every browser journey shares: where the page is, and signing in."""

from __future__ import annotations

import re
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
