"""The two-step verification pages on every framework: set up an authenticator app (the QR
code only ever answers a POST), the sign-in's second step (code, recovery code, emailed
code, trust this device), recovery codes, turning it off, enforcement's set-up redirect."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from authgate.testing import OutboxMailer

from ..core.conftest import Clock
from .clients import ContractClient, Response
from .conftest import MakeClient
from .pages import HTML, PASSWORD, sign_in, submit, text
from .test_pages import assert_page_headers, create, signed_in

ALICE = "alice@example.com"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_client: MakeClient, outbox: OutboxMailer, clock: Clock) -> MakeClient:
    def factory(**settings: Any) -> ContractClient:
        return make_client(send_email=outbox, clock=clock, base_url="https://app.example",
                           two_factor=True, **settings)  # fmt: skip

    return factory


def follow(client: ContractClient, r: Response) -> Response:
    assert r.status == 303, (r.status, text(r)[:2000])
    return client.get(r.header("Location") or "", headers=HTML)


def enrol_on_the_page(client: ContractClient, clock: Clock) -> tuple[pyotp.TOTP, list[str]]:
    page = client.get("/auth/account/two-factor/setup", headers=HTML)
    assert page.status == 200
    assert "<svg" not in text(page)  # never on a GET
    shown = submit(client, page, "/auth/account/two-factor/setup", {"action": "start"})
    assert shown.status == 200, text(shown)[:2000]
    assert_page_headers(shown)
    body = text(shown)
    assert "<svg" in body and 'autocomplete="one-time-code"' in body
    secret = re.search(r'<code class="ag-totp-key" dir="ltr">([A-Z2-7]+)</code>', body)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    done = submit(client, shown, "/auth/account/two-factor/setup", {"action": "enable"},
                  code=totp.at(clock()))  # fmt: skip
    assert done.status == 200, text(done)[:2000]
    codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", text(done))
    assert len(codes) == 10
    clock.advance(30)
    return totp, codes


def test_enrol_then_sign_in_with_a_code(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    create(client)
    sign_in(client, ALICE)
    totp, _ = enrol_on_the_page(client, clock)
    status = client.get("/auth/account/two-factor", headers=HTML)
    assert "10 unused recovery codes" in text(status)
    assert "/auth/account/two-factor" in text(client.get("/auth/account", headers=HTML))
    client.cookies.clear()
    r = sign_in(client, ALICE)
    assert r.status == 303 and "/auth/login/two-factor" in (r.header("Location") or "")
    assert not signed_in(client)  # the pending state is no session
    assert "token" not in (r.header("Location") or "")  # the challenge travels in a cookie
    step = client.get(r.header("Location") or "", headers=HTML)
    assert step.status == 200
    assert_page_headers(step)
    assert 'autocomplete="one-time-code"' in text(step)
    wrong = submit(client, step, "/auth/login/two-factor", {"action": "verify"}, code="000000"
                   if totp.at(clock()) != "000000" else "111111")  # fmt: skip
    assert wrong.status == 401 and not signed_in(client)
    r = submit(client, wrong, "/auth/login/two-factor", {"action": "verify"},
               code=totp.at(clock()), trust_device="on")  # fmt: skip
    assert r.status == 303 and signed_in(client)
    assert client.cookie("authgate_trusted_device")
    # the trusted browser skips the step next time
    client.get("/auth/logout", headers=HTML)
    client.cookies = {k: v for k, v in client.cookies.items() if "trusted" in k}
    r = sign_in(client, ALICE)
    assert r.status == 303 and r.header("Location") == "/" and signed_in(client)


def test_recovery_code_and_email_code_on_the_second_step(
    mk: MakeClient, clock: Clock, outbox: OutboxMailer
) -> None:
    client = mk()
    create(client)
    sign_in(client, ALICE)
    _, codes = enrol_on_the_page(client, clock)
    client.cookies.clear()
    step = follow(client, sign_in(client, ALICE))
    recovery = client.get("/auth/login/two-factor?method=recovery_code", headers=HTML)
    assert 'name="method" value="recovery_code"' in text(recovery)
    r = submit(client, recovery, "/auth/login/two-factor", {"action": "verify"}, code=codes[0])
    assert r.status == 303 and signed_in(client)
    client.cookies.clear()
    step = follow(client, sign_in(client, ALICE))
    sent = submit(client, step, "/auth/login/two-factor", {"action": "send_email"})
    page = follow(client, sent)
    code = re.search(r"\b(\d{6})\b", outbox.find("two_factor_code")[-1].text)
    assert code is not None
    r = submit(client, page, "/auth/login/two-factor", {"action": "verify"}, code=code.group(1))
    assert r.status == 303 and signed_in(client)


def test_regenerate_and_disable_need_a_fresh_session(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    create(client)
    sign_in(client, ALICE)
    enrol_on_the_page(client, clock)
    page = client.get("/auth/account/two-factor", headers=HTML)
    new = submit(client, page, "/auth/account/two-factor", {"action": "regenerate"})
    assert new.status == 200 and len(re.findall(r"<li><code>", text(new))) == 10
    clock.advance(16 * 60)
    page = client.get("/auth/account/two-factor", headers=HTML)
    r = submit(client, page, "/auth/account/two-factor", {"action": "disable"}, password=PASSWORD)
    assert r.status == 303 and "/auth/account/reauthenticate" in (r.header("Location") or "")
    reauth = client.get(r.header("Location") or "", headers=HTML)
    follow(client, submit(client, reauth, "/auth/account/reauthenticate", password=PASSWORD))
    page = client.get("/auth/account/two-factor", headers=HTML)
    r = submit(client, page, "/auth/account/two-factor", {"action": "disable"}, password=PASSWORD)
    assert r.status == 303
    assert "Two-step verification is off" in text(client.get("/auth/account/two-factor",
                                                             headers=HTML))  # fmt: skip


def test_enforcement_grace_sends_members_to_the_setup(mk: MakeClient, clock: Clock) -> None:
    client = mk(two_factor_required=True, two_factor_grace_period=600)
    create(client)
    r = sign_in(client, ALICE)
    assert r.status == 303 and signed_in(client)
    r = client.get("/auth/account", headers=HTML)
    assert r.status == 303 and r.header("Location") == "/auth/account/two-factor/setup"
    enrol_on_the_page(client, clock)
    assert client.get("/auth/account", headers=HTML).status == 200


def test_enforcement_after_grace_enrols_through_the_second_step(
    mk: MakeClient, clock: Clock
) -> None:
    client = mk(two_factor_required=True, two_factor_grace_period=0, two_factor_methods=["totp"])
    create(client)
    step = follow(client, sign_in(client, ALICE))
    assert not signed_in(client)
    shown = submit(client, step, "/auth/login/two-factor", {"action": "start_setup"})
    assert shown.status == 200 and "<svg" in text(shown)
    secret = re.search(r'<code class="ag-totp-key" dir="ltr">([A-Z2-7]+)</code>', text(shown))
    assert secret is not None
    done = submit(client, shown, "/auth/login/two-factor", {"action": "enable"},
                  code=pyotp.TOTP(secret.group(1)).at(clock()))  # fmt: skip
    assert done.status == 200 and len(re.findall(r"<li><code>", text(done))) == 10
    assert signed_in(client)


def test_second_step_without_a_challenge_goes_to_login(mk: MakeClient) -> None:
    client = mk()
    r = client.get("/auth/login/two-factor", headers=HTML)
    assert r.status == 303 and "/auth/login" in (r.header("Location") or "")


def test_logout_and_login_drop_a_pending_sign_in(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    create(client)
    sign_in(client, ALICE)
    enrol_on_the_page(client, clock)
    client.cookies.clear()
    follow(client, sign_in(client, ALICE))
    assert client.cookie("authgate_2fa")
    client.get("/auth/logout", headers=HTML)
    assert client.cookie("authgate_2fa") is None
    r = client.get("/auth/login/two-factor", headers=HTML)
    assert r.status == 303 and "/auth/login" in (r.header("Location") or "")
    follow(client, sign_in(client, ALICE))
    client.get("/auth/login", headers=HTML)
    assert client.cookie("authgate_2fa") is None
