"""Whole journeys through the pages in headless Chromium, mail read from a real SMTP server.

Full journey on Flask and Django; sign-in, sign-out and reset on FastAPI and Bottle; the
same journey in Farsi (right to left). Every page visited passes axe-core (no serious or
critical violation) and is saved to ``build/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import PASSWORD, Site, check_accessibility, screenshot

NEW_PASSWORD = "a brand new horse battery"
RESET_PASSWORD = "reset horse battery staple"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    context.set_default_timeout(8000)
    try:
        yield context.new_page()
    finally:
        context.close()


class Journey:
    """A visitor in one browser context: visits (with axe and a screenshot), fills, sends."""

    def __init__(self, page: Any, site: Site, label: str) -> None:
        self.page = page
        self.site = site
        self.label = label
        self.mails = 0

    def visit(self, path: str, shot: str | None = None) -> None:
        self.page.goto(self.site.url(path))
        self.check(shot)

    def check(self, shot: str | None) -> None:
        if not self.path().startswith("/auth/"):
            return  # the test app's own pages
        check_accessibility(self.page)
        if shot is not None:
            screenshot(self.page, f"{self.label}-{shot}")

    def fill(self, **values: str) -> None:
        for name, value in values.items():
            self.page.fill(f"#f-{name}", value)

    def send(self, form: str = "main form", shot: str | None = None) -> None:
        with self.page.expect_navigation():
            self.page.locator(form).locator("button[type=submit]").first.click()
        self.check(shot)

    def path(self) -> str:
        return self.page.url[len(self.site.base) :]

    def who(self) -> str | None:
        """The signed-in user's email, as the API tells this browser (its cookies)."""
        r = self.page.request.get(self.site.url("/auth/session"))
        return str(r.json()["user"]["email"]) if r.ok else None

    def flash(self) -> str:
        return str(self.page.locator(".ag-flash").first.inner_text())

    def link(self, subject_words: str) -> str:
        self.mails += 1
        return self.site.wait_for_link(subject_words, self.mails)

    def open_link(self, link: str, shot: str | None = None) -> None:
        assert link.startswith(self.site.base)
        self.page.goto(link)
        self.check(shot)


def sign_up_and_confirm(j: Journey, email: str, subject: str = "confirm") -> None:
    j.visit("/auth/register", "register")
    j.fill(email=email, password=PASSWORD)
    j.send()
    assert j.path() == "/auth/login"
    j.check("login-after-register")
    j.open_link(j.link(subject), "verify-email")
    j.send()
    assert j.path() == "/auth/login"


def sign_in(j: Journey, email: str, password: str = PASSWORD, shot: str | None = None) -> None:
    if not j.path().startswith("/auth/login"):
        j.visit("/auth/login")
    j.fill(email=email, password=password)
    j.send(shot=shot)


def sign_out(j: Journey) -> None:
    j.visit("/auth/logout", "logout")
    j.send()
    assert j.path() == "/"


def forgot_and_reset(j: Journey, email: str, subject: str = "reset") -> None:
    j.visit("/auth/forgot", "forgot-password")
    j.fill(email=email)
    j.send(shot="forgot-password-sent")
    j.open_link(j.link(subject), "reset-password")
    j.fill(new_password=RESET_PASSWORD)
    j.send()
    assert j.path() == "/auth/login"


def full_journey(page: Any, site: Site, label: str, second_page: Any) -> None:
    j = Journey(page, site, label)
    email = "alice@example.com"
    sign_up_and_confirm(j, email)
    sign_in(j, email, shot=None)
    assert j.path() == "/" and j.who() == email
    j.visit("/auth/account", "profile")
    assert page.inner_text("h1") == "Your profile"
    # change password
    j.visit("/auth/account/password", "change-password")
    j.fill(current_password=PASSWORD, new_password=NEW_PASSWORD)
    j.send(shot="profile-after-password")
    assert j.path() == "/auth/account" and "password has been changed" in j.flash()
    j.link("password was changed")  # the notice
    sign_out(j)
    forgot_and_reset(j, email)
    j.link("password was reset")  # the notice
    sign_in(j, email, RESET_PASSWORD)
    assert j.path() == "/"
    # manage emails: add one, confirm it from its mail
    j.visit("/auth/account/emails", "emails")
    j.fill(email="alice@work.example", password=RESET_PASSWORD)
    j.send("main form:has(input[value=add])")
    j.open_link(j.link("additional"), "verify-email-added")
    j.send()
    j.visit("/auth/account/emails", "emails-confirmed")
    assert "alice@work.example" in page.inner_text("main")
    assert page.locator("form:has(input[value=primary])").count() == 1
    # a second device signs in; this one signs every other device out
    other = Journey(second_page, site, label + "-other")
    sign_in(other, email, RESET_PASSWORD)
    assert other.path() == "/"
    j.visit("/auth/account/sessions", "sessions")
    assert page.locator("li:has(input[name=session_id])").count() == 1
    j.send("main form:has(input[value=revoke_others])")
    assert "other device" in j.flash()
    other.visit("/auth/account")
    assert other.path().startswith("/auth/login?next=")
    # delete the account
    j.visit("/auth/account/delete", "delete-account")
    j.fill(password=RESET_PASSWORD)
    page.check("#f-confirm")
    j.send()
    assert j.path() == "/auth/login" and "deleted" in j.flash()
    j.check("login-after-delete")
    assert site.auth.users.get_user(email) is None


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_full_journey(framework: str, serve: Callable[..., Site], page: Any, browser: Any) -> None:
    site = serve(framework, confirmable=True, multiple_emails=True)
    context = browser.new_context()
    try:
        full_journey(page, site, framework, context.new_page())
    finally:
        context.close()


@pytest.mark.parametrize("framework", ["fastapi", "bottle"])
def test_sign_in_out_and_reset(framework: str, serve: Callable[..., Site], page: Any) -> None:
    site = serve(framework)
    site.auth.users.create_user(email="bob@example.com", password=PASSWORD)
    j = Journey(page, site, framework)
    page.goto(site.url("/protected") if framework == "bottle" else site.url("/auth/account"))
    assert j.path().startswith("/auth/login?next=")
    j.check("login")
    j.fill(email="bob@example.com", password="not the password")
    j.send(shot="login-error")
    assert page.locator("[role=alert]").count() == 1
    j.fill(password=PASSWORD)
    j.send()
    assert j.path() in {"/protected", "/auth/account"}
    sign_out(j)
    forgot_and_reset(j, "bob@example.com")
    sign_in(j, "bob@example.com", RESET_PASSWORD)
    assert j.path() == "/" and j.who() == "bob@example.com"


def test_farsi_journey_right_to_left(serve: Callable[..., Site], browser: Any) -> None:
    site = serve("flask", confirmable=True, multiple_emails=True)
    context = browser.new_context(locale="fa-IR", viewport={"width": 1000, "height": 760})
    try:
        page = context.new_page()
        j = Journey(page, site, "flask-fa")
        j.visit("/auth/register")
        assert page.get_attribute("html", "dir") == "rtl" and page.get_attribute("html", "lang") == "fa"
        # Mirrored: the label sits at the right edge of its field.
        label = page.locator("label[for=f-email]").bounding_box()
        field = page.locator("#f-email").bounding_box()
        assert abs((label["x"] + label["width"]) - (field["x"] + field["width"])) < 2
        sign_up_and_confirm(j, "sara@example.com", "تأیید")
        assert page.inner_text(".ag-flash") == "نشانی ایمیل شما تأیید شد."
        sign_in(j, "sara@example.com")
        j.visit("/auth/account", "profile")
        nav = page.locator(".ag-nav").bounding_box()
        card = page.locator(".ag-card").bounding_box()
        assert nav["x"] > card["x"]  # the account menu is on the right
        assert page.inner_text("h1") == "نمایهٔ شما"
        message = site.mail.received[0].message
        assert "تأیید" in str(message["Subject"])
        html = message.get_body(preferencelist=("html",)).get_content()
        assert '<html lang="fa" dir="rtl">' in html
    finally:
        context.close()


def test_the_demo_in_a_browser(
    browser: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``make demo``: from the home page to a confirmed, signed-in account, links from the console."""
    import re

    from authgate.demo import create_app

    from .conftest import _wsgi, free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AUTHGATE_DEMO_URL", base)
    monkeypatch.setenv("AUTHGATE_ARGON2_MEMORY_COST", "1024")
    app = create_app(tmp_path)
    stop = _wsgi(app, port)
    context = browser.new_context()
    context.set_default_timeout(8000)
    try:
        page = context.new_page()
        page.goto(base + "/")
        with page.expect_navigation():
            page.click("text=Create an account")
        page.fill("#f-email", "visitor@example.com")
        page.fill("#f-username", "visitor")
        page.fill("#f-password", PASSWORD)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        app.extensions["authgate"].auth.mail.flush()
        printed = capsys.readouterr().out
        link = re.search(re.escape(base) + r"/auth/verify-email\?token=\S+", printed)
        assert link is not None, printed
        page.goto(link.group(0))
        check_accessibility(page)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        assert page.url == base + "/"  # the demo signs in on confirmation
        assert "Signed in as visitor@example.com" in page.inner_text("body")
        with page.expect_navigation():
            page.click("text=Your account")
        assert page.inner_text("h1") == "Your profile"
        screenshot(page, "demo-profile")
    finally:
        context.close()
        stop()
