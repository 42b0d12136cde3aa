"""The API-keys page in Chromium: make a key on the page, copy it with the button, use it as
``X-API-Key`` against a protected route, revoke it on the page, and the key is refused;
axe-core clean, with screenshots in English, German and Farsi."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, Site, check_accessibility, screenshot

KEY = re.compile(r"ag_[A-Za-z0-9_-]{43}")


def status_with_key(site: Site, key: str) -> int:
    """GET /protected with the key (no cookie), as a script would."""
    headers = {"X-API-Key": key, "Accept": "application/json"}
    return httpx.get(site.url("/protected"), headers=headers, timeout=10).status_code


@pytest.mark.parametrize("locale", ["en", "de", "fa"])
def test_make_use_and_revoke_a_key_on_the_page(
    locale: str, serve: Callable[..., Site], browser: Any
) -> None:
    site = serve("flask")
    site.auth.users.create_user(email="kim@example.com", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(8000)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base)
    context.add_cookies([{"name": "authgate_locale", "value": locale, "url": site.base}])
    page = context.new_page()
    try:
        page.goto(site.url("/auth/login"))
        page.fill("#f-email", "kim@example.com")
        page.fill("#f-password", PASSWORD)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        # From the profile page, through its link.
        page.goto(site.url("/auth/account"))
        with page.expect_navigation():
            page.click("main a[href='/auth/account/api-keys']")
        assert page.url == site.url("/auth/account/api-keys")
        check_accessibility(page)
        screenshot(page, f"page-{locale}-api-keys-empty")

        page.fill("#f-name", "Nightly report")
        page.fill("#f-scopes", "read:reports")
        page.select_option("#f-expires_in", "never")
        with page.expect_navigation():
            page.click("main form:has(input[value=create]) button[type=submit]")
        key = page.input_value("#ag-new-key")
        assert KEY.fullmatch(key), key
        assert page.url == site.url("/auth/account/api-keys")  # the answer, not a redirect
        copy = page.locator("button[data-copy=ag-new-key]")
        assert copy.is_visible()  # our script revealed it (the page's CSP allowed it)
        copy.click()
        page.wait_for_function("document.getElementById('ag-copy-status').textContent !== ''")
        assert page.evaluate("navigator.clipboard.readText()") == key
        check_accessibility(page)
        screenshot(page, f"page-{locale}-api-keys-created")

        assert status_with_key(site, key) == 200
        assert status_with_key(site, key[:-1] + ("A" if key[-1] != "A" else "B")) == 401

        # Shown once: a reload of the list no longer has it.
        page.goto(site.url("/auth/account/api-keys"))
        assert key not in page.content()
        assert page.locator("#ag-new-key").count() == 0
        assert "read:reports" in page.inner_text("main .ag-keys")
        check_accessibility(page)
        screenshot(page, f"page-{locale}-api-keys-list")

        with page.expect_navigation():
            page.click("main .ag-keys button[type=submit]")
        assert page.locator(".ag-flash").count() == 1
        assert page.locator("main .ag-keys").count() == 0
        assert status_with_key(site, key) == 401
        # A phone-sized screen, with an error next to its field.
        page.set_viewport_size({"width": 390, "height": 800})
        page.fill("#f-name", "bad")
        page.fill("#f-scopes", "not valid!")
        with page.expect_navigation():
            page.click("main form:has(input[value=create]) button[type=submit]")
        assert page.get_attribute("#f-scopes", "aria-invalid") == "true"
        check_accessibility(page)
        screenshot(page, f"page-{locale}-api-keys-error-phone")
    finally:
        context.close()


def test_without_script_the_key_is_still_shown_and_selectable(
    serve: Callable[..., Site], browser: Any
) -> None:
    site = serve("flask")
    site.auth.users.create_user(email="kim@example.com", password=PASSWORD)
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(8000)
    page = context.new_page()
    try:
        page.goto(site.url("/auth/login"))
        page.fill("#f-email", "kim@example.com")
        page.fill("#f-password", PASSWORD)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        page.goto(site.url("/auth/account/api-keys"))
        page.fill("#f-name", "no script")
        with page.expect_navigation():
            page.click("main form:has(input[value=create]) button[type=submit]")
        assert KEY.fullmatch(page.input_value("#ag-new-key"))
        assert not page.locator("button[data-copy=ag-new-key]").is_visible()  # stays hidden
    finally:
        context.close()
