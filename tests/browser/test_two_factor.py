"""Two-step verification in headless Chromium: enrol an authenticator app on the page (the
QR code and key shown after a POST), sign out, sign in with a code computed here (pyotp),
and with a recovery code; every page passes axe-core and is saved as a screenshot."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest

from .conftest import PASSWORD, Site
from .test_journeys import Journey, sign_in, sign_out


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(8000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_enrol_totp_and_sign_in_with_a_code(
    framework: str, serve: Callable[..., Site], page: Any
) -> None:
    site = serve(framework, two_factor=True)
    email = "carol@example.com"
    site.auth.users.create_user(email=email, password=PASSWORD)
    j = Journey(page, site, f"{framework}-2fa")
    sign_in(j, email)
    assert j.who() == email
    j.visit("/auth/account/two-factor", "two-factor-off")
    j.visit("/auth/account/two-factor/setup", "totp-setup-start")
    assert page.locator("svg").count() == 0  # never on a GET
    j.send(shot="totp-setup-qr")
    assert page.locator("figure.ag-qr svg").count() == 1
    secret = page.inner_text("code.ag-totp-key").strip()
    totp = pyotp.TOTP(secret)
    assert page.get_attribute("#f-code", "autocomplete") == "one-time-code"
    j.fill(code=totp.now())
    j.send(shot="recovery-codes")
    codes = [c.strip() for c in page.locator(".ag-codes code").all_inner_texts()]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{6}", c) for c in codes)
    j.visit("/auth/account/two-factor", "two-factor-on")
    sign_out(j)
    # the password leads to the second step, not to a session
    sign_in(j, email, shot="two-factor-verify")
    assert j.path().startswith("/auth/login/two-factor") and j.who() is None
    j.fill(code=totp.at(time.time() + 30))  # the next step: the enrolling one is used
    page.check("#f-trust_device")
    j.send()
    assert j.path() == "/" and j.who() == email
    sign_out(j)
    # a recovery code, through its link on the second step
    page.context.clear_cookies()
    sign_in(j, email)
    with page.expect_navigation():
        page.click("text=Use a recovery code")
    j.check("two-factor-recovery")
    j.fill(code=codes[0])
    j.send()
    assert j.path() == "/" and j.who() == email
