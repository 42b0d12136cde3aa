"""Passkeys in Chromium with a virtual authenticator (the DevTools WebAuthn domain through
playwright's CDP session): register a passkey on the page, sign out, sign in with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import PASSWORD, Site
from .test_journeys import Journey, page, sign_in, sign_out

__all__ = ["page"]  # the fixture, shared with the journeys


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator with resident keys that verifies the user, in ``page``."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
        "hasResidentKey": True, "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }})  # fmt: skip
    return cdp, str(added["authenticatorId"])


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_register_a_passkey_sign_out_and_sign_in_with_it(
    framework: str, serve: Callable[..., Site], page: Any
) -> None:
    site = serve(framework, host="localhost", passkeys=True)
    assert site.base.startswith("http://localhost:")
    user = site.auth.users.create_user(email="alice@example.com", password=PASSWORD)
    cdp, authenticator = virtual_authenticator(page)
    j = Journey(page, site, f"{framework}-passkey")
    sign_in(j, "alice@example.com")
    assert j.who() == "alice@example.com"

    j.visit("/auth/account/passkeys", "passkeys-empty")
    page.fill("#ag-passkey-name", "Virtual key")
    with page.expect_navigation():
        page.locator("[data-passkey-add]").click()
    assert j.path() == "/auth/account/passkeys"
    j.check("passkeys-one")
    assert page.locator(".ag-passkeys li").count() == 1
    assert "Virtual key" in page.locator(".ag-passkeys").inner_text()
    [record] = site.auth.list_passkeys(user)
    assert record.name == "Virtual key"
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]

    sign_out(j)
    assert j.who() is None
    # Conditional UI: the login page asks at once with mediation "conditional"; this
    # virtual authenticator picks the passkey by itself (a person would pick it in the
    # email field's suggestions), and the page goes on to its safe next.
    with page.expect_navigation(url=site.url("/protected")):
        page.goto(site.url("/auth/login?next=/protected"))
    assert j.who() == "alice@example.com"

    sign_out(j)
    # The button: no automatic presence while the page loads (the conditional request
    # waits), then a click asks again (aborting the waiting one) and the user is present.
    cdp.send("WebAuthn.setAutomaticPresenceSimulation",
             {"authenticatorId": authenticator, "enabled": False})  # fmt: skip
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/auth/passkey/" in r.url else None)
    j.visit("/auth/login?next=/protected", "login-passkey")
    assert page.locator("#f-email").get_attribute("autocomplete") == "username webauthn"
    assert j.who() is None
    cdp.send("WebAuthn.setAutomaticPresenceSimulation",
             {"authenticatorId": authenticator, "enabled": True})  # fmt: skip
    with page.expect_navigation(url=site.url("/protected")):
        page.locator("[data-passkey-sign-in]").click()
    assert j.who() == "alice@example.com"
    # The waiting conditional request, then the button's own.
    assert [u.rsplit("/auth", 1)[1] for u in asked] == [
        "/passkey/sign-in/options", "/passkey/sign-in/options", "/passkey/sign-in",
    ]  # fmt: skip
    [used] = site.auth.list_passkeys(user)
    assert used.last_used_at is not None
    events = site.auth.audit.events(user, kinds="sign_in")
    assert [e.details["factor"] for e in events[:2]] == ["passkey", "passkey"]
    assert all(e.outcome == "success" for e in events)


def test_a_passkey_as_the_second_step_of_a_password_sign_in(
    serve: Callable[..., Site], page: Any
) -> None:
    site = serve("flask", host="localhost", passkeys=True, two_factor=True)
    user = site.auth.users.create_user(email="bob@example.com", password=PASSWORD)
    cdp, authenticator = virtual_authenticator(page)
    j = Journey(page, site, "flask-passkey-2fa")
    sign_in(j, "bob@example.com")
    assert j.who() == "bob@example.com"  # no factor yet: the password is enough
    j.visit("/auth/account/passkeys")
    with page.expect_navigation():
        page.locator("[data-passkey-add]").click()
    assert len(site.auth.list_passkeys(user)) == 1
    sign_out(j)

    # No automatic presence on the login page: its conditional request must not sign in.
    cdp.send("WebAuthn.setAutomaticPresenceSimulation",
             {"authenticatorId": authenticator, "enabled": False})  # fmt: skip
    sign_in(j, "bob@example.com")
    assert j.path().startswith("/auth/login/two-factor")
    assert j.who() is None  # the pending sign-in grants nothing
    if page.locator("#ag-passkey-verify").count() == 0:
        j.visit(j.path().split("?")[0] + "?method=passkey")
    j.check("two-factor-passkey")
    cdp.send("WebAuthn.setAutomaticPresenceSimulation",
             {"authenticatorId": authenticator, "enabled": True})  # fmt: skip
    with page.expect_navigation(url=site.url("/")):
        page.locator("#ag-passkey-verify button[type=submit]").click()
    assert j.who() == "bob@example.com"
    events = site.auth.audit.events(user, kinds="sign_in")
    assert events[0].outcome == "success"
