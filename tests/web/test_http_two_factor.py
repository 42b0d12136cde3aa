"""SPEC §9 second factor over HTTP, on every framework (Flask, FastAPI, Django, Bottle and
the neutral layer): the endpoints, TWO_FACTOR_REQUIRED with its challenge, the pending
state that grants nothing, replay, trusted-device cookie, CSRF and freshness."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from authgate.testing import OutboxMailer

from ..core.conftest import Clock
from .clients import ContractClient, Response
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer, sign_up

ALICE = "alice@example.com"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_client: MakeClient, clock: Clock, outbox: OutboxMailer) -> MakeClient:
    def factory(**settings: Any) -> ContractClient:
        return make_client(clock=clock, send_email=outbox, two_factor=True, **settings)

    return factory


def post(client: ContractClient, path: str, body: Any = None, token: str | None = None) -> Response:
    headers = bearer(token) if token else {}
    return client.post(f"/auth{path}", headers=headers, cookies=False,
                       json={} if body is None else body)  # fmt: skip


def sign_in(client: ContractClient, **extra: Any) -> Response:
    return post(client, "/sign-in/email", {"email": ALICE, "password": PASSWORD, **extra})


def enrolled(client: ContractClient, clock: Clock) -> tuple[str, pyotp.TOTP, list[str]]:
    token = sign_up(client).json()["token"]
    r = post(client, "/two-factor/totp/setup", token=token)
    assert r.status == 200, r.body
    setup = r.json()
    assert set(setup) == {"secret", "uri", "qr_svg"}
    totp = pyotp.TOTP(setup["secret"])
    r = post(client, "/two-factor/totp/enable", {"code": totp.at(clock())}, token)
    assert r.status == 200, r.body
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10
    clock.advance(30)
    return token, totp, codes


def challenge(client: ContractClient) -> dict[str, Any]:
    return assert_error_2fa(sign_in(client))


def assert_error_2fa(r: Response) -> dict[str, Any]:
    assert r.status == 401, (r.status, r.body)
    error = r.json()["error"]
    assert error["code"] == "TWO_FACTOR_REQUIRED"
    assert isinstance(error["challenge"], str) and error["challenge"]
    assert r.header("WWW-Authenticate")
    assert not any("authgate_session" in c for c in r.set_cookies)
    return dict(error)


def test_sign_in_with_totp_end_to_end(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    _, totp, _ = enrolled(client, clock)
    error = challenge(client)
    assert error["methods"] == ["totp", "recovery_code", "email"]
    pending = error["challenge"]
    # the pending state grants nothing: not a bearer credential anywhere
    for path in ("/session", "/sessions", "/two-factor"):
        assert_error(client.get(f"/auth{path}", headers=bearer(pending), cookies=False),
                     401, "INVALID_TOKEN")  # fmt: skip
    r = post(client, "/two-factor/verify", {"challenge": pending, "code": totp.at(clock())})
    assert r.status == 200, r.body
    body = r.json()
    assert body["user"]["email"] == ALICE and body["token"]
    assert client.get("/auth/session", headers=bearer(body["token"])).status == 200
    # replayed code, replayed challenge
    assert_error(post(client, "/two-factor/verify",
                      {"challenge": challenge(client)["challenge"], "code": totp.at(clock())}),
                 401, "INVALID_CODE")  # fmt: skip
    assert_error(post(client, "/two-factor/verify", {"challenge": pending, "code": "123456"}),
                 401, "INVALID_TOKEN")  # fmt: skip


def test_recovery_codes_email_codes_and_regeneration(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer
) -> None:
    client = mk()
    token, _, codes = enrolled(client, clock)
    r = post(
        client,
        "/two-factor/verify",
        {"challenge": challenge(client)["challenge"], "code": codes[0], "method": "recovery_code"},
    )
    assert r.status == 200, r.body
    pending = challenge(client)["challenge"]
    assert post(client, "/two-factor/email/send", {"challenge": pending}).json() == {
        "success": True
    }
    code = re.search(r"\b(\d{6})\b", outbox.find("two_factor_code")[-1].text).group(1)  # type: ignore[union-attr]
    r = post(client, "/two-factor/verify", {"challenge": pending, "code": code, "method": "email"})
    assert r.status == 200, r.body
    r = post(client, "/two-factor/recovery-codes", token=token)
    assert r.status == 200, r.body
    new = r.json()["recovery_codes"]
    assert len(new) == 10 and codes[1] not in new
    assert_error(post(client, "/two-factor/verify", {"challenge": challenge(client)["challenge"],
                                                     "code": codes[1], "method": "recovery_code"}),
                 401, "INVALID_CODE")  # fmt: skip
    status = client.get("/auth/two-factor", headers=bearer(token), cookies=False).json()
    assert status["enabled"] is True and status["recovery_codes_left"] == 10


def test_bad_input_never_500(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    enrolled(client, clock)
    pending = challenge(client)["challenge"]
    for body in ({"challenge": pending}, {"challenge": pending, "code": {"x": 1}},
                 {"challenge": pending, "code": "123456", "method": "sms"},
                 {"challenge": pending, "code": "123456", "trust_device": "yes"},
                 {"code": "123456"}):  # fmt: skip
        assert_error(post(client, "/two-factor/verify", body), 400, "VALIDATION_ERROR")
    assert_error(post(client, "/two-factor/verify", {"challenge": "x" * 50, "code": "123456"}),
                 401, "INVALID_TOKEN")  # fmt: skip
    assert_error(post(client, "/two-factor/totp/setup", {"challenge": "forged"}),
                 401, "INVALID_TOKEN")  # fmt: skip
    assert_error(post(client, "/two-factor/totp/setup"), 401, "UNAUTHORIZED")
    assert_error(post(client, "/two-factor/recovery-codes"), 401, "UNAUTHORIZED")


def test_setup_is_post_only_fresh_and_csrf_protected(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    assert_error(client.get("/auth/two-factor/totp/setup", headers=bearer(token)),
                 405, "METHOD_NOT_ALLOWED")  # fmt: skip
    # cookie-authenticated without the CSRF token: refused, nothing set up
    r = client.post("/auth/two-factor/totp/setup", json={})
    assert_error(r, 403, "CSRF_FAILED")
    csrf = client.cookie("authgate_csrf")
    assert csrf
    r = client.post("/auth/two-factor/totp/setup", json={}, headers={"X-CSRF-Token": csrf})
    assert r.status == 200, r.body
    clock.advance(15 * 60 + 1)
    assert_error(post(client, "/two-factor/totp/setup", token=token), 401, "REAUTH_REQUIRED")
    assert_error(post(client, "/two-factor/disable", {"password": PASSWORD}, token),
                 401, "REAUTH_REQUIRED")  # fmt: skip


def test_disable_and_trusted_device_cookie(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    token, totp, _ = enrolled(client, clock)
    pending = challenge(client)["challenge"]
    r = client.post("/auth/two-factor/verify", json={"challenge": pending,
                                                     "code": totp.at(clock()),
                                                     "trust_device": True})  # fmt: skip
    assert r.status == 200, r.body
    assert any("authgate_trusted_device=" in c and "HttpOnly" in c for c in r.set_cookies)
    assert "trusted_device" not in r.json()
    trusted = client.cookie("authgate_trusted_device")
    r = client.post("/auth/sign-in/email", json={"email": ALICE, "password": PASSWORD},
                    headers={"Cookie": f"authgate_trusted_device={trusted}"},
                    cookies=False)  # fmt: skip
    assert r.status == 200, r.body  # skipped
    assert_error(post(client, "/two-factor/disable", {"password": "wrong password!"}, token),
                 401, "INVALID_CREDENTIALS")  # fmt: skip
    assert post(client, "/two-factor/disable", {"password": PASSWORD}, token).status == 200
    assert sign_in(client).status == 200


def test_enforced_enrolment_through_the_challenge(mk: MakeClient, clock: Clock) -> None:
    client = mk(two_factor_required=True, two_factor_grace_period=600,
                two_factor_methods=["totp"])  # fmt: skip
    sign_up(client)
    r = sign_in(client)
    assert r.status == 200  # within the grace period
    session = client.get("/auth/session", headers=bearer(r.json()["token"]), cookies=False)
    assert session.json()["two_factor_setup_required"] is True
    clock.advance(601)
    error = challenge(client)
    assert error["setup_required"] is True and error["methods"] == []
    r = post(client, "/two-factor/totp/setup", {"challenge": error["challenge"]})
    assert r.status == 200, r.body
    totp = pyotp.TOTP(r.json()["secret"])
    r = post(
        client,
        "/two-factor/totp/enable",
        {"challenge": error["challenge"], "code": totp.at(clock())},
    )
    assert r.status == 200, r.body
    body = r.json()
    assert body["token"] and len(body["recovery_codes"]) == 10
    session = client.get("/auth/session", headers=bearer(body["token"]), cookies=False).json()
    assert "two_factor_setup_required" not in session


def test_openapi_lists_the_routes(mk: MakeClient) -> None:
    client = mk()
    paths = client.get("/auth/openapi.json").json()["paths"]
    for path in ("totp/setup", "totp/enable", "disable", "recovery-codes", "verify",
                 "email/send"):  # fmt: skip
        assert f"/auth/two-factor/{path}" in paths
    off = client.auth.settings  # type: ignore[attr-defined]
    assert off.two_factor


def test_routes_are_feature_disabled_when_off(make_client: MakeClient) -> None:
    client = make_client()
    assert_error(client.post("/auth/two-factor/verify", json={"challenge": "x", "code": "1"}),
                 404, "FEATURE_DISABLED")  # fmt: skip
    assert "/auth/two-factor/verify" not in client.get("/auth/openapi.json").json()["paths"]


def test_the_guard_sends_browsers_to_the_setup_during_grace(mk: MakeClient) -> None:
    client = mk(two_factor_required=True, two_factor_grace_period=600)
    sign_up(client)  # the cookie is in the jar
    assert sign_in(client).status == 200
    r = client.post("/auth/sign-in/email", json={"email": ALICE, "password": PASSWORD})
    assert r.status == 200
    page = client.get("/protected", headers={"Accept": "text/html"})
    assert page.status in (302, 303), (page.status, page.body[:300])
    assert page.header("Location") == "/auth/account/two-factor/setup"
    api = client.get("/protected", headers={"Accept": "application/json"})
    assert api.status == 200  # the API is not redirected: /session says the set-up is due
