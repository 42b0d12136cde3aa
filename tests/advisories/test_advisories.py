"""SECURITY.md §3: one named regression test per published advisory that applies.

Each test replays the advisory's attack against authgate and asserts that it
fails, on every framework (``client``/``make_client``: Flask, FastAPI,
Django, Bottle and the neutral web layer) or every store (``sql_store``).

| advisory | test |
|---|---|
| Flask-Security GHSA-hh7m-rx4f-4vpv / CVE-2021-21241 | test_ghsa_hh7m_cve_2021_21241_no_get_returns_a_token |
| Flask-Security GHSA-6qmf-fj6m-686c / CVE-2021-32618 (+ CVE-2021-23385) | test_ghsa_6qmf_backslash_next |
| Flask-Security GHSA-672h-6x89-76m5 / CVE-2023-49438 | test_ghsa_672h_next_on_sign_in_and_sign_up |
| Flask-Security GHSA-w2j7-f3c6-g8cw | test_ghsa_w2j7_backslash_in_netloc |
| Flask-Security #134 | test_fs_issue_134_confirm_token_not_reusable |
| Flask-Security #338, Flask-User #165 | test_fs_issue_338_flask_user_165_password_change_ends_sessions |
| Flask-Security 5.3.0 (no auto-login after reset) | test_fs_5_3_no_auto_login_after_reset |
| Flask-Security 5.9.0 (logout POST-only, expiring sessions) | test_fs_5_9_logout_is_post_only_and_sessions_expire |
| Flask-Security 5.9.0 #1258 | test_fs_1258_non_string_json_field_is_400 |
| Flask-User GHSA-4298-89hc-6rfv / CVE-2021-23401 | test_ghsa_4298_cve_2021_23401_many_slashes_next |
| Flask-User #159 | test_flask_user_159_reset_token_not_stored |
| Flask-Login #426 | test_flask_login_426_session_cookie_httponly |
| Flask-Login #700, allauth 65.14.2 | test_flask_login_700_allauth_65_14_2_forwarded_for_not_trusted |
| flask-security-fork #41 | test_fs_fork_41_logout_is_server_side |
| fastapi-users 10.3.0 | test_fastapi_users_10_3_reset_token_single_use |
| allauth CVE-2025-65430, FAB 4.4.0 #2192 | test_allauth_cve_2025_65430_fab_2192_disabled_user_tokens_rejected |
| allauth 65.12.1 | test_allauth_65_12_1_new_email_only_after_confirmation |
| allauth 65.11.1 | test_allauth_65_11_1_passwordless_account_rejects_empty_password |
| allauth 65.8.1 | test_allauth_65_8_1_success_does_not_clear_ip_failures |
| allauth 65.3.0 / 0.54.0, FAB CVE-2021-29621 / CVE-2022-21659 | test_allauth_65_3_0_fab_cve_2022_21659_one_hash_per_sign_in |
| allauth 0.63.4 | test_allauth_0_63_4_tokens_not_in_logs |
| allauth 0.55.0 | test_allauth_0_55_0_adding_an_email_does_not_enumerate |
| allauth 0.51.0 / 0.44.0 | test_allauth_0_51_0_case_variants_share_one_throttle |
| allauth 0.41.0 / Django CVE-2019-19844 | test_allauth_cve_2019_19844_unicode_collision |
| allauth 0.36.0 | test_allauth_0_36_0_inactive_user_cannot_sign_in |
| allauth 0.35.0 | test_allauth_0_35_0_reset_token_dies_on_email_change |
| allauth 0.34.0 | test_allauth_0_34_0_change_password_needs_the_current_one |
| FAB CVE-2022-31177 | test_fab_cve_2022_31177_hash_never_exposed_or_accepted |
| FAB CVE-2023-34110 | test_fab_cve_2023_34110_database_error_discloses_nothing |
| FAB CVE-2024-45314 | test_fab_cve_2024_45314_auth_responses_not_cached |
| better-auth CVE-2025-27143 / CVE-2024-56734 | test_better_auth_cve_2025_27143_scheme_relative_next |
| better-auth CVE-2025-61928 | test_better_auth_cve_2025_61928_user_id_in_body_ignored |
| better-auth CVE-2026-110862 | test_better_auth_cve_2026_110862_token_type_confusion |
| fastapi-users 10.1.3 (#1043) | test_fastapi_users_1043_unrelated_redis_key_is_not_a_token |
| Flask-Security GHSA-97r5-pg8x-p63p | test_ghsa_97r5_reauthentication_with_another_users_credential |

Not applicable yet (no such feature): OAuth/social (FS GHSA-f66q's WebAuthn
twin, fastapi-users GHSA-5j53), SAML, OpenID, WebAuthn, TOTP, email codes,
device codes, partial 2FA state.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from authgate.testing import OutboxMailer, links

from ..faults.checks import assert_no_leak
from ..faults.database import fail_at
from ..web.clients import ContractClient, Response
from ..web.conftest import MakeClient
from ..web.test_http_contract import PASSWORD, assert_error, bearer, sign_up

NEW_PASSWORD = "new staple battery horse"
HTML = {"Accept": "text/html"}


def _token(outbox: OutboxMailer, kind: str, to: str | None = None) -> str:
    return unquote(parse_qs(urlsplit(links(outbox.last(kind, to=to))[0]).query)["token"][0])


def _next_after_sign_in(client: ContractClient, target: str, path: str = "/auth/sign-in/email") -> str:
    body = {"email": "alice@example.com", "password": PASSWORD}
    r = client.post(f"{path}?next={quote(target, safe='')}", json=body, headers=HTML, cookies=False)
    assert r.status in (302, 303), (r.status, r.body)
    return r.header("Location") or ""


def _stays_home(location: str) -> None:
    parts = urlsplit(location)
    assert not parts.netloc and not location.startswith(("//", "/\\", "\\")), location
    assert "evil" not in location and "github" not in location and "amazon" not in location


# -- open redirects ---------------------------------------------------------------
@pytest.mark.parametrize("target", ["\\\\\\github.com", "\\\\github.com", "/\\github.com"])
def test_ghsa_6qmf_backslash_next(client: ContractClient, target: str) -> None:
    sign_up(client)
    _stays_home(_next_after_sign_in(client, target))


@pytest.mark.parametrize("target", ["/////evil.com/path", "\\\\\\evil.com/path", "///evil.com"])
def test_ghsa_4298_cve_2021_23401_many_slashes_next(client: ContractClient, target: str) -> None:
    sign_up(client)
    _stays_home(_next_after_sign_in(client, target))


def test_ghsa_672h_next_on_sign_in_and_sign_up(client: ContractClient) -> None:
    body = {"email": "alice@example.com", "password": PASSWORD}
    r = client.post("/auth/sign-up/email?next=%2F%2Fevil.com", json=body, headers=HTML, cookies=False)
    _stays_home(r.header("Location") or "")
    _stays_home(_next_after_sign_in(client, "//evil.com"))


def test_ghsa_w2j7_backslash_in_netloc(client: ContractClient) -> None:
    sign_up(client)
    for target in ("https://amazon.com\\.lp.com", "https://app.example@evil.com", "https://evil.com%5C.app"):
        _stays_home(_next_after_sign_in(client, target))


@pytest.mark.parametrize("target", ["//evil.com", "/\\evil.com", "https:evil.com", " //evil.com"])
def test_better_auth_cve_2025_27143_scheme_relative_next(client: ContractClient, target: str) -> None:
    sign_up(client)
    _stays_home(_next_after_sign_in(client, target))


# -- tokens and GETs ------------------------------------------------------------------
def test_ghsa_hh7m_cve_2021_21241_no_get_returns_a_token(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    for path in ("/auth/session", "/auth/sessions", "/auth/sign-in/email", "/auth/sign-up/email"):
        r = client.get(path)  # with the session cookie, as a cross-site GET would send it
        assert token not in r.body.decode()
        assert not any("authgate_session=" in c and token in c for c in r.set_cookies)
    assert_error(client.get(f"/auth/session?token={token}", cookies=False), 401, "UNAUTHORIZED")


def test_fs_issue_134_confirm_token_not_reusable(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox, confirmable=True)
    sign_up(client)
    token = _token(outbox, "confirm_email")
    first = client.post("/auth/verify-email", json={"token": token}, cookies=False)
    assert first.status == 200 and first.json()["token"]
    second = client.post("/auth/verify-email", json={"token": token}, cookies=False)
    assert_error(second, 401, "INVALID_TOKEN")
    assert not second.set_cookies  # no second sign-in


def test_fastapi_users_10_3_reset_token_single_use(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox)
    sign_up(client)
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    token = _token(outbox, "reset_password")
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/auth/reset-password", json=body).status == 200
    assert_error(client.post("/auth/reset-password", json={**body, "new_password": "third staple battery"}),
                 401, "INVALID_TOKEN")  # fmt: skip


def test_better_auth_cve_2026_110862_token_type_confusion(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox, confirmable=True, passwordless=True,
                         login_without_confirmation=True)  # fmt: skip
    session = sign_up(client).json()["token"]
    confirm = _token(outbox, "confirm_email")
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    reset = _token(outbox, "reset_password")
    csrf = client.cookie("authgate_csrf") or "x" * 43
    for token in (confirm, reset, session, csrf):
        assert_error(client.post("/auth/magic-link/verify", json={"token": token}, cookies=False), 401, "INVALID_TOKEN")
    for token in (reset, session):
        assert_error(client.post("/auth/verify-email", json={"token": token}, cookies=False), 401, "INVALID_TOKEN")
    for token in (confirm, session):
        r = client.post("/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD}, cookies=False)
        assert_error(r, 401, "INVALID_TOKEN")


# -- sessions end when they must ---------------------------------------------------------
def test_fs_issue_338_flask_user_165_password_change_ends_sessions(client: ContractClient) -> None:
    first = sign_up(client).json()["token"]
    other = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                        cookies=False).json()["token"]  # fmt: skip
    r = client.post("/auth/change-password", headers=bearer(first), cookies=False,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})  # fmt: skip
    assert r.status == 200
    assert client.get("/auth/session", headers=bearer(other), cookies=False).status == 401


def test_fs_fork_41_logout_is_server_side(client: ContractClient) -> None:
    sign_up(client)
    cookies = dict(client.cookies)
    csrf = client.cookie("authgate_csrf") or ""
    assert client.post("/auth/sign-out", headers={"X-CSRF-Token": csrf}).status == 200
    client.cookies = cookies  # replay the old cookie
    assert client.get("/auth/session").status == 401


def test_allauth_cve_2025_65430_fab_2192_disabled_user_tokens_rejected(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    client.auth.users.deactivate_user("alice@example.com")  # type: ignore[attr-defined]
    r = client.get("/auth/session", headers=bearer(token), cookies=False)
    assert r.status in (401, 403) and r.json()["error"]["code"] in {"ACCOUNT_DISABLED", "INVALID_TOKEN"}


def test_allauth_0_36_0_inactive_user_cannot_sign_in(client: ContractClient) -> None:
    sign_up(client)
    client.auth.users.deactivate_user("alice@example.com")  # type: ignore[attr-defined]
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert_error(r, 403, "ACCOUNT_DISABLED")
    assert not any("authgate_session=" in c and "Max-Age=0" not in c for c in r.set_cookies)


def test_fs_5_3_no_auto_login_after_reset(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox)
    sign_up(client)
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    r = client.post("/auth/reset-password", json={"token": _token(outbox, "reset_password"),
                                                  "new_password": NEW_PASSWORD}, cookies=False)  # fmt: skip
    assert r.status == 200 and r.json() == {"success": True}
    assert not any("authgate_session=" in c for c in r.set_cookies)


def test_fs_5_9_logout_is_post_only_and_sessions_expire(client: ContractClient) -> None:
    sign_up(client)
    r = client.get("/auth/sign-out")
    assert r.status == 405 and client.get("/auth/session").status == 200  # still signed in
    settings = client.auth.settings  # type: ignore[attr-defined]
    assert settings.session_lifetime <= 30 * 86400 and settings.session_idle_timeout is not None


def test_flask_login_426_session_cookie_httponly(client: ContractClient) -> None:
    r = sign_up(client)
    cookie = next(c for c in r.set_cookies if "authgate_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_fab_cve_2024_45314_auth_responses_not_cached(client: ContractClient) -> None:
    assert sign_up(client).header("Cache-Control") == "no-store"
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.header("Cache-Control") == "no-store"


# -- input, secrets, errors ---------------------------------------------------------------
@pytest.mark.parametrize("value", [{"a": 1}, ["x"], 12, True])
def test_fs_1258_non_string_json_field_is_400(client: ContractClient, value: Any) -> None:
    for path, body in (("/auth/sign-in/email", {"email": value, "password": PASSWORD}),
                       ("/auth/sign-up/email", {"email": "a@example.com", "password": value}),
                       ("/auth/forgot-password", {"email": value})):  # fmt: skip
        assert_error(client.post(path, json=body, cookies=False), 400, "VALIDATION_ERROR")


def test_better_auth_cve_2025_61928_user_id_in_body_ignored(client: ContractClient) -> None:
    bob = sign_up(client, "bob@example.com").json()
    alice = sign_up(client, "alice@example.com").json()["token"]
    r = client.post("/auth/change-password", headers=bearer(alice), cookies=False,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                          "userId": bob["user"]["id"]})  # fmt: skip
    assert_error(r, 400, "VALIDATION_ERROR")
    ok = client.post("/auth/sign-in/email", json={"email": "bob@example.com", "password": PASSWORD})
    assert ok.status == 200  # bob's password is untouched
    anonymous = client.post("/auth/change-password", cookies=False,
                            json={"userId": bob["user"]["id"], "current_password": PASSWORD,
                                  "new_password": NEW_PASSWORD})  # fmt: skip
    assert anonymous.status == 401


def test_fab_cve_2022_31177_hash_never_exposed_or_accepted(client: ContractClient) -> None:
    r = sign_up(client)
    stored = client.auth.users.get_user("alice@example.com").password_hash  # type: ignore[attr-defined]
    for response in (r, client.get("/auth/session"), client.get("/auth/sessions")):
        assert "password_hash" not in response.body.decode() and stored not in response.body.decode()
    r = client.post("/auth/sign-up/email", json={"email": "b@example.com", "password": PASSWORD,
                                                 "password_hash": stored[:20]})  # fmt: skip
    assert_error(r, 400, "VALIDATION_ERROR")


def test_fab_cve_2023_34110_database_error_discloses_nothing(make_client: MakeClient, tmp_path: Any) -> None:
    client = make_client(database_url=f"sqlite:///{tmp_path / 'a.db'}", session_cache_ttl=0)
    sign_up(client)
    stored = client.auth.users.get_user("alice@example.com").password_hash  # type: ignore[attr-defined]
    try:
        with fail_at(client.auth.store.engine, commit=True):  # type: ignore[attr-defined]
            r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
        assert r.status == 503
        assert_no_leak(r.body.decode(), stored, "alice")
    finally:
        client.auth.store.close()  # type: ignore[attr-defined]


def test_flask_user_159_reset_token_not_stored(sql_store: Any) -> None:
    from authgate import Auth

    from ..core.conftest import FAST_HASHING, SECRET

    outbox = OutboxMailer()
    auth = Auth(SECRET, store=sql_store, send_email=outbox, passwordless=True, **FAST_HASHING)
    session = auth.sign_up("alice@example.com", PASSWORD).token
    auth.forgot_password("alice@example.com")
    auth.send_login_link("alice@example.com")
    secrets = [_token(outbox, "reset_password"), _token(outbox, "login_link"), session]
    import sqlalchemy as sa

    from authgate.models import Base

    with sql_store.engine.connect() as connection:
        dump = repr([list(connection.execute(sa.select(t))) for t in Base.metadata.sorted_tables])
    for secret in secrets:
        assert secret not in dump


def test_allauth_0_63_4_tokens_not_in_logs(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox)
    caplog.set_level(logging.DEBUG)
    session = sign_up(client).json()["token"]
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    reset = _token(outbox, "reset_password")
    client.post("/auth/reset-password", json={"token": reset, "new_password": NEW_PASSWORD})
    client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "S3cret-Canary"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (session, reset, PASSWORD, NEW_PASSWORD, "S3cret-Canary"):
        assert secret not in text


# -- throttling and enumeration -----------------------------------------------------------
def _code(r: Response) -> str:
    return "OK" if r.status == 200 else str(r.json()["error"]["code"])


def test_allauth_0_51_0_case_variants_share_one_throttle(make_client: MakeClient) -> None:
    client = make_client(sign_in_max_failures=3)
    sign_up(client, "victim@example.com")
    variants = ["Victim@Example.com", " victim@example.com ", "VICTIM@EXAMPLE.COM", "ｖｉｃｔｉｍ@example.com"]
    codes = [_code(client.post("/auth/sign-in/email", json={"email": v, "password": "wrong password!"}))
             for v in variants]  # fmt: skip
    assert codes == ["INVALID_CREDENTIALS"] * 3 + ["RATE_LIMITED"]


def test_flask_login_700_allauth_65_14_2_forwarded_for_not_trusted(make_client: MakeClient) -> None:
    client = make_client(sign_in_ip_max_failures=3)
    codes = [
        _code(client.post("/auth/sign-in/email", headers={"X-Forwarded-For": f"198.51.100.{n}",
                                                          "X-Real-IP": f"203.0.113.{n}"},
                          json={"email": f"user{n}@example.com", "password": "wrong password!"}))
        for n in range(4)
    ]  # fmt: skip
    assert codes == ["INVALID_CREDENTIALS"] * 3 + ["RATE_LIMITED"]


def test_allauth_65_8_1_success_does_not_clear_ip_failures(make_client: MakeClient) -> None:
    client = make_client(sign_in_ip_max_failures=3)
    sign_up(client, "me@example.com")
    wrong = [{"email": f"user{n}@example.com", "password": "wrong password!"} for n in range(3)]
    assert _code(client.post("/auth/sign-in/email", json=wrong[0])) == "INVALID_CREDENTIALS"
    assert _code(client.post("/auth/sign-in/email", json=wrong[1])) == "INVALID_CREDENTIALS"
    assert _code(client.post("/auth/sign-in/email", json={"email": "me@example.com", "password": PASSWORD})) == "OK"
    assert _code(client.post("/auth/sign-in/email", json=wrong[2])) == "INVALID_CREDENTIALS"
    assert _code(client.post("/auth/sign-in/email", json=wrong[0])) == "RATE_LIMITED"


def test_allauth_65_3_0_fab_cve_2022_21659_one_hash_per_sign_in(client: ContractClient) -> None:
    sign_up(client)
    hasher = client.auth.ctx.hasher  # type: ignore[attr-defined]
    calls: list[str] = []
    for name in ("hash", "verify", "dummy_verify"):
        real = getattr(hasher, name)
        setattr(hasher, name, lambda *a, _real=real, _name=name, **k: (calls.append(_name), _real(*a, **k))[1])
    bodies = []
    for email in ("nobody@example.com", "alice@example.com"):
        calls.clear()
        r = client.post("/auth/sign-in/email", json={"email": email, "password": "wrong password!"})
        assert len(calls) == 1, calls
        bodies.append((r.status, r.body))
    assert bodies[0] == bodies[1]


def test_allauth_0_55_0_adding_an_email_does_not_enumerate(make_client: MakeClient) -> None:
    client = make_client(multiple_emails=True, send_email=OutboxMailer())
    sign_up(client, "taken@example.com")
    token = sign_up(client, "alice@example.com").json()["token"]
    answers = {
        (r.status, r.body)
        for r in (client.post("/auth/emails/add", headers=bearer(token), cookies=False,
                              json={"email": email, "password": PASSWORD})
                  for email in ("taken@example.com", "free@example.com"))
    }  # fmt: skip
    assert len(answers) == 1


def test_allauth_cve_2019_19844_unicode_collision(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox, notify_registered=False)
    sign_up(client, "mike@example.org")
    for lookalike in ("mıke@example.org", "mike@ıxample.org"):
        assert client.post("/auth/forgot-password", json={"email": lookalike}).status in (200, 400)
    assert outbox.find("reset_password") == []
    client.post("/auth/forgot-password", json={"email": "MIKE@example.org"})
    assert [m.to for m in outbox.find("reset_password")] == ["mike@example.org"]


# -- account changes ------------------------------------------------------------------------
def test_allauth_0_35_0_reset_token_dies_on_email_change(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox)
    token = sign_up(client).json()["token"]
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    reset = _token(outbox, "reset_password")
    client.post("/auth/change-email", headers=bearer(token), cookies=False,
                json={"new_email": "alice@new.example", "password": PASSWORD})  # fmt: skip
    assert client.post("/auth/verify-email", json={"token": _token(outbox, "email_change_confirm")}).status == 200
    r = client.post("/auth/reset-password", json={"token": reset, "new_password": NEW_PASSWORD})
    assert_error(r, 401, "INVALID_TOKEN")


def test_allauth_65_12_1_new_email_only_after_confirmation(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox)
    token = sign_up(client).json()["token"]
    client.post("/auth/change-email", headers=bearer(token), cookies=False,
                json={"new_email": "alice@new.example", "password": PASSWORD})  # fmt: skip
    users = client.auth.users  # type: ignore[attr-defined]
    assert users.get_user("alice@new.example") is None and users.get_user("alice@example.com")
    assert client.post("/auth/verify-email", json={"token": _token(outbox, "email_change_confirm")}).status == 200
    assert users.get_user("alice@new.example") is not None
    assert [m.to for m in outbox.find("email_changed")] == ["alice@example.com"]  # the OLD address


def test_allauth_65_11_1_passwordless_account_rejects_empty_password(make_client: MakeClient) -> None:
    outbox = OutboxMailer()
    client = make_client(send_email=outbox, passwordless=True, confirmable=True,
                         login_without_confirmation=True)  # fmt: skip
    sign_up(client)
    client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    assert client.post("/auth/magic-link/verify", json={"token": _token(outbox, "login_link")}).status == 200
    for password in ("", " ", PASSWORD):  # the link removed the password of the unconfirmed account
        r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": password})
        assert r.status in (400, 401) and r.json()["error"]["code"] in {"VALIDATION_ERROR", "INVALID_CREDENTIALS"}


def test_allauth_0_34_0_change_password_needs_the_current_one(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"current_password": "not my password", "new_password": NEW_PASSWORD})  # fmt: skip
    assert_error(r, 401, "INVALID_CREDENTIALS")
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"new_password": NEW_PASSWORD})  # fmt: skip
    assert_error(r, 400, "VALIDATION_ERROR")


# -- added with the Redis sessions and the freshness checks ------------------------------


def test_fastapi_users_1043_unrelated_redis_key_is_not_a_token(
    make_client: MakeClient, tmp_path: Any
) -> None:
    """fastapi-users 10.1.3 (#1043): the raw token was the Redis key, so any key was a token."""
    from ..conftest import REDIS_URL, redis_client, redis_prefix
    from ..web.test_http_redis import close

    raw = redis_client()
    with redis_prefix() as prefix:
        client = make_client(redis_url=REDIS_URL, redis_prefix=prefix,
                             database_url=f"sqlite:///{tmp_path / 'a.db'}")  # fmt: skip
        try:
            token = sign_up(client).json()["token"]
            victim = client.get("/auth/session", headers=bearer(token)).json()["user"]["id"]
            raw.set(f"{prefix}:x", victim)
            raw.set("x", victim)
            for probe in ("x", f"{prefix}:x", victim):
                r = client.get("/auth/session", headers=bearer(probe), cookies=False)
                assert_error(r, 401, "INVALID_TOKEN")
        finally:
            raw.delete(f"{prefix}:x", "x")
            raw.close()
            close(client)


def test_ghsa_97r5_reauthentication_with_another_users_credential(make_client: MakeClient) -> None:
    """Flask-Security GHSA-97r5-pg8x-p63p: /verify accepted another user's credential."""
    from ..core.conftest import Clock

    clock = Clock()
    client = make_client(clock=clock)
    victim = sign_up(client).json()["token"]
    mallory = {"email": "mallory@example.com", "password": "mallory's own password"}
    assert client.post("/auth/sign-up/email", json=mallory, cookies=False).status == 200
    clock.advance(16 * 60)  # the victim's session is no longer fresh
    stale = client.post("/auth/change-email", json={"new_email": "m@evil.example",
                        "password": PASSWORD}, headers=bearer(victim), cookies=False)  # fmt: skip
    assert_error(stale, 401, "REAUTH_REQUIRED")
    r = client.post("/auth/reauthenticate", json={"password": "mallory's own password"},
                    headers=bearer(victim), cookies=False)  # fmt: skip
    assert_error(r, 401, "INVALID_CREDENTIALS")
    r = client.post("/auth/reauthenticate", json={"email": "mallory@example.com",
                    "password": "mallory's own password"}, headers=bearer(victim), cookies=False)  # fmt: skip
    assert r.status == 400 and r.json()["error"]["fields"] == {"email": "unknown_field"}
    still = client.post("/auth/change-email", json={"new_email": "m@evil.example",
                        "password": PASSWORD}, headers=bearer(victim), cookies=False)  # fmt: skip
    assert_error(still, 401, "REAUTH_REQUIRED")  # still not fresh
