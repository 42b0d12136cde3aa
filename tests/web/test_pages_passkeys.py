"""The passkey pages on every framework: the login page's passkey button and conditional UI,
the passkeys page (list, rename, remove; adding is its script), the script itself and the
Content-Security-Policy that lets it run and nothing else."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.passkeys.authenticator import Authenticator

from .clients import ContractClient
from .conftest import MakeClient
from .pages import FORM, HTML, PASSWORD, sign_in, submit, text

BASE = "https://app.example"


@pytest.fixture
def client(make_client: MakeClient) -> ContractClient:
    return make_client(passkeys=True, base_url=BASE, send_email=lambda m: None)


def add_passkey(client: ContractClient, name: str = "Laptop") -> dict[str, Any]:
    csrf = {"X-CSRF-Token": client.cookie("authgate_csrf") or ""}
    options = client.post("/auth/passkey/register/options", headers=csrf).json()
    answer = Authenticator(BASE).create(options)
    r = client.post("/auth/passkey/register", json={"credential": answer, "name": name},
                    headers=csrf)  # fmt: skip
    assert r.status == 200, r.body
    passkey: dict[str, Any] = r.json()["passkey"]
    return passkey


def create(client: ContractClient, email: str = "alice@example.com") -> Any:
    return client.auth.users.create_user(email=email, password=PASSWORD)  # type: ignore[attr-defined]


def test_the_login_page_offers_passkeys_with_its_script_only(client: ContractClient) -> None:
    r = client.get("/auth/login?next=/dashboard", headers=HTML)
    assert r.status == 200
    page = text(r)
    assert 'autocomplete="username webauthn"' in page
    assert "data-passkey-sign-in" in page and 'data-next="/dashboard"' in page
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) == 1 and re.fullmatch(
        r'<script src="/auth/static/passkeys\.js\?v=[0-9a-f]{12}" defer>', scripts[0]
    )
    assert "</script>" in page and re.search(r"<script[^>]*>\s*</script>", page)  # no inline code
    csp = r.header("Content-Security-Policy") or ""
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp
    # An unsafe next never reaches the script.
    evil = text(client.get("/auth/login?next=https://evil.example/", headers=HTML))
    assert 'data-next="/"' in evil


def test_the_script_is_served_like_the_stylesheet(client: ContractClient) -> None:
    r = client.get("/auth/static/passkeys.js")
    assert r.status == 200 and (r.header("Content-Type") or "").startswith("text/javascript")
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert "navigator.credentials" in text(r) and "/passkey/sign-in/options" in text(r)
    assert "max-age=31536000" in (r.header("Cache-Control") or "")


def test_without_passkeys_the_pages_stay_script_free(make_client: MakeClient) -> None:
    client = make_client(send_email=lambda m: None)
    page = client.get("/auth/login", headers=HTML)
    assert "<script" not in text(page) and "webauthn" not in text(page)
    assert "script-src" not in (page.header("Content-Security-Policy") or "")
    assert client.get("/auth/account/passkeys", headers=HTML).status in (303, 404)


def test_the_passkeys_page_lists_renames_and_removes(client: ContractClient) -> None:
    create(client)
    sign_in(client, "alice@example.com")
    profile = text(client.get("/auth/account", headers=HTML))
    assert 'href="/auth/account/passkeys"' in profile  # reachable from the profile
    page = client.get("/auth/account/passkeys", headers=HTML)
    assert page.status == 200 and "data-passkey-add" in text(page)
    assert 'id="ag-passkey-register"' in text(page)
    passkey = add_passkey(client)
    page = client.get("/auth/account/passkeys", headers=HTML)
    assert "Laptop" in text(page)
    r = submit(client, page, "/auth/account/passkeys", {"action": "rename"}, name="Work phone")
    assert r.status == 303
    page = client.get("/auth/account/passkeys", headers=HTML)
    assert "Work phone" in text(page) and "The passkey has been renamed." in text(page)
    r = submit(client, page, "/auth/account/passkeys", {"action": "delete", "id": passkey["id"]})
    assert r.status == 303
    page = client.get("/auth/account/passkeys", headers=HTML)
    assert "Work phone" not in text(page) and "You have no passkeys yet." in text(page)


def test_the_page_refuses_another_users_passkey_and_a_stale_session(
    make_client: MakeClient,
) -> None:
    client = make_client(passkeys=True, base_url=BASE, send_email=lambda m: None, freshness=1)
    create(client)
    sign_in(client, "alice@example.com")
    mine = add_passkey(client)
    client.cookies.clear()
    create(client, "bob@example.com")
    sign_in(client, "bob@example.com")
    page = client.get("/auth/account/passkeys", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(page))
    assert token is not None

    def post(**fields: str) -> Any:
        body = urlencode({"csrf_token": token.group(1), **fields}).encode()
        return client.post("/auth/account/passkeys", body=body, headers=FORM)

    r = post(action="rename", id=mine["id"], name="stolen")
    assert r.status == 404 and "No such passkey." in text(r)
    time.sleep(1.1)
    r = post(action="delete", id=mine["id"])
    assert r.status == 303 and "/auth/account/reauthenticate" in (r.header("Location") or "")


def test_the_page_form_needs_its_csrf_token(client: ContractClient) -> None:
    create(client)
    sign_in(client, "alice@example.com")
    add_passkey(client)
    page = client.get("/auth/account/passkeys", headers=HTML)
    r = submit(client, page, "/auth/account/passkeys", {"action": "delete"}, csrf_token="forged")
    assert r.status == 403
    assert len(client.get("/auth/passkeys").json()["passkeys"]) == 1


def test_the_second_step_page_takes_a_passkey(make_client: MakeClient) -> None:
    client = make_client(passkeys=True, two_factor=True, base_url=BASE, send_email=lambda m: None)
    authenticator = Authenticator(BASE)
    create(client)
    sign_in(client, "alice@example.com")
    csrf = {"X-CSRF-Token": client.cookie("authgate_csrf") or ""}
    options = client.post("/auth/passkey/register/options", headers=csrf).json()
    client.post("/auth/passkey/register", json={"credential": authenticator.create(options)},
                headers=csrf)  # fmt: skip
    client.cookies.clear()
    r = sign_in(client, "alice@example.com")
    assert r.status == 303 and (r.header("Location") or "").startswith("/auth/login/two-factor")
    page = client.get("/auth/login/two-factor?method=passkey", headers=HTML)
    assert page.status == 200 and 'id="ag-passkey-verify"' in text(page)
    assert client.get("/auth/session").status == 401  # the pending sign-in grants nothing
    request = client.post("/auth/passkey/sign-in/options", json={}).json()
    answer = json.dumps(authenticator.get(request))
    r = submit(client, page, "/auth/login/two-factor", {"method": "passkey"},
               credential=answer, state=request["state"])  # fmt: skip
    assert r.status == 303, r.body
    assert client.get("/auth/session").json()["user"]["email"] == "alice@example.com"


def test_the_reauthenticate_page_takes_a_passkey(make_client: MakeClient) -> None:
    client = make_client(passkeys=True, base_url=BASE, send_email=lambda m: None, freshness=1)
    authenticator = Authenticator(BASE)
    create(client)
    sign_in(client, "alice@example.com")
    csrf = {"X-CSRF-Token": client.cookie("authgate_csrf") or ""}
    options = client.post("/auth/passkey/register/options", headers=csrf).json()
    client.post("/auth/passkey/register", json={"credential": authenticator.create(options)},
                headers=csrf)  # fmt: skip
    time.sleep(1.1)
    page = client.get("/auth/account/reauthenticate?next=/auth/account/passkeys", headers=HTML)
    assert page.status == 200 and "data-passkey-form" in text(page)
    request = client.post("/auth/passkey/sign-in/options", json={}).json()
    r = submit(client, page, "/auth/account/reauthenticate", {"credential": ""},
               credential=json.dumps(authenticator.get(request)), state=request["state"])
    assert r.status == 303 and r.header("Location") == "/auth/account/passkeys"
    csrf = {"X-CSRF-Token": client.cookie("authgate_csrf") or ""}
    assert client.post("/auth/passkey/register/options", headers=csrf).status == 200
