"""What the shared HTTP contract suite does not cover for Bottle.

``current_user()`` and its errors, several apps side by side, mounted apps,
the decorators' calling forms, page redirects, body limits for chunked
requests, and the client address Bottle would take from ``X-Forwarded-For``.
"""

from __future__ import annotations

import importlib
import io
import json
import re
import sys
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import bottle
import pytest
from werkzeug.test import Client, TestResponse, create_environ

from authgate import Auth
from authgate.bottle import (
    AuthGatePlugin,
    anonymous_required,
    auth_required,
    current_user,
    login_required,
    permissions_required,
    roles_accepted,
    roles_required,
    setup_for_bottle,
)
from authgate.web.http import MAX_BODY_BYTES

SECRET = "bottle-integration-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def make_auth(**settings: Any) -> Auth:
    return Auth(SECRET, **{**FAST, "cookie_secure": False, **settings})


def new_app() -> bottle.Bottle:
    app = bottle.Bottle()
    app.config["catchall"] = False  # let exceptions reach the test
    return app


def create_app(auth: Auth) -> bottle.Bottle:
    app = new_app()
    setup_for_bottle(auth, app)

    @app.get("/me")
    @login_required
    def me() -> dict[str, Any]:
        return {"email": current_user().email}

    @app.get("/optional")
    def optional() -> dict[str, Any]:
        user = current_user()
        return {"email": user.email if user else None}

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    return app


def sign_up(client: Client, email: str = "alice@example.com") -> str:
    response = client.post("/auth/sign-up/email", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth() -> Auth:
    return make_auth()


@pytest.fixture
def app(auth: Auth) -> bottle.Bottle:
    return create_app(auth)


@pytest.fixture
def client(app: bottle.Bottle) -> Client:
    return Client(app, use_cookies=False)


# -- current_user() -----------------------------------------------------------------


def test_current_user_outside_a_request_says_which_call_is_missing() -> None:
    with pytest.raises(RuntimeError, match=re.escape("call setup_for_bottle(auth, app) first")):
        current_user()


def test_an_app_without_setup_says_which_call_is_missing() -> None:
    app = new_app()
    app.get("/x", callback=login_required(lambda: "never"))
    app.get("/y", callback=lambda: current_user().email)
    for path in ("/x", "/y"):
        with pytest.raises(RuntimeError, match=re.escape("call setup_for_bottle(auth, app) first")):
            Client(app).get(path)


def test_anonymous_current_user(app: bottle.Bottle, client: Client) -> None:
    seen: list[Any] = []
    app.get("/who", callback=lambda: seen.append(current_user()) or "ok")
    assert client.get("/who").status_code == 200
    (user,) = seen
    assert not user
    assert user.is_authenticated is False and user.is_anonymous is True
    assert user.has_role("admin") is False and user.has_permission("x") is False
    assert client.get("/optional", headers=bearer("not-a-token")).get_json() == {"email": None}


def test_current_user_is_computed_once_per_request(
    app: bottle.Bottle, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = next(p for p in app.plugins if isinstance(p, AuthGatePlugin))
    calls = []
    original = plugin.guard.principal

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(plugin.guard, "principal", counting)
    app.get("/twice", callback=lambda: {"emails": [current_user().email, current_user().email]})
    token = sign_up(client)
    response = client.get("/twice", headers=bearer(token))
    assert response.get_json() == {"emails": ["alice@example.com"] * 2}
    assert len(calls) == 1


def test_decorated_views_see_the_principal_without_a_second_lookup(
    app: bottle.Bottle, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = next(p for p in app.plugins if isinstance(p, AuthGatePlugin))
    token = sign_up(client)
    monkeypatch.setattr(plugin.guard, "principal", lambda *a, **k: pytest.fail("looked up twice"))
    assert client.get("/me", headers=bearer(token)).get_json() == {"email": "alice@example.com"}


def test_views_that_ask_for_nothing_do_no_auth_work(
    app: bottle.Bottle, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = next(p for p in app.plugins if isinstance(p, AuthGatePlugin))
    monkeypatch.setattr(
        plugin.guard.api.credentials, "authenticate", lambda *a, **k: pytest.fail("auth work")
    )
    assert client.get("/public", headers=bearer("whatever")).status_code == 200


# -- several apps -------------------------------------------------------------------


def test_two_apps_with_two_auths_side_by_side() -> None:
    first, second = make_auth(), make_auth()
    c1 = Client(create_app(first), use_cookies=False)
    c2 = Client(create_app(second), use_cookies=False)
    token1, token2 = sign_up(c1, "one@example.com"), sign_up(c2, "two@example.com")
    assert c1.get("/me", headers=bearer(token1)).get_json() == {"email": "one@example.com"}
    assert c2.get("/me", headers=bearer(token2)).get_json() == {"email": "two@example.com"}
    assert c1.get("/me", headers=bearer(token2)).status_code == 401
    assert c2.get("/me", headers=bearer(token1)).status_code == 401


def test_setup_returns_the_auth_and_refuses_a_second_call(auth: Auth) -> None:
    app = bottle.Bottle()
    assert setup_for_bottle(auth, app) is auth
    with pytest.raises(bottle.PluginError, match="already called"):
        setup_for_bottle(auth, app)


def test_a_mounted_app_uses_its_own_setup(auth: Auth) -> None:
    parent = new_app()
    child = create_app(auth)
    parent.mount("/child/", child)
    client = Client(parent, use_cookies=False)
    token = sign_up_at(client, "/child/auth/sign-up/email")
    assert client.get("/child/me", headers=bearer(token)).get_json() == {
        "email": "alice@example.com"
    }
    response = client.get("/child/me", headers=HTML)
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == ["/child/me"]


def sign_up_at(client: Client, path: str) -> str:
    response = client.post(path, json={"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["token"]
    return token


def test_the_prefix_comes_from_settings_or_the_argument() -> None:
    body = {"email": "a@example.com", "password": PASSWORD}
    app = bottle.Bottle()
    setup_for_bottle(make_auth(url_prefix="/account"), app)
    assert Client(app).post("/account/sign-up/email", json=body).status_code == 200
    other = bottle.Bottle()
    setup_for_bottle(make_auth(), other, url_prefix="/api/auth")
    assert Client(other).post("/api/auth/sign-up/email", json=body).status_code == 200
    assert Client(other).get("/api/auth/no-such-endpoint").status_code == 404


def test_send_email_is_used() -> None:
    sent: list[Any] = []
    app = new_app()
    setup_for_bottle(make_auth(base_url="https://app.example"), app, send_email=sent.append)
    client = Client(app, use_cookies=False)
    sign_up(client)
    auth_in_use = next(p for p in app.plugins if isinstance(p, AuthGatePlugin)).auth
    assert (
        client.post("/auth/forgot-password", json={"email": "alice@example.com"}).status_code == 200
    )
    auth_in_use.mail.flush()
    assert [m.to for m in sent if m.kind == "reset_password"] == ["alice@example.com"]


# -- decorators ---------------------------------------------------------------------


def test_decorators_work_bare_and_called(app: bottle.Bottle, client: Client) -> None:
    def ok() -> str:
        return "ok"

    app.get("/bare", callback=login_required(ok))
    app.get("/called", callback=login_required()(ok))
    app.get("/auth-bare", callback=auth_required(ok))
    app.get("/auth-called", callback=auth_required()(ok))
    app.get("/anon-bare", callback=anonymous_required(ok))
    app.get("/anon-called", callback=anonymous_required()(ok))
    protected = ("/bare", "/called", "/auth-bare", "/auth-called")
    anonymous = ("/anon-bare", "/anon-called")
    for path in protected:
        assert client.get(path).status_code == 401, path
    for path in anonymous:
        assert client.get(path).status_code == 200, path
    token = sign_up(client)
    for path in protected:
        assert client.get(path, headers=bearer(token)).status_code == 200, path
    for path in anonymous:
        assert client.get(path, headers=bearer(token)).status_code == 403, path


def test_route_arguments_reach_the_view(app: bottle.Bottle, client: Client) -> None:
    @app.get("/items/<item_id:int>")
    @roles_accepted("reader", "admin")
    def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "by": current_user().email}

    token = sign_up(client)
    assert client.get("/items/7", headers=bearer(token)).status_code == 403
    auth: Auth = next(p for p in app.plugins if isinstance(p, AuthGatePlugin)).auth
    auth.users.add_role_to_user("alice@example.com", auth.users.find_or_create_role("reader"))
    assert client.get("/items/7", headers=bearer(token)).get_json() == {
        "id": 7,
        "by": "alice@example.com",
    }


def test_decorators_refuse_bad_arguments_when_decorating() -> None:
    def view() -> str:
        return "x"

    with pytest.raises(TypeError, match=re.escape("@roles_required('admin')")):
        roles_required(view)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one permission"):
        permissions_required()
    with pytest.raises(ValueError, match="'session', 'token', 'api_key' or 'basic'"):
        auth_required("cookie")  # type: ignore[arg-type]


# -- page requests ------------------------------------------------------------------


def login_target(response: TestResponse) -> str:
    assert response.status_code == 303
    parts = urlsplit(response.headers["Location"])
    assert parts.scheme == "" and parts.netloc == "" and parts.path == "/auth/login"
    (target,) = parse_qs(parts.query)["next"]
    return target


def test_a_page_request_is_redirected_to_login_with_next(client: Client) -> None:
    response = client.get("/me", headers=HTML)
    assert response.headers["Location"] == "/auth/login?next=%2Fme"
    assert login_target(client.get("/me?tab=2", headers=HTML)) == "/me?tab=2"
    assert client.get("/me").status_code == 401


@pytest.mark.parametrize(
    "path", ["//evil.example/x", "/\\evil.example", "//%2Fevil.example", "/%5C%5Cevil.example"]
)
def test_a_malicious_path_never_redirects_off_site(auth: Auth, path: str) -> None:
    app = bottle.Bottle()
    setup_for_bottle(auth, app)
    app.get("/<anything:path>", callback=login_required(lambda anything: "secret"))
    environ = create_environ("/placeholder", headers=HTML)
    environ["PATH_INFO"] = unquote(path)
    response = Client(app).open(environ)
    target = login_target(response)
    assert target.startswith("/") and not target.startswith(("//", "/\\"))
    assert urlsplit(target).netloc == "" and "\\" not in target


# -- translation details --------------------------------------------------------------


def chunked(payload: bytes, size: int = 4096) -> bytes:
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return body + b"0\r\n\r\n"


def post_chunked(client: Client, path: str, payload: bytes) -> TestResponse:
    environ = create_environ(
        path,
        method="POST",
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        input_stream=io.BytesIO(chunked(payload)),
    )
    environ.pop("CONTENT_LENGTH", None)
    return client.open(environ)


def test_chunked_bodies_are_read_and_limited(client: Client) -> None:
    body = json.dumps({"email": "chunk@example.com", "password": PASSWORD}).encode()
    response = post_chunked(client, "/auth/sign-up/email", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    huge = b'{"email": "' + b"a" * (MAX_BODY_BYTES * 4) + b'"}'
    response = post_chunked(client, "/auth/sign-in/email", huge)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_malformed_chunked_body_is_a_json_400(client: Client) -> None:
    environ = create_environ(
        "/auth/sign-in/email", method="POST",
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        input_stream=io.BytesIO(b"zz\r\n{}\r\n"),
    )  # fmt: skip
    environ.pop("CONTENT_LENGTH", None)
    response = client.open(environ)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_x_forwarded_for_is_not_believed(client: Client) -> None:
    response = client.post(
        "/auth/sign-up/email",
        json={"email": "alice@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    )
    token = response.get_json()["token"]
    sessions = client.get("/auth/sessions", headers=bearer(token)).get_json()["sessions"]
    assert [s["ip"] for s in sessions] == ["192.0.2.1"]


# -- without Bottle -------------------------------------------------------------------


def test_importing_without_bottle_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bottle", None)
    monkeypatch.delitem(sys.modules, "authgate.bottle")
    with pytest.raises(ImportError, match=re.escape('pip install "authgate[bottle]"')):
        importlib.import_module("authgate.bottle")
