"""The API-keys page (issue 10, SPEC §10) on Flask, FastAPI (pages=True), Django, Bottle and
the neutral engine: list, create (the key shown once, on the answer only), revoke; another
user's key id, a missing CSRF token, a stale session and bad input are refused."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from authgate.testing import OutboxMailer
from tests.core.conftest import Clock
from tests.web.clients import ContractClient, Response
from tests.web.conftest import MakeClient, framework, make_client  # noqa: F401 (fixtures)
from tests.web.pages import FORM, HTML, PASSWORD, form, forms, sign_in, submit, text

PAGE = "/auth/account/api-keys"
KEY = re.compile(r"ag_[A-Za-z0-9_-]{43}")
DAY = 24 * 3600
STALE = 15 * 60 + 1  # one second past the default freshness


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mk(make_client: MakeClient, clock: Clock) -> MakeClient:  # noqa: F811
    def factory(**settings: Any) -> ContractClient:
        return make_client(clock=clock, send_email=OutboxMailer(), **settings)

    return factory


def member(client: ContractClient, email: str = "alice@example.com") -> Any:
    user = client.auth.users.create_user(email=email, password=PASSWORD)  # type: ignore[attr-defined]
    sign_in(client, email)
    return user


def create(client: ContractClient, **values: Any) -> Response:
    page = client.get(PAGE, headers=HTML)
    fields = {"name": "Nightly report", "scopes": "", "allowed_ips": "", **values}
    return submit(client, page, PAGE, match={"action": "create"}, **fields)


def key_in(response: Response) -> str:
    found = KEY.findall(text(response))
    assert len(found) == 1, found  # once, in the read-only field
    return str(found[0])


def with_key(client: ContractClient, path: str, key: str) -> Response:
    return client.get(path, headers={"X-API-Key": key, "Accept": "application/json"},
                      cookies=False)  # fmt: skip


def test_create_shows_the_key_once_then_lists_it_and_revokes_it(mk: MakeClient) -> None:
    client = mk()
    member(client)
    profile = text(client.get("/auth/account", headers=HTML))
    assert f'href="{PAGE}"' in profile  # linked from the profile page (and the account menu)
    empty = client.get(PAGE, headers=HTML)
    assert empty.status == 200 and "You have no API keys yet." in text(empty)
    csp = empty.header("Content-Security-Policy") or ""
    assert "script-src" not in csp and "<script" not in text(empty)  # no script on the list

    r = create(client, name="CI <robot>", scopes="read:reports, write:reports",
               expires_in=str(30 * DAY), allowed_ips="")  # fmt: skip
    assert r.status == 200 and r.header("Location") is None  # the answer itself, no redirect
    key = key_in(r)
    assert r.header("Cache-Control") == "no-store"
    csp = r.header("Content-Security-Policy") or ""
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    body = text(r)
    assert re.search(r'<script src="/auth/static/authgate-copy\.js\?v=[0-9a-f]{12}" defer>', body)
    assert "<script>" not in body and " on" + "click=" not in body  # nothing inline
    assert 'data-copy="ag-new-key"' in body and "hidden" in body
    assert "CI &lt;robot&gt;" in body and "<robot>" not in body  # escaped
    assert not any(key in cookie for cookie in r.set_cookies)  # never in a (flash) cookie
    # The blank form again (not the values just posted).
    create_form = form(r, PAGE, action="create")
    assert create_form.fields.get("name", "") == ""

    # The key works where its scope is needed, and only there.
    assert with_key(client, "/protected", key).status == 200
    assert with_key(client, "/scoped", key).status == 200

    # Listed without the key: name, prefix, scopes, dates.
    listed = client.get(PAGE, headers=HTML)
    page = text(listed)
    assert key not in page and KEY.search(page) is None
    record = client.auth.list_api_keys(client.auth.users.get_user("alice@example.com"))[0]  # type: ignore[attr-defined]
    assert record.prefix in page and key.startswith(record.prefix)
    assert "read:reports, write:reports" in page and "CI &lt;robot&gt;" in page
    assert "2026-01-31 12:00 UTC" in page  # expires in 30 days (the test clock)
    assert "last used" in page  # used by the requests above
    # Nowhere else either.
    for path in ("/auth/account", "/auth/account/sessions", "/auth/account/password"):
        assert key not in text(client.get(path, headers=HTML)), path
    assert key not in str(client.get("/auth/api-keys").body)

    r = submit(client, listed, PAGE, match={"action": "revoke", "id": record.id})
    assert r.status == 303 and r.header("Location") == PAGE
    after = client.get(PAGE, headers=HTML)
    assert "The API key has been revoked." in text(after)
    assert "You have no API keys yet." in text(after)
    assert with_key(client, "/protected", key).status == 401


def test_scopes_expiry_and_allowlist_reach_the_key(mk: MakeClient, clock: Clock) -> None:
    client = mk()
    user = member(client)
    r = create(client, name="limited", scopes="read:other", expires_in="never",
               allowed_ips="203.0.113.7 10.0.0.0/8")  # fmt: skip
    key = key_in(r)
    record = client.auth.list_api_keys(user)[0]  # type: ignore[attr-defined]
    assert record.scopes == ("read:other",) and record.expires_at is None
    assert record.allowed_ips == ("203.0.113.7/32", "10.0.0.0/8")
    page = text(client.get(PAGE, headers=HTML))
    assert "never expires" in page and "203.0.113.7/32, 10.0.0.0/8" in page
    assert "never used" in page
    assert client.auth.verify_api_key(key, ip="10.1.2.3") is not None  # type: ignore[attr-defined]
    assert client.auth.verify_api_key(key, ip="192.0.2.1") is None  # type: ignore[attr-defined]
    # The default expiry (90 days) is preselected; an expired key is marked.
    page_r = client.get(PAGE, headers=HTML)
    assert form(page_r, PAGE, action="create").fields["expires_in"] == str(90 * DAY)
    create(client, name="short", expires_in=str(7 * DAY))
    clock.advance(8 * DAY)
    sign_in(client, "alice@example.com")
    assert '<span class="ag-badge ag-warn">expired</span>' in text(client.get(PAGE, headers=HTML))


def test_another_users_key_id_is_refused(mk: MakeClient) -> None:
    client = mk()
    bob = client.auth.users.create_user(email="bob@example.com", password=PASSWORD)  # type: ignore[attr-defined]
    bob_record, bob_key = client.auth.create_api_key(bob, "bob's")  # type: ignore[attr-defined]
    member(client)
    create(client, name="mine")
    page = client.get(PAGE, headers=HTML)
    assert "bob&#39;s" not in text(page) and bob_record.prefix not in text(page)
    r = submit(client, page, PAGE, match={"action": "revoke"}, id=bob_record.id)
    assert r.status == 404 and "No such API key." in text(r)
    assert 'role="alert"' in text(r)
    assert client.auth.verify_api_key(bob_key) is not None  # type: ignore[attr-defined]
    assert len(client.auth.list_api_keys(bob)) == 1  # type: ignore[attr-defined]
    # No way to name an owner: a posted user id is ignored, the key is the signed-in user's.
    r = create(client, name="sneaky", user_id=str(bob.id), user="bob@example.com")
    assert r.status == 200
    assert [k.name for k in client.auth.list_api_keys(bob)] == ["bob's"]  # type: ignore[attr-defined]


def test_forms_without_their_csrf_token_do_nothing(mk: MakeClient) -> None:
    client = mk()
    user = member(client)
    create(client, name="kept")
    record = client.auth.list_api_keys(user)[0]  # type: ignore[attr-defined]
    for body in ({"action": "create", "name": "forged"}, {"action": "revoke", "id": record.id}):
        for token in ("", "forged"):
            sent = {**body, **({"csrf_token": token} if token else {})}
            r = client.post(PAGE, body=urlencode(sent).encode(), headers=FORM)
            assert r.status == 403 and "This form has expired" in text(r)
            assert KEY.search(text(r)) is None
    assert [k.name for k in client.auth.list_api_keys(user)] == ["kept"]  # type: ignore[attr-defined]


def test_bad_input_is_shown_next_to_its_field(mk: MakeClient) -> None:
    client = mk()
    user = member(client)
    cases = [
        ({"name": ""}, "name"),
        ({"scopes": "read:reports not!valid"}, "scopes"),
        ({"allowed_ips": "10.0.0.0/8 somewhere"}, "allowed_ips"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_in": "5"}, "expires_in"),  # under a minute
    ]
    for values, field in cases:
        r = create(client, **{"name": "kept name", **values})
        assert r.status == 400, (values, r.status)
        assert f'id="f-{field}-error"' in text(r), values
        assert 'aria-invalid="true"' in text(r) and KEY.search(text(r)) is None
        if field != "name":
            assert 'value="kept name"' in text(r)  # the input is kept
    assert client.auth.list_api_keys(user) == []  # type: ignore[attr-defined]


def test_a_stale_session_reauthenticates_before_a_key_is_made(
    mk: MakeClient, clock: Clock
) -> None:
    client = mk()
    user = member(client)
    clock.advance(STALE)
    page = client.get(PAGE, headers=HTML)
    assert "you will be asked for your password" in text(page)
    r = submit(client, page, PAGE, match={"action": "create"}, name="late")
    assert r.status == 303
    assert r.header("Location") == "/auth/account/reauthenticate?next=%2Fauth%2Faccount%2Fapi-keys"
    assert client.auth.list_api_keys(user) == []  # type: ignore[attr-defined]
    reauth = client.get(r.header("Location") or "", headers=HTML)
    r = submit(client, reauth, "/auth/account/reauthenticate", password=PASSWORD)
    assert r.status == 303 and r.header("Location") == PAGE
    assert "you will be asked" not in text(client.get(PAGE, headers=HTML))
    key_in(create(client, name="late"))


def test_the_page_needs_a_signed_in_user_and_the_feature(mk: MakeClient) -> None:
    client = mk()
    r = client.get(PAGE, headers=HTML)
    assert r.status == 303 and r.header("Location") == "/auth/login?next=%2Fauth%2Faccount%2Fapi-keys"
    r = client.post(PAGE, body=b"action=create&name=x", headers=FORM)
    assert r.status == 303 and (r.header("Location") or "").startswith("/auth/login")
    off = mk(api_keys=False)
    member(off)
    r = off.get(PAGE, headers=HTML)
    assert r.status == 404 and r.error_code == "NOT_FOUND"
    assert PAGE not in text(off.get("/auth/account", headers=HTML))


def test_the_copy_script_is_a_static_file(mk: MakeClient) -> None:
    client = mk()
    member(client)
    link = re.search(r'src="([^"]+authgate-copy\.js[^"]*)"', text(create(client)))
    assert link is not None
    r = client.get(link.group(1))
    assert r.status == 200 and "javascript" in (r.header("Content-Type") or "")
    assert r.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert b"navigator.clipboard" in r.body


def test_every_form_of_the_page_posts_to_it(mk: MakeClient) -> None:
    client = mk()
    member(client)
    create(client)
    page = client.get(PAGE, headers=HTML)
    own = [f for f in forms(page) if f.action == PAGE]
    assert {f.fields["action"] for f in own} == {"create", "revoke"}
    assert all(f.method == "post" and f.fields.get("csrf_token") for f in own)


def test_every_framework_names_the_page_api_keys() -> None:
    import bottle
    from fastapi import FastAPI
    from flask import Flask, url_for

    from authgate import Auth
    from authgate.bottle import setup_for_bottle
    from authgate.fastapi import setup_for_fastapi
    from authgate.flask import setup_for_flask
    from tests.django_project import setup
    from tests.web.conftest import FAST, SECRET

    flask_app = Flask(__name__)
    setup_for_flask(Auth(SECRET, **FAST), flask_app)
    with flask_app.test_request_context():
        assert url_for("authgate.api_keys") == PAGE
    bottle_app = bottle.Bottle()
    setup_for_bottle(Auth(SECRET, **FAST), bottle_app)
    assert bottle_app.get_url("authgate.api_keys") == PAGE
    fastapi_app = FastAPI()
    setup_for_fastapi(Auth(SECRET, **FAST), fastapi_app, pages=True)
    assert fastapi_app.url_path_for("authgate.api_keys") == PAGE
    setup()
    from django.urls import reverse

    assert reverse("authgate:api_keys") == PAGE
