"""SPEC §5 email endpoints, the same assertions for every framework."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from authgate.testing import OutboxMailer, links

from .clients import ContractClient, Response
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer, sign_up

NEW_PASSWORD = "new staple battery horse"
BASE = "https://app.example"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_client: MakeClient, outbox: OutboxMailer) -> MakeClient:
    def factory(**settings: Any) -> ContractClient:
        return make_client(send_email=outbox, base_url=BASE, **settings)

    return factory


def link_of(outbox: OutboxMailer, kind: str) -> str:
    return links(outbox.last(kind))[0]


def token_of(outbox: OutboxMailer, kind: str) -> str:
    return parse_qs(urlsplit(link_of(outbox, kind)).query)["token"][0]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_confirmation_by_json(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(confirmable=True)
    r = sign_up(client)
    assert r.json()["token"] is None
    link = link_of(outbox, "confirm_email")
    assert link.startswith(f"{BASE}/auth/verify-email?token=")
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert_error(r, 403, "EMAIL_NOT_CONFIRMED")
    token = token_of(outbox, "confirm_email")
    r = client.post("/auth/verify-email", json={"token": token})
    assert r.status == 200
    body = r.json()
    assert body["user"]["email_confirmed"] is True and body["token"]
    assert client.get("/auth/session", headers=bearer(body["token"]), cookies=False).status == 200
    assert_error(client.post("/auth/verify-email", json={"token": token}), 401, "INVALID_TOKEN")


def test_confirmation_link_get(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(confirmable=True)
    sign_up(client)
    path = path_of(link_of(outbox, "confirm_email"))
    # A browser (or a mail scanner) only gets a page; nothing is used.
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status == 200 and "text/html" in (page.header("Content-Type") or "")
    assert page.header("Referrer-Policy") == "no-referrer" and page.header("Cache-Control") == "no-store"
    assert b'method="post"' in page.body
    page_again = client.get(path, headers={"Accept": "text/html"})
    assert page_again.status == 200
    # An API client's GET uses it (SPEC: GET/POST /verify-email).
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True
    assert_error(client.get(path, headers={"Accept": "application/json"}), 401, "INVALID_TOKEN")


def test_link_page_form_post_needs_the_page_nonce(mk: MakeClient, outbox: OutboxMailer) -> None:
    """The API's own plain confirm page (no pages: FastAPI's default); the templated
    pages have their own tests in ``tests/pages``."""
    client = mk(confirmable=True, pages=False)
    sign_up(client)
    path = path_of(link_of(outbox, "confirm_email"))
    token = token_of(outbox, "confirm_email")
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
    forged = client.post("/auth/verify-email", body=f"token={token}&nonce=guess".encode(),
                         headers=form, cookies=False)  # fmt: skip
    assert_error(forged, 403, "CSRF_FAILED")
    page = client.get(path, headers={"Accept": "text/html"})
    nonce = page.body.decode().split('name="nonce" value="')[1].split('"')[0]
    r = client.post("/auth/verify-email", body=f"token={quote(token)}&nonce={nonce}".encode(), headers=form)
    assert r.status in {302, 303} and r.header("Location") == "/"
    assert client.get("/auth/session").status == 200  # signed in by cookie


def test_resend_confirmation(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(confirmable=True)
    sign_up(client)
    outbox.clear()
    for email in ["alice@example.com", "nobody@example.com"]:
        r = client.post("/auth/send-verification-email", json={"email": email})
        assert r.status == 200 and r.json() == {"success": True}
    assert [m.to for m in outbox.messages] == ["alice@example.com"]
    r = mk().post("/auth/send-verification-email", json={"email": "a@example.com"})
    assert_error(r, 404, "FEATURE_DISABLED")


def test_forgot_and_reset_password(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    known = client.post("/auth/forgot-password", json={"email": "ALICE@example.com"})
    unknown = client.post("/auth/forgot-password", json={"email": "nobody@example.com"})
    assert (known.status, known.body) == (unknown.status, unknown.body) == (200, b'{"success":true}')
    assert [m.to for m in outbox.find("reset_password")] == ["alice@example.com"]
    reset = token_of(outbox, "reset_password")
    r = client.post("/auth/reset-password", json={"token": reset, "new_password": "short"})
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"new_password": "too_short"}
    r = client.post("/auth/reset-password", json={"token": reset, "new_password": NEW_PASSWORD})
    assert r.status == 200 and r.json() == {"success": True}
    assert_error(client.get("/auth/session", headers=bearer(token), cookies=False), 401, "INVALID_TOKEN")
    r = client.post("/auth/reset-password", json={"token": reset, "new_password": "another password!"})
    assert_error(r, 401, "INVALID_TOKEN")
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": NEW_PASSWORD})
    assert r.status == 200


def test_reset_password_page(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(pages=False)  # the API's plain page; tests/pages tests the templated one
    sign_up(client)
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    link = link_of(outbox, "reset_password")
    assert link.startswith(f"{BASE}/auth/reset-password?token=")
    page = client.get(path_of(link), headers={"Accept": "text/html"})
    assert page.status == 200 and b'autocomplete="new-password"' in page.body
    nonce = page.body.decode().split('name="nonce" value="')[1].split('"')[0]
    token = token_of(outbox, "reset_password")
    body = f"token={quote(token)}&nonce={nonce}&new_password={quote(NEW_PASSWORD)}".encode()
    r = client.post("/auth/reset-password", body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})  # fmt: skip
    assert r.status in {302, 303}
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": NEW_PASSWORD})
    assert r.status == 200


@pytest.mark.parametrize("bad", ["", "garbage", "a.b.c"])
def test_bad_tokens_are_invalid_token(mk: MakeClient, bad: str) -> None:
    client = mk(passwordless=True)
    for path, payload in [
        ("/auth/verify-email", {"token": bad}),
        ("/auth/reset-password", {"token": bad, "new_password": NEW_PASSWORD}),
        ("/auth/magic-link/verify", {"token": bad}),
    ]:
        r = client.post(path, json=payload)
        assert r.status in {400, 401}
        assert r.error_code in {"INVALID_TOKEN", "VALIDATION_ERROR"}


def test_links_ignore_the_host_header(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    sign_up(client)
    client.post("/auth/forgot-password", json={"email": "alice@example.com"},
                headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})  # fmt: skip
    link = link_of(outbox, "reset_password")
    assert link.startswith(f"{BASE}/auth/reset-password?token=") and "evil" not in link


def test_magic_link(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(passwordless=True)
    sign_up(client)
    client.cookies.clear()
    r = client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    assert r.status == 200 and r.json() == {"success": True}
    path = path_of(link_of(outbox, "login_link"))
    assert path.startswith("/auth/magic-link/verify?token=")
    assert client.get(path, headers={"Accept": "text/html"}).status == 200  # a page, unused
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status == 200
    body = r.json()
    assert body["user"]["email"] == "alice@example.com" and body["token"]
    assert_error(client.get(path, headers={"Accept": "application/json"}), 401, "INVALID_TOKEN")


def test_magic_link_disabled(mk: MakeClient) -> None:
    r = mk().post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    assert_error(r, 404, "FEATURE_DISABLED")


def test_change_email(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    r = client.post("/auth/change-email", headers=bearer(token), cookies=False,
                    json={"new_email": "alice@new.example", "password": "wrong password!"})  # fmt: skip
    assert_error(r, 401, "INVALID_CREDENTIALS")
    r = client.post("/auth/change-email", headers=bearer(token), cookies=False,
                    json={"new_email": "alice@new.example", "password": PASSWORD})  # fmt: skip
    assert r.status == 200 and r.json() == {"success": True}
    assert outbox.last("email_change_confirm").to == "alice@new.example"
    r = client.post("/auth/verify-email", json={"token": token_of(outbox, "email_change_confirm")})
    assert r.status == 200 and r.json()["user"]["email"] == "alice@new.example"
    assert outbox.last("email_changed").to == "alice@example.com"
    assert_error(client.get("/auth/session", headers=bearer(token), cookies=False), 401, "INVALID_TOKEN")


def test_change_email_needs_a_session(mk: MakeClient) -> None:
    r = mk().post("/auth/change-email", json={"new_email": "x@example.com", "password": PASSWORD})
    assert_error(r, 401, "UNAUTHORIZED")


def test_multiple_emails(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(multiple_emails=True)
    token = sign_up(client).json()["token"]
    sign_up(client, email="bob@example.com")
    auth_headers = bearer(token)
    r = client.post("/auth/emails/add", headers=auth_headers, cookies=False,
                    json={"email": "alice@work.example", "password": PASSWORD})  # fmt: skip
    assert r.json() == {"success": True}
    taken = client.post("/auth/emails/add", headers=auth_headers, cookies=False,
                        json={"email": "BOB@example.com", "password": PASSWORD})  # fmt: skip
    assert (taken.status, taken.body) == (r.status, r.body)  # nothing learned about bob
    assert outbox.last("registration_attempt").to == "BOB@example.com"
    listed = client.get("/auth/emails", headers=auth_headers, cookies=False).json()["emails"]
    assert [(e["email"], e["primary"], e["confirmed"]) for e in listed] == [
        ("alice@example.com", True, False), ("alice@work.example", False, False)
    ]
    extra_id = listed[1]["id"]
    r = client.post("/auth/emails/make-primary", headers=auth_headers, cookies=False,
                    json={"email_id": extra_id, "password": PASSWORD})  # fmt: skip
    assert_error(r, 400, "VALIDATION_ERROR")  # not confirmed yet
    r = client.post("/auth/verify-email", json={"token": token_of(outbox, "email_add_confirm")})
    assert r.status == 200
    r = client.post("/auth/emails/make-primary", headers=auth_headers, cookies=False,
                    json={"email_id": extra_id, "password": PASSWORD})  # fmt: skip
    assert r.status == 200 and r.json()["user"]["email"] == "alice@work.example"
    assert client.get("/auth/session", headers=auth_headers, cookies=False).status == 401
    fresh = client.post("/auth/sign-in/email", cookies=False,
                        json={"email": "alice@work.example", "password": PASSWORD}).json()["token"]  # fmt: skip
    listed = client.get("/auth/emails", headers=bearer(fresh), cookies=False).json()["emails"]
    assert [(e["email"], e["primary"]) for e in listed] == [
        ("alice@work.example", True), ("alice@example.com", False)
    ]
    r = client.post("/auth/emails/remove", headers=bearer(fresh), cookies=False,
                    json={"email_id": listed[1]["id"]})  # fmt: skip
    assert r.json() == {"success": True}
    assert len(client.get("/auth/emails", headers=bearer(fresh), cookies=False).json()["emails"]) == 1


def test_multiple_emails_disabled(mk: MakeClient) -> None:
    client = mk()
    token = sign_up(client).json()["token"]
    assert_error(client.get("/auth/emails", headers=bearer(token), cookies=False), 404, "FEATURE_DISABLED")


def test_invitations(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(invite_only=True)
    auth = client.auth  # type: ignore[attr-defined]
    auth.users.create_user(email="admin@example.com", password=PASSWORD, roles=["admin"])
    auth.users.create_user(email="plain@example.com", password=PASSWORD)
    admin = client.post("/auth/sign-in/email", json={"email": "admin@example.com", "password": PASSWORD},
                        cookies=False).json()["token"]  # fmt: skip
    plain = client.post("/auth/sign-in/email", json={"email": "plain@example.com", "password": PASSWORD},
                        cookies=False).json()["token"]  # fmt: skip
    r = client.post("/auth/invite", headers=bearer(plain), cookies=False, json={"email": "new@example.com"})
    assert_error(r, 403, "FORBIDDEN")
    r = client.post("/auth/invite", headers=bearer(admin), cookies=False, json={"email": "new@example.com"})
    assert r.status == 200
    invite = token_of(outbox, "invitation")
    r = client.post("/auth/sign-up/email", json={"email": "new@example.com", "password": PASSWORD})
    assert_error(r, 404, "FEATURE_DISABLED")
    r: Response = client.post("/auth/sign-up/email",
                              json={"email": "new@example.com", "password": PASSWORD, "invite_token": invite})  # fmt: skip
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True


def test_openapi_lists_email_endpoints(mk: MakeClient) -> None:
    from openapi_spec_validator import validate

    doc = mk(confirmable=True, passwordless=True, multiple_emails=True).get("/auth/openapi.json").json()
    validate(doc)
    for path in ["/auth/send-verification-email", "/auth/verify-email", "/auth/forgot-password",
                 "/auth/reset-password", "/auth/change-email", "/auth/sign-in/magic-link",
                 "/auth/magic-link/verify", "/auth/emails", "/auth/emails/add", "/auth/invite"]:  # fmt: skip
        assert path in doc["paths"], path
    assert set(doc["paths"]["/auth/verify-email"]) == {"get", "post"}


# -- S6: a GET of an emailed link redeems it only when the client asks for JSON ---------------
NOT_ASKING_FOR_JSON = [
    None, "*/*", "text/html", "text/html,application/xhtml+xml,*/*;q=0.8", "application/*",
    "application/json;q=0", "text/plain",
]  # fmt: skip


def _get(client: ContractClient, path: str, accept: str | None) -> Response:
    return client.get(path, headers={} if accept is None else {"Accept": accept})


def _is_confirm_page(r: Response) -> bool:
    return (
        r.status == 200
        and "text/html" in (r.header("Content-Type") or "")
        and b'method="post"' in r.body
        and r.header("Cache-Control") == "no-store"
        and r.header("Referrer-Policy") == "no-referrer"
    )


@pytest.mark.parametrize("accept", NOT_ASKING_FOR_JSON)
def test_a_scanner_never_confirms_an_address(
    mk: MakeClient, outbox: OutboxMailer, accept: str | None
) -> None:
    client = mk(confirmable=True)
    sign_up(client)
    path = path_of(link_of(outbox, "confirm_email"))
    r = _get(client, path, accept)
    assert _is_confirm_page(r), (r.status, r.body[:200])
    assert b'"token":' not in r.body
    user = client.auth.users.get_user("alice@example.com")  # type: ignore[attr-defined]
    assert user.email_confirmed_at is None
    assert not any("authgate_session" in c for c in r.set_cookies)
    r = client.post("/auth/verify-email", json={"token": token_of(outbox, "confirm_email")})
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True  # still usable


@pytest.mark.parametrize("accept", NOT_ASKING_FOR_JSON)
def test_a_scanner_never_uses_a_magic_link(
    mk: MakeClient, outbox: OutboxMailer, accept: str | None
) -> None:
    client = mk(passwordless=True)
    sign_up(client)
    client.cookies.clear()
    client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    path = path_of(link_of(outbox, "login_link"))
    r = _get(client, path, accept)
    assert _is_confirm_page(r) and b'"token":' not in r.body
    assert not any("authgate_session" in c for c in r.set_cookies)
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status == 200 and r.json()["token"]  # still unused


@pytest.mark.parametrize("accept", ["application/json", "application/json; charset=utf-8",
                                    "text/html;q=0.9, application/json"])  # fmt: skip
def test_an_api_client_asking_for_json_redeems_the_link(
    mk: MakeClient, outbox: OutboxMailer, accept: str
) -> None:
    client = mk(confirmable=True)
    sign_up(client)
    r = _get(client, path_of(link_of(outbox, "confirm_email")), accept)
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True


@pytest.mark.parametrize("accept", [*NOT_ASKING_FOR_JSON, "application/json"])
def test_reset_link_get_is_always_the_page(
    mk: MakeClient, outbox: OutboxMailer, accept: str | None
) -> None:
    client = mk()
    sign_up(client)
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    r = _get(client, path_of(link_of(outbox, "reset_password")), accept)
    assert _is_confirm_page(r) and b'name="new_password"' in r.body


def test_link_pages_of_switched_off_features_are_feature_disabled(mk: MakeClient) -> None:
    client = mk(recoverable=False)
    for path in ["/auth/magic-link/verify?token=x", "/auth/reset-password?token=x"]:
        assert_error(client.get(path, headers={"Accept": "text/html"}), 404, "FEATURE_DISABLED")


# -- S12: the link page's nonce cookie is __Host- when cookies are secure ------------------------
def test_the_flow_cookie_is_host_only_when_secure(make_client: MakeClient, outbox: OutboxMailer) -> None:
    client = make_client(cookie_secure=None, passwordless=True, send_email=outbox, base_url=BASE)
    page = client.get("/auth/magic-link/verify?token=x", headers={"Accept": "text/html"})
    [cookie] = [c for c in page.set_cookies if "authgate_flow=" in c]
    assert cookie.startswith("__Host-authgate_flow=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
    debug = make_client(cookie_secure=None, debug=True, passwordless=True)
    page = debug.get("/auth/magic-link/verify?token=x", headers={"Accept": "text/html"})
    assert any(c.startswith("authgate_flow=") and "Secure" not in c for c in page.set_cookies)


def test_a_planted_unprefixed_flow_cookie_is_refused(make_client: MakeClient, outbox: OutboxMailer) -> None:
    """A sibling subdomain can set ``authgate_flow`` (not ``__Host-``): it must not count."""
    client = make_client(cookie_secure=None, passwordless=True, send_email=outbox, base_url=BASE,
                         pages=False)  # the templated pages: tests/pages  # fmt: skip
    client.auth.users.create_user(email="attacker@example.com")  # type: ignore[attr-defined]
    client.post("/auth/sign-in/magic-link", json={"email": "attacker@example.com"})
    token = token_of(outbox, "login_link")
    client.cookies["authgate_flow"] = "planted"
    r = client.post("/auth/magic-link/verify", body=f"token={quote(token)}&nonce=planted".encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})  # fmt: skip
    assert_error(r, 403, "CSRF_FAILED")
    assert not any("authgate_session" in c for c in r.set_cookies)
    page = client.get(path_of(link_of(outbox, "login_link")), headers={"Accept": "text/html"})
    nonce = page.body.decode().split('name="nonce" value="')[1].split('"')[0]
    r = client.post("/auth/magic-link/verify", body=f"token={quote(token)}&nonce={nonce}".encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})  # fmt: skip
    assert r.status == 303  # the page's own (__Host-) cookie works


def test_notices_survive_a_mail_outage(mk: MakeClient, outbox: OutboxMailer) -> None:
    """A change's notice waits in the outbox while the mailer fails, and goes out once."""
    client = mk(notify_registered=False)
    token = sign_up(client).json()["token"]
    outbox.fail = True
    r = client.post("/auth/change-password", headers=bearer(token), cookies=False,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})  # fmt: skip
    assert r.status == 200 and r.json() == {"success": True}  # the usual answer
    r = client.post("/auth/delete-user", headers=bearer(token), cookies=False,
                    json={"password": NEW_PASSWORD})  # fmt: skip
    assert r.status == 200
    auth = client.auth  # type: ignore[attr-defined]
    waiting = auth.outbox.pending()
    assert sorted(n.kind for n in waiting) == ["account_deleted", "password_changed"]
    outbox.fail = False
    auth.outbox.close()  # resent by hand below, not by the thread
    for notice in waiting:
        auth.store.claim_notice(notice.id, notice.attempts, notice.created_at)  # due now
    assert auth.outbox.flush().sent == 2
    assert sorted(m.kind for m in outbox.messages) == ["account_deleted", "password_changed"]
    assert auth.outbox.pending() == []
