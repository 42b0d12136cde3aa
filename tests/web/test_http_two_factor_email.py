"""Emailed codes as a user's own second factor over HTTP, on every framework:
``POST /two-factor/email/enable`` (fresh session, CSRF with cookies), the status, a
password sign-in answering TWO_FACTOR_REQUIRED with ``["email", "recovery_code"]``, the
mailed code signing in once, a wrong code, and ``/two-factor/disable`` turning it off."""

from __future__ import annotations

import re

from authgate.testing import OutboxMailer

from ..core.conftest import Clock
from .clients import ContractClient
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer, sign_up
from .test_http_two_factor import challenge, clock, mk, outbox, post, sign_in

__all__ = ["clock", "mk", "outbox"]  # the fixtures, shared with test_http_two_factor


def mailed_code(outbox: OutboxMailer) -> str:
    found = re.search(r"\b(\d{6})\b", outbox.find("two_factor_code")[-1].text)
    assert found is not None
    return found.group(1)


def status_of(client: ContractClient, token: str) -> dict:
    r = client.get("/auth/two-factor", headers=bearer(token), cookies=False)
    assert r.status == 200, r.body
    return dict(r.json())


def test_email_codes_end_to_end(mk: MakeClient, clock: Clock, outbox: OutboxMailer) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    assert status_of(client, token)["email"] is False
    r = post(client, "/two-factor/email/enable", token=token)
    assert r.status == 200, r.body
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10
    status = status_of(client, token)
    assert status["enabled"] is True and status["email"] is True and status["totp"] is False
    assert status["methods"] == ["email", "recovery_code"]
    error = challenge(client)
    assert error["methods"] == ["email", "recovery_code"]
    pending = error["challenge"]
    assert post(client, "/two-factor/email/send", {"challenge": pending}).json() == {
        "success": True
    }
    code = mailed_code(outbox)
    wrong = "000000" if code != "000000" else "111111"
    assert_error(post(client, "/two-factor/verify",
                      {"challenge": pending, "code": wrong, "method": "email"}),
                 401, "INVALID_CODE")  # fmt: skip
    r = post(client, "/two-factor/verify", {"challenge": pending, "code": code, "method": "email"})
    assert r.status == 200, r.body
    body = r.json()
    assert body["user"]["email"] == "alice@example.com" and body["token"]
    # single use: neither the used challenge nor a new one takes the code again
    assert_error(post(client, "/two-factor/verify",
                      {"challenge": pending, "code": code, "method": "email"}),
                 401, "INVALID_TOKEN")  # fmt: skip
    assert_error(post(client, "/two-factor/verify",
                      {"challenge": challenge(client)["challenge"], "code": code,
                       "method": "email"}),
                 401, "INVALID_CODE")  # fmt: skip
    # a recovery code works too
    r = post(client, "/two-factor/verify", {"challenge": challenge(client)["challenge"],
                                            "code": codes[0], "method": "recovery_code"})
    assert r.status == 200, r.body
    # turning on again changes nothing
    r = post(client, "/two-factor/email/enable", token=token)
    assert r.status == 200 and r.json() == {"recovery_codes": []}
    # /two-factor/disable turns it off
    assert_error(post(client, "/two-factor/disable", {"password": "wrong password!"}, token),
                 401, "INVALID_CREDENTIALS")  # fmt: skip
    assert post(client, "/two-factor/disable", {"password": PASSWORD}, token).status == 200
    status = status_of(client, token)
    assert status["enabled"] is False and status["email"] is False
    assert sign_in(client).status == 200


def test_enable_needs_a_session_freshness_and_csrf(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    assert_error(post(client, "/two-factor/email/enable"), 401, "UNAUTHORIZED")
    assert_error(client.get("/auth/two-factor/email/enable", headers=bearer(token)),
                 405, "METHOD_NOT_ALLOWED")  # fmt: skip
    assert_error(client.post("/auth/two-factor/email/enable", json={}), 403, "CSRF_FAILED")
    clock.advance(15 * 60 + 1)
    assert_error(post(client, "/two-factor/email/enable", token=token), 401, "REAUTH_REQUIRED")
    assert status_of(client, token)["enabled"] is False
    assert sign_in(client).status == 200


def test_enable_when_email_is_not_a_method(mk: MakeClient) -> None:
    client = mk(two_factor_methods=["totp"])
    token = sign_up(client).json()["token"]
    assert_error(post(client, "/two-factor/email/enable", token=token), 404, "FEATURE_DISABLED")
    assert sign_in(client).status == 200


def test_openapi_lists_it(mk: MakeClient, make_client: MakeClient) -> None:
    spec = mk().get("/auth/openapi.json").json()
    operation = spec["paths"]["/auth/two-factor/email/enable"]["post"]
    assert operation["operationId"] == "emailCodesEnable"
    assert "email" in spec["components"]["schemas"]["TwoFactorStatus"]["properties"]
    off = make_client().get("/auth/openapi.json").json()["paths"]
    assert "/auth/two-factor/email/enable" not in off
