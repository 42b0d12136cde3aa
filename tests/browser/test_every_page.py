"""Every page in English, German and Farsi: axe-core clean, with a screenshot of each; the
login and register forms filled and sent with the keyboard alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import PASSWORD, Site, check_accessibility, screenshot

FEATURES: dict[str, Any] = {"confirmable": True, "usernames": True, "multiple_emails": True,
                            "passwordless": True, "two_factor": True}  # fmt: skip
PUBLIC = {
    "login": "/auth/login", "register": "/auth/register",
    "login-or-register": "/auth/login-or-register", "forgot-password": "/auth/forgot",
    "send-confirmation": "/auth/confirm", "magic-link": "/auth/magic-link",
    "reset-password": "/auth/reset-password?token=t", "verify-email": "/auth/verify-email?token=t",
    "magic-link-verify": "/auth/magic-link/verify?token=t",
    "accept-invitation-invalid": "/auth/sign-up?token=t",
}  # fmt: skip
MEMBER = {
    "profile": "/auth/account", "change-password": "/auth/account/password",
    "change-username": "/auth/account/username", "change-email": "/auth/account/email",
    "emails": "/auth/account/emails", "sessions": "/auth/account/sessions",
    "reauthenticate": "/auth/account/reauthenticate", "delete-account": "/auth/account/delete",
    "two-factor": "/auth/account/two-factor", "totp-setup": "/auth/account/two-factor/setup",
    "logout": "/auth/logout",
}  # fmt: skip


@pytest.mark.parametrize("locale", ["en", "de", "fa"])
def test_every_page_is_accessible(locale: str, serve: Callable[..., Site], browser: Any) -> None:
    site = serve("flask", **FEATURES)
    site.auth.users.create_user(email="eve@example.com", username="eve", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    context.set_default_timeout(8000)
    context.add_cookies([{"name": "authgate_locale", "value": locale, "url": site.base}])
    page = context.new_page()
    try:
        for name, path in PUBLIC.items():
            page.goto(site.url(path))
            assert page.get_attribute("html", "lang") == locale
            assert page.get_attribute("html", "dir") == ("rtl" if locale == "fa" else "ltr")
            check_accessibility(page)
            screenshot(page, f"page-{locale}-{name}")
        page.set_viewport_size({"width": 390, "height": 800})  # a phone
        page.goto(site.url("/auth/login-or-register"))
        check_accessibility(page)
        screenshot(page, f"page-{locale}-login-or-register-phone")
        page.set_viewport_size({"width": 1000, "height": 760})
        # Errors are part of a page: a failed sign-in, then a sign-up with bad fields.
        page.goto(site.url("/auth/login"))
        page.fill("#f-identifier", "eve")
        page.fill("#f-password", "wrong password")
        with page.expect_navigation():
            page.click("main button[type=submit]")
        assert page.locator("[role=alert]").count() == 1
        check_accessibility(page)
        screenshot(page, f"page-{locale}-login-error")
        page.goto(site.url("/auth/register"))
        page.fill("#f-email", "not-an-email@")
        page.fill("#f-username", "x")
        page.fill("#f-password", "short")
        page.evaluate("document.querySelector('main form').noValidate = true")
        with page.expect_navigation():
            page.click("main button[type=submit]")
        assert page.locator("[aria-invalid=true]").count() == 3
        assert page.evaluate("document.activeElement.id") == "f-email"  # the first error
        check_accessibility(page)
        screenshot(page, f"page-{locale}-register-errors")
        # The account pages, signed in.
        page.goto(site.url("/auth/login"))
        page.fill("#f-identifier", "eve@example.com")
        page.fill("#f-password", PASSWORD)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        for name, path in MEMBER.items():
            page.goto(site.url(path))
            assert page.url == site.url(path), page.url
            check_accessibility(page)
            screenshot(page, f"page-{locale}-{name}")
        page.set_viewport_size({"width": 390, "height": 800})  # a phone
        page.goto(site.url("/auth/account/sessions"))
        check_accessibility(page)
        screenshot(page, f"page-{locale}-sessions-phone")
    finally:
        context.close()


def test_dark_mode_is_accessible(serve: Callable[..., Site], browser: Any) -> None:
    site = serve("flask", **FEATURES)
    context = browser.new_context(color_scheme="dark", viewport={"width": 1000, "height": 760})
    page = context.new_page()
    try:
        for name in ("login", "register", "reset-password"):
            page.goto(site.url(PUBLIC[name]))
            check_accessibility(page)
            screenshot(page, f"page-dark-{name}")
    finally:
        context.close()


def _tab_to(page: Any, element_id: str, limit: int = 30) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def test_login_and_register_with_the_keyboard_alone(
    serve: Callable[..., Site], browser: Any
) -> None:
    site = serve("flask")
    context = browser.new_context()
    context.set_default_timeout(8000)
    page = context.new_page()
    try:
        page.goto(site.url("/auth/register"))
        _tab_to(page, "f-email")
        page.keyboard.type("kim@example.com")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "f-password"
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Create account"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url == site.url("/")
        page.goto(site.url("/auth/logout"))
        for _ in range(10):  # skip link, site name, the header's links, then the form
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.tagName") == "BUTTON":
                break
        assert page.evaluate("document.activeElement.textContent") == "Sign out"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.request.get(site.url("/auth/session")).status == 401
        page.goto(site.url("/auth/login"))
        # The skip link comes first and takes the keyboard to the form.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        _tab_to(page, "f-email", limit=3)
        page.keyboard.type("kim@example.com")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "f-remember"
        page.keyboard.press("Space")
        assert page.is_checked("#f-remember")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Sign in"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url == site.url("/")
        cookie = next(c for c in context.cookies() if c["name"] == "authgate_session")
        assert cookie["expires"] > 0  # "keep me signed in": a lasting cookie
    finally:
        context.close()
