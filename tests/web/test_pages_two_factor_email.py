"""The two-step verification page on every framework: a user without an authenticator app
turns on codes sent by email (POST + CSRF, fresh session), sees the recovery codes, then
signs in with a mailed code; turning two-step verification off removes it."""

from __future__ import annotations

import re

from authgate.testing import OutboxMailer

from ..core.conftest import Clock
from .conftest import MakeClient
from .pages import FORM, HTML, PASSWORD, sign_in, submit, text
from .test_pages import assert_page_headers, create, signed_in
from .test_pages_two_factor import ALICE, clock, follow, mk, outbox

__all__ = ["clock", "mk", "outbox"]  # the fixtures, shared with test_pages_two_factor

PAGE = "/auth/account/two-factor"
BUTTON = "Use codes sent by email instead"


def test_turn_on_email_codes_and_sign_in_with_one(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer
) -> None:
    client = mk()
    create(client)
    sign_in(client, ALICE)
    page = client.get(PAGE, headers=HTML)
    assert page.status == 200 and BUTTON in text(page)
    assert "Set up an authenticator app" in text(page)
    # without the form's CSRF token: refused, nothing turned on
    r = client.post(PAGE, body=b"action=enable_email", headers=FORM)
    assert r.status == 403
    assert BUTTON in text(client.get(PAGE, headers=HTML))
    shown = submit(client, page, PAGE, {"action": "enable_email"})
    assert shown.status == 200, text(shown)[:2000]
    assert_page_headers(shown)
    codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", text(shown))
    assert len(codes) == 10
    status = text(client.get(PAGE, headers=HTML))
    assert "a code sent to your email address" in status and BUTTON not in status
    assert "10 unused recovery codes" in status
    # signing in now asks for an emailed code
    client.cookies.clear()
    r = sign_in(client, ALICE)
    assert r.status == 303 and "/auth/login/two-factor" in (r.header("Location") or "")
    assert not signed_in(client)
    step = follow(client, r)
    sent = submit(client, step, "/auth/login/two-factor", {"action": "send_email"})
    page = follow(client, sent)
    found = re.search(r"\b(\d{6})\b", outbox.find("two_factor_code")[-1].text)
    assert found is not None
    code = found.group(1)
    wrong = submit(client, page, "/auth/login/two-factor", {"action": "verify"},
                   code="000000" if code != "000000" else "111111")  # fmt: skip
    assert wrong.status == 401 and not signed_in(client)
    r = submit(client, wrong, "/auth/login/two-factor", {"action": "verify"}, code=code)
    assert r.status == 303 and signed_in(client)
    # turning it off, with the password
    page = client.get(PAGE, headers=HTML)
    r = submit(client, page, PAGE, {"action": "disable"}, password=PASSWORD)
    assert r.status == 303
    after = text(client.get(PAGE, headers=HTML))
    assert "Two-step verification is off" in after and BUTTON in after
    client.cookies.clear()
    r = sign_in(client, ALICE)
    assert r.status == 303 and signed_in(client)


def test_turning_on_needs_a_fresh_session(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    create(client)
    sign_in(client, ALICE)
    clock.advance(16 * 60)
    page = client.get(PAGE, headers=HTML)
    r = submit(client, page, PAGE, {"action": "enable_email"})
    assert r.status == 303 and "/auth/account/reauthenticate" in (r.header("Location") or "")
    assert BUTTON in text(client.get(PAGE, headers=HTML))  # still off


def test_no_button_when_email_is_not_a_method(mk: MakeClient) -> None:
    client = mk(two_factor_methods=["totp"])
    create(client)
    sign_in(client, ALICE)
    page = client.get(PAGE, headers=HTML)
    assert page.status == 200 and BUTTON not in text(page)
