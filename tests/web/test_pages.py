"""The HTML pages (issue 9), the same assertions on Flask, FastAPI (pages=True), Django,
Bottle and the neutral engine: headers, CSRF, redirect after POST, errors next to their
fields, safe ``next``, every flow through its page, ``POST /update-user``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from authgate import RoleMixin, UserMixin
from authgate.stores.memory import MemoryStore
from authgate.testing import OutboxMailer, links

from .clients import ContractClient, Response
from .conftest import MakeClient
from .pages import FORM, HTML, PASSWORD, form, sign_in, submit, text
from .test_http_contract import bearer

BASE = "https://app.example"
NEW_PASSWORD = "another horse battery staple"
ALL_ON: dict[str, Any] = {
    "confirmable": True, "usernames": True, "multiple_emails": True, "passwordless": True,
}  # fmt: skip


class PageBase(DeclarativeBase):
    pass


class PageRole(PageBase, RoleMixin):
    __tablename__ = "page_role"


class PageUser(PageBase, UserMixin):
    """A user model with app fields: two allowed on the forms, one (``plan``) never."""

    __tablename__ = "page_user"
    __authgate_signup_fields__ = ("first_name", "newsletter")

    first_name: Mapped[str | None] = mapped_column(
        sa.String(40), default=None, info={"label": "First name", "autocomplete": "given-name"}
    )
    newsletter: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    plan: Mapped[str] = mapped_column(sa.String(20), default="free")


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_client: MakeClient, outbox: OutboxMailer) -> MakeClient:
    def factory(**settings: Any) -> ContractClient:
        return make_client(send_email=outbox, base_url=BASE, **settings)

    return factory


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def link_of(outbox: OutboxMailer, kind: str) -> str:
    return links(outbox.last(kind))[0]


def create(client: ContractClient, email: str = "alice@example.com", **fields: Any) -> Any:
    return client.auth.users.create_user(  # type: ignore[attr-defined]
        email=email, password=PASSWORD, **fields
    )


def signed_in(client: ContractClient) -> bool:
    return client.get("/auth/session").status == 200


def assert_page_headers(r: Response) -> None:
    assert "text/html" in (r.header("Content-Type") or "")
    csp = r.header("Content-Security-Policy") or ""
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert r.header("Cache-Control") == "no-store"
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Referrer-Policy") in {"same-origin", "no-referrer"}
    body = text(r)
    assert "<script" not in body and " style=" not in body  # the CSP would block them


PUBLIC = ["/auth/login", "/auth/register", "/auth/login-or-register", "/auth/forgot",
          "/auth/confirm", "/auth/magic-link", "/auth/reset-password?token=t",
          "/auth/verify-email?token=t", "/auth/magic-link/verify?token=t"]  # fmt: skip
MEMBER = ["/auth/account", "/auth/account/password", "/auth/account/username",
          "/auth/account/email", "/auth/account/emails", "/auth/account/sessions",
          "/auth/account/reauthenticate", "/auth/account/delete"]  # fmt: skip


# -- every page, its headers, and who may see it ------------------------------------------------
def test_every_page_renders_with_strict_headers(mk: MakeClient) -> None:
    client = mk(**ALL_ON)
    for path in PUBLIC:
        r = client.get(path, headers=HTML)
        assert r.status == 200, (path, r.status, r.body[:300])
        assert_page_headers(r)
        assert 'lang="en" dir="ltr"' in text(r)
        assert re.search(r'href="/auth/static/authgate\.css\?v=[0-9a-f]{12}"', text(r))
    create(client, username="alice")
    sign_in(client, "alice@example.com")
    for path in MEMBER:
        r = client.get(path, headers=HTML)
        assert r.status == 200, (path, r.status, r.body[:300])
        assert_page_headers(r)
        assert 'aria-current="page"' in text(r) or path.endswith("reauthenticate")


def test_member_pages_send_anonymous_visitors_to_sign_in(mk: MakeClient) -> None:
    client = mk(**ALL_ON)
    for path in MEMBER:
        r = client.get(path + "?tab=1", headers=HTML)
        assert r.status == 303
        assert r.header("Location") == f"/auth/login?next={quote(path + '?tab=1', safe='')}"


def test_pages_of_switched_off_features_do_not_exist(mk: MakeClient) -> None:
    client = mk(registerable=False, recoverable=False)
    for path in ["/auth/register", "/auth/forgot", "/auth/confirm", "/auth/magic-link",
                 "/auth/account/username", "/auth/account/emails"]:  # fmt: skip
        r = client.get(path, headers=HTML)
        assert r.status == 404 and r.error_code == "NOT_FOUND", path
    login = text(client.get("/auth/login", headers=HTML))
    assert "/auth/register" not in login and "/auth/forgot" not in login


def test_the_pages_switch_turns_them_off(mk: MakeClient) -> None:
    client = mk(pages=False)
    r = client.get("/auth/login", headers=HTML)
    assert r.status == 404 and r.error_code == "NOT_FOUND"
    assert client.get("/auth/static/authgate.css").status == 404


def test_the_stylesheet_is_cached_for_a_year(mk: MakeClient) -> None:
    client = mk()
    link = re.search(r'href="([^"]+authgate\.css[^"]*)"', text(client.get("/auth/login", headers=HTML)))
    assert link is not None
    r = client.get(link.group(1))
    assert r.status == 200 and "text/css" in (r.header("Content-Type") or "")
    assert r.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert b"prefers-color-scheme: dark" in r.body and b"inline-size" in r.body
    assert client.get("/auth/static/../settings.py").status == 404
    assert client.get("/auth/static/nope.css").status == 404


# -- sign-in: CSRF, errors, redirect after POST ---------------------------------------------------
def test_login_page_signs_in_and_redirects(mk: MakeClient) -> None:
    client = mk()
    create(client)
    page = client.get("/auth/login", headers=HTML)
    assert 'autocomplete="email"' in text(page) and 'autocomplete="current-password"' in text(page)
    r = submit(client, page, "/auth/login", email="alice@example.com", password=PASSWORD)
    assert r.status == 303 and r.header("Location") == "/"
    assert signed_in(client)
    assert client.get("/auth/login", headers=HTML).status == 303  # signed in: sent on


def test_login_form_needs_its_csrf_token(mk: MakeClient) -> None:
    client = mk()
    create(client)
    page = client.get("/auth/login", headers=HTML)
    token = form(page, "/auth/login").fields["csrf_token"]
    body = f"email=alice%40example.com&password={quote(PASSWORD)}"
    for sent in ["", "&csrf_token=forged", "&csrf_token=" + token[:-2] + "xx"]:
        r = client.post("/auth/login", body=(body + sent).encode(), headers=FORM)
        assert r.status == 403 and "This form has expired" in text(r), sent
        assert_page_headers(r)
    # The right token without the cookie it is bound to (a cross-site post carries none).
    r = client.post("/auth/login", body=f"{body}&csrf_token={token}".encode(), headers=FORM,
                    cookies=False)  # fmt: skip
    assert r.status == 403
    # Another visitor's token, with this visitor's cookie.
    other = mk()
    other_token = form(other.get("/auth/login", headers=HTML), "/auth/login").fields["csrf_token"]
    r = client.post("/auth/login", body=f"{body}&csrf_token={other_token}".encode(), headers=FORM)
    assert r.status == 403
    assert not signed_in(client)
    # (The refused post without cookies planted a new nonce, as a browser would keep it.)
    token = form(client.get("/auth/login", headers=HTML), "/auth/login").fields["csrf_token"]
    r = client.post("/auth/login", body=f"{body}&csrf_token={token}".encode(), headers=FORM)
    assert r.status == 303 and signed_in(client)


def test_login_errors_keep_the_input_but_never_the_password(mk: MakeClient) -> None:
    client = mk()
    create(client)
    page = client.get("/auth/login", headers=HTML)
    r = submit(client, page, "/auth/login", email="alice@example.com", password="wrong password 1")
    assert r.status == 401
    body = text(r)
    assert 'role="alert"' in body and "The email address or password is not correct." in body
    assert 'value="alice@example.com"' in body and "wrong password 1" not in body
    assert "<title>Error: Sign in" in body
    r = submit(client, r, "/auth/login", email="", password="")
    assert r.status == 400
    assert 'aria-invalid="true"' in text(r) and 'aria-describedby="f-email-error"' in text(r)


def test_next_is_kept_and_only_safe_targets_are_followed(mk: MakeClient) -> None:
    client = mk()
    create(client)
    r = client.get("/protected?tab=2", headers=HTML)
    assert r.status == 303
    login = r.header("Location") or ""
    assert login == "/auth/login?next=%2Fprotected%3Ftab%3D2"
    page = client.get(login, headers=HTML)
    assert form(page, "/auth/login").fields["next"] == "/protected?tab=2"
    r = submit(client, page, "/auth/login", email="alice@example.com", password=PASSWORD)
    assert r.header("Location") == "/protected?tab=2"
    assert client.get("/protected").status == 200
    for evil in ["//evil.com", "/\\evil.com", "https://evil.com", "javascript:alert(1)",
                 "%2F%2Fevil.com", "\t//evil.com", "https://app.example@evil.com"]:  # fmt: skip
        fresh = mk()
        create(fresh)
        page = fresh.get("/auth/login?next=" + quote(evil, safe=""), headers=HTML)
        r = submit(fresh, page, "/auth/login", email="alice@example.com", password=PASSWORD)
        assert r.status == 303 and r.header("Location") == "/", evil


def test_login_url_setting_sends_browsers_to_the_apps_page(mk: MakeClient) -> None:
    client = mk(login_url="/signin")
    r = client.get("/protected", headers=HTML)
    assert r.status == 303 and r.header("Location") == "/signin?next=%2Fprotected"
    client = mk(login_url="https://id.example/login?app=1")
    assert client.get("/protected", headers=HTML).header("Location") == (
        "https://id.example/login?app=1&next=%2Fprotected"
    )


def test_logout_needs_a_post_with_the_sessions_token(mk: MakeClient) -> None:
    client = mk()
    create(client)
    sign_in(client, "alice@example.com")
    page = client.get("/auth/logout", headers=HTML)
    assert page.status == 200 and signed_in(client)  # a GET signs nobody out
    r = client.post("/auth/logout", body=b"csrf_token=nope", headers=FORM)
    assert r.status == 403 and signed_in(client)
    r = submit(client, page, "/auth/logout")
    assert r.status == 303 and r.header("Location") == "/"
    assert not signed_in(client)


# -- sign-up ------------------------------------------------------------------------------------------
def test_register_page_with_the_apps_fields(mk: MakeClient) -> None:
    client = mk(store=MemoryStore(user_model=PageUser, role_model=PageRole), usernames=True)
    page = client.get("/auth/register", headers=HTML)
    body = text(page)
    assert 'name="first_name"' in body and 'autocomplete="given-name"' in body
    assert '<label for="f-first_name">First name</label>' in body
    assert 'name="newsletter" type="checkbox"' in body and 'name="plan"' not in body
    assert 'autocomplete="new-password"' in body and 'autocomplete="username"' in body
    r = submit(client, page, "/auth/register", email="bob@example.com", username="bob",
               password="short", first_name="Bob")  # fmt: skip
    assert r.status == 400
    assert "Use at least 8 characters." in text(r) and 'value="Bob"' in text(r)
    assert 'aria-describedby="f-password-hint f-password-error"' in text(r)
    # A forged extra field (plan) is not one of the form's: never read, never stored.
    r = submit(client, r, "/auth/register", email="bob@example.com", username="bob",
               password=PASSWORD, first_name="Bob", newsletter="on", plan="enterprise")  # fmt: skip
    assert r.status == 303 and signed_in(client)
    user = client.auth.users.get_user("bob@example.com")  # type: ignore[attr-defined]
    assert (user.first_name, user.newsletter, user.plan) == ("Bob", True, "free")
    assert "Welcome! Your account is ready." in text(client.get("/auth/account", headers=HTML))


def test_register_with_confirmation_then_the_link_page(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(confirmable=True, login_after_confirm=False)
    r = submit(client, client.get("/auth/register", headers=HTML), "/auth/register",
               email="carol@example.com", password=PASSWORD)  # fmt: skip
    assert r.status == 303 and r.header("Location") == "/auth/login"
    assert "we have sent you an email" in text(client.get("/auth/login", headers=HTML))
    r = sign_in(client, "carol@example.com")
    assert r.status == 403 and "/auth/confirm" in text(r)  # not confirmed yet: resend link
    page = client.get(path_of(link_of(outbox, "confirm_email")), headers=HTML)
    assert page.status == 200 and page.header("Referrer-Policy") == "no-referrer"
    assert client.get(path_of(link_of(outbox, "confirm_email")), headers=HTML).status == 200
    r = submit(client, page, "/auth/verify-email")
    assert r.status == 303 and r.header("Location") == "/auth/login"
    assert "Your email address is confirmed." in text(client.get("/auth/login", headers=HTML))
    assert sign_in(client, "carol@example.com").status == 303
    r = submit(client, page, "/auth/verify-email")  # used already
    assert r.status == 401 and "invalid, has expired or was already used" in text(r)


def test_login_or_register_on_one_page(mk: MakeClient) -> None:
    client = mk()
    create(client)
    page = client.get("/auth/login-or-register", headers=HTML)
    ids = re.findall(r'id="([^"]+)"', text(page))
    assert len(ids) == len(set(ids))  # two forms, no duplicate ids
    r = submit(client, page, "/auth/login-or-register", {"action": "register"},
               email="alice@example.com", password="short")  # fmt: skip
    assert r.status == 400 and 'id="register-password-error"' in text(r)
    assert 'id="login-password-error"' not in text(r)
    r = submit(client, r, "/auth/login-or-register", {"action": "login"},
               email="alice@example.com", password=PASSWORD)  # fmt: skip
    assert r.status == 303 and signed_in(client)


def test_accept_an_invitation(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(invite_only=True)
    client.auth.invite("dan@example.com")  # type: ignore[attr-defined]
    assert "invitation only" in text(client.get("/auth/register", headers=HTML))
    page = client.get(path_of(link_of(outbox, "invitation")), headers=HTML)
    assert page.status == 200
    assert re.search(r'<input id="f-email" name="email" type="email"[^>]* readonly[^>]* '
                     r'value="dan@example.com"', text(page))  # fmt: skip
    r = submit(client, page, "/auth/sign-up", email="mallory@example.com", password=PASSWORD)
    assert r.status == 303 and signed_in(client)
    assert client.auth.users.get_user("dan@example.com") is not None  # type: ignore[attr-defined]
    assert client.auth.users.get_user("mallory@example.com") is None  # type: ignore[attr-defined]
    assert client.get("/auth/sign-up?token=forged", headers=HTML).status == 401


# -- emailed links ----------------------------------------------------------------------------------
def test_forgot_and_reset_password_pages(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    create(client)
    page = client.get("/auth/forgot", headers=HTML)
    r = submit(client, page, "/auth/forgot", email="alice@example.com")
    assert r.status == 303 and r.header("Location") == "/auth/forgot"
    unknown = submit(client, page, "/auth/forgot", email="nobody@example.com")
    assert (unknown.status, unknown.header("Location")) == (303, "/auth/forgot")  # same answer
    assert "If an account uses that address" in text(client.get("/auth/forgot", headers=HTML))
    page = client.get(path_of(link_of(outbox, "reset_password")), headers=HTML)
    assert page.status == 200 and 'autocomplete="new-password"' in text(page)
    r = submit(client, page, "/auth/reset-password", new_password="short")
    assert r.status == 400 and "Use at least 8 characters." in text(r)
    r = submit(client, page, "/auth/reset-password", new_password=NEW_PASSWORD)
    assert r.status == 303 and r.header("Location") == "/auth/login"
    assert sign_in(client, "alice@example.com", NEW_PASSWORD).status == 303
    r = submit(client, page, "/auth/reset-password", new_password=NEW_PASSWORD + "!")
    assert r.status == 401 and "/auth/forgot" in text(r)


def test_magic_link_pages(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(passwordless=True)
    create(client)
    r = submit(client, client.get("/auth/magic-link", headers=HTML), "/auth/magic-link",
               email="alice@example.com")  # fmt: skip
    assert r.status == 303
    page = client.get(path_of(link_of(outbox, "login_link")) + "&next=%2Fprotected", headers=HTML)
    assert not signed_in(client)  # showing the page used nothing
    r = submit(client, page, "/auth/magic-link/verify")
    assert r.status == 303 and r.header("Location") == "/protected" and signed_in(client)


def test_the_apis_json_and_plain_form_keep_their_landing_routes(
    mk: MakeClient, outbox: OutboxMailer
) -> None:
    client = mk(passwordless=True)
    create(client)
    client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    token = parse_qs(urlsplit(link_of(outbox, "login_link")).query)["token"][0]
    r = client.post("/auth/magic-link/verify", body=f"token={quote(token)}&nonce=x".encode(),
                    headers=FORM)  # the API's plain form, not a page's: its nonce is checked
    assert r.status == 403 and r.error_code == "CSRF_FAILED"
    r = client.get("/auth/magic-link/verify?token=" + quote(token),
                   headers={"Accept": "application/json"})  # fmt: skip
    assert r.status == 200 and r.json()["token"]


# -- the account pages ---------------------------------------------------------------------------------
def test_profile_page_and_update_user(mk: MakeClient) -> None:
    client = mk(store=MemoryStore(user_model=PageUser, role_model=PageRole))
    user = create(client, first_name="Al")
    sign_in(client, "alice@example.com")
    page = client.get("/auth/account", headers=HTML)
    for neighbour in ["/auth/account/password", "/auth/account/email", "/auth/account/sessions",
                      "/auth/account/delete", "/auth/logout"]:  # fmt: skip
        assert f'href="{neighbour}"' in text(page)
    assert 'value="Al"' in text(page)
    r = submit(client, page, "/auth/account", first_name="x" * 41)
    assert r.status == 400 and "This is too long." in text(r)
    r = submit(client, page, "/auth/account", first_name="Alice", newsletter="on")
    assert r.status == 303 and r.header("Location") == "/auth/account"
    assert "Your profile has been saved." in text(client.get("/auth/account", headers=HTML))
    assert client.get("/auth/session").json()["user"]["first_name"] == "Alice"
    # The JSON route: the allowed fields only, whatever else the body says.
    token = client.auth.sign_in("alice@example.com", PASSWORD).token  # type: ignore[attr-defined]
    r = client.post("/auth/update-user", json={"first_name": "Ali"}, headers=bearer(token))
    assert r.status == 200 and r.json()["user"]["first_name"] == "Ali"
    for forged in [{"plan": "enterprise"}, {"email": "x@example.com"}, {"is_active": False},
                   {"roles": ["admin"]}, {"id": "1"}, {"first_name": "A", "plan": "pro"}]:  # fmt: skip
        r = client.post("/auth/update-user", json=forged, headers=bearer(token))
        assert r.status == 400 and r.error_code == "VALIDATION_ERROR", forged
    fresh = client.auth.users.get_user(user.id)  # type: ignore[attr-defined]
    assert (fresh.plan, fresh.first_name, fresh.email) == ("free", "Ali", "alice@example.com")
    assert client.post("/auth/update-user", json={"first_name": "Z"}).status in {401, 403}
    assert client.post("/auth/update-user", json={"first_name": "Z"}, cookies=False).status == 401
    kinds = [e.kind for e in client.auth.audit.events(fresh)]  # type: ignore[attr-defined]
    assert kinds.count("profile_update") == 2


def test_profile_fields_setting_narrows_the_form(mk: MakeClient) -> None:
    client = mk(store=MemoryStore(user_model=PageUser, role_model=PageRole),
                profile_fields=["first_name"])  # fmt: skip
    create(client)
    token = client.auth.sign_in("alice@example.com", PASSWORD).token  # type: ignore[attr-defined]
    r = client.post("/auth/update-user", json={"newsletter": True}, headers=bearer(token))
    assert r.status == 400 and r.json()["error"]["fields"] == {"newsletter": "unknown_field"}
    sign_in(client, "alice@example.com")
    assert 'name="newsletter"' not in text(client.get("/auth/account", headers=HTML))


def test_change_password_page(mk: MakeClient) -> None:
    client = mk()
    create(client)
    sign_in(client, "alice@example.com")
    other = mk()
    other.auth = client.auth  # type: ignore[attr-defined]
    page = client.get("/auth/account/password", headers=HTML)
    body = text(page)
    assert 'autocomplete="current-password"' in body and 'autocomplete="new-password"' in body
    r = submit(client, page, "/auth/account/password", current_password="wrong one here",
               new_password=NEW_PASSWORD)  # fmt: skip
    assert r.status == 401 and 'id="f-current_password-error"' in text(r)
    r = submit(client, page, "/auth/account/password", current_password=PASSWORD,
               new_password=NEW_PASSWORD)  # fmt: skip
    assert r.status == 303 and signed_in(client)  # this session kept
    assert client.auth.sign_in("alice@example.com", NEW_PASSWORD)  # type: ignore[attr-defined]


def test_changes_that_need_a_fresh_sign_in_go_through_reauthentication(mk: MakeClient) -> None:
    now = [dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)]
    client = mk(usernames=True, clock=lambda: now[0], session_idle_timeout=None)
    create(client, username="alice")
    sign_in(client, "alice@example.com")
    now[0] += dt.timedelta(hours=1)  # past the 15 minutes of freshness
    page = client.get("/auth/account/username", headers=HTML)
    r = submit(client, page, "/auth/account/username", new_username="alicia", password=PASSWORD)
    target = "/auth/account/reauthenticate?next=%2Fauth%2Faccount%2Fusername"
    assert r.status == 303 and r.header("Location") == target
    assert client.get("/auth/account/delete", headers=HTML).header("Location") == (
        "/auth/account/reauthenticate?next=%2Fauth%2Faccount%2Fdelete"
    )
    page = client.get(target, headers=HTML)
    assert "For your security" in text(page)
    r = submit(client, page, "/auth/account/reauthenticate", password="not the password")
    assert r.status == 401
    r = submit(client, page, "/auth/account/reauthenticate", password=PASSWORD)
    assert r.status == 303 and r.header("Location") == "/auth/account/username"
    page = client.get("/auth/account/username", headers=HTML)
    r = submit(client, page, "/auth/account/username", new_username="alicia", password=PASSWORD)
    assert r.status == 303 and r.header("Location") == "/auth/account"
    assert client.get("/auth/session").json()["user"]["username"] == "alicia"


def test_change_email_page(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    create(client)
    sign_in(client, "alice@example.com")
    page = client.get("/auth/account/email", headers=HTML)
    r = submit(client, page, "/auth/account/email", new_email="alice@new.example",
               password=PASSWORD)  # fmt: skip
    assert r.status == 303
    assert "alice@new.example" in text(client.get("/auth/account", headers=HTML))  # the flash
    page = client.get(path_of(link_of(outbox, "email_change_confirm")), headers=HTML)
    assert submit(client, page, "/auth/verify-email").status == 303
    assert client.auth.users.get_user("alice@new.example") is not None  # type: ignore[attr-defined]


def test_manage_emails_page(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk(multiple_emails=True)
    create(client)
    sign_in(client, "alice@example.com")
    page = client.get("/auth/account/emails", headers=HTML)
    r = submit(client, page, "/auth/account/emails", {"action": "add"}, email="al@work.example",
               password=PASSWORD)  # fmt: skip
    assert r.status == 303
    page = client.get("/auth/account/emails", headers=HTML)
    assert "al@work.example" in text(page) and "waiting for confirmation" in text(page)
    confirm = client.get(path_of(link_of(outbox, "email_add_confirm")), headers=HTML)
    submit(client, confirm, "/auth/verify-email")
    page = client.get("/auth/account/emails", headers=HTML)
    r = submit(client, page, "/auth/account/emails", {"action": "primary"},
               primary_password="wrong password!")  # fmt: skip
    assert r.status == 401 and 'id="f-primary_password-error"' in text(r)
    r = submit(client, page, "/auth/account/emails", {"action": "primary"},
               primary_password=PASSWORD)  # fmt: skip
    assert r.status == 303 and r.header("Location") == "/auth/login" and not signed_in(client)
    sign_in(client, "al@work.example")
    page = client.get("/auth/account/emails", headers=HTML)
    r = submit(client, page, "/auth/account/emails", {"action": "remove"})
    assert r.status == 303
    assert "alice@example.com" not in text(client.get("/auth/account/emails", headers=HTML))


def test_signed_in_devices_page(mk: MakeClient) -> None:
    client = mk()
    create(client)
    phone = mk()
    laptop = mk()
    for c in (phone, laptop):
        c.auth = client.auth  # type: ignore[attr-defined]
    tokens = [client.auth.sign_in("alice@example.com", PASSWORD).token for _ in range(2)]  # type: ignore[attr-defined]
    sign_in(client, "alice@example.com")
    page = client.get("/auth/account/sessions", headers=HTML)
    assert text(page).count('name="session_id"') == 2 and "this device" in text(page)
    r = submit(client, page, "/auth/account/sessions", {"action": "revoke"})
    assert r.status == 303
    live = [t for t in tokens if client.get("/auth/session", headers=bearer(t), cookies=False).status == 200]
    assert len(live) == 1
    page = client.get("/auth/account/sessions", headers=HTML)
    r = submit(client, page, "/auth/account/sessions", {"action": "revoke_others"})
    assert r.status == 303 and signed_in(client)
    assert client.get("/auth/session", headers=bearer(live[0]), cookies=False).status == 401


def test_delete_account_page(mk: MakeClient) -> None:
    client = mk()
    create(client)
    sign_in(client, "alice@example.com")
    page = client.get("/auth/account/delete", headers=HTML)
    r = submit(client, page, "/auth/account/delete", password=PASSWORD)  # not confirmed
    assert r.status == 400 and 'id="f-confirm-error"' in text(r)
    r = submit(client, page, "/auth/account/delete", password="wrong password 1", confirm="on")
    assert r.status == 401 and signed_in(client)
    r = submit(client, page, "/auth/account/delete", password=PASSWORD, confirm="on")
    assert r.status == 303 and r.header("Location") == "/auth/login"
    assert not signed_in(client)
    assert client.auth.users.get_user("alice@example.com") is None  # type: ignore[attr-defined]
    assert "Your account has been deleted." in text(client.get("/auth/login", headers=HTML))


def test_usernames_are_escaped_in_every_page(mk: MakeClient) -> None:
    """allauth 0.63.6 / FAB: XSS in bundled templates."""
    client = mk(store=MemoryStore(user_model=PageUser, role_model=PageRole))
    create(client, first_name='<script>alert("x")</script>')
    sign_in(client, "alice@example.com")
    body = text(client.get("/auth/account", headers=HTML))
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_a_server_error_is_a_page_with_a_reference(
    mk: MakeClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from authgate.flows import account

    def broken(*args: Any) -> None:
        raise RuntimeError("database exploded: SELECT password_hash")

    client = mk(store=MemoryStore(user_model=PageUser, role_model=PageRole))
    create(client)
    sign_in(client, "alice@example.com")
    page = client.get("/auth/account", headers=HTML)
    monkeypatch.setattr(account, "update_profile", broken)
    r = submit(client, page, "/auth/account", first_name="Al")
    assert r.status == 500 and "Internal error (ref " in text(r)
    assert "exploded" not in text(r) and "Traceback" not in text(r)
    assert_page_headers(r)


def test_pages_with_jwt_access_tokens_keep_a_session_cookie(mk: MakeClient) -> None:
    """With ``jwt_access_tokens`` a sign-in's ``token`` is a 5-minute JWT: the page's cookie
    must hold the session's own token, or every page would sign the user out (issue 10 x 9)."""
    client = mk(jwt_access_tokens=True, jwt_algorithm="HS256")
    create(client)
    sign_in(client, "alice@example.com")
    cookie = client.cookie("authgate_session")
    assert cookie is not None and cookie.count(".") != 2  # an opaque session token, not a JWT
    assert signed_in(client)
    assert client.get("/auth/account", headers=HTML).status == 200
    register = client.get("/auth/register", headers=HTML)  # signed in: sent on
    assert register.status == 303
