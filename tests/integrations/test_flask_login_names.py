"""Flask-Login's names on authgate: ``login_user``/``logout_user`` and the user object.

Code written against Flask-Login keeps working where the names overlap:
``current_user.is_authenticated``/``is_anonymous``/``get_id()``, an app's own
sign-in view calling ``login_user(user, remember=...)``, ``logout_user()``.
They start and end real authgate sessions (listed, revocable, audited).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from authgate import Auth, signals
from authgate.flask import current_user, login_required, login_user, logout_user, setup_for_flask

SECRET = "flask-login-names-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
PASSWORD = "correct horse battery"


def create_app(auth: Auth) -> Flask:
    app = Flask(__name__)
    setup_for_flask(auth, app)

    @app.post("/app-login")
    def app_login() -> dict[str, Any]:
        """An app's own sign-in (an SSO callback, say): it decides, authgate keeps the session."""
        data = request.get_json()
        user = auth.users.find_user(email=data["email"])
        ok = login_user(user, remember=bool(data.get("remember")))
        return {
            "ok": ok,
            "is_authenticated": current_user.is_authenticated,
            "id": current_user.get_id(),
        }

    @app.post("/app-logout")
    def app_logout() -> dict[str, Any]:
        logout_user()
        return {"is_anonymous": current_user.is_anonymous, "id": current_user.get_id()}

    @app.get("/me")
    @login_required
    def me() -> dict[str, Any]:
        return {"email": current_user.email, "is_anonymous": current_user.is_anonymous}

    return app


@pytest.fixture
def auth() -> Auth:
    return Auth(SECRET, **FAST, cookie_secure=False)


@pytest.fixture
def client(auth: Auth) -> FlaskClient:
    auth.users.create_user(email="alice@example.com", password=PASSWORD)
    return create_app(auth).test_client()


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("authgate_session")
    return None if cookie is None else cookie.value


def test_login_user_starts_a_real_session_and_sets_the_cookie(
    client: FlaskClient, auth: Auth
) -> None:
    logged_in: list[dict[str, Any]] = []

    def receiver(sender: Any, **extra: Any) -> None:
        logged_in.append(extra)

    with signals.user_logged_in.connected_to(receiver, sender=auth):
        response = client.post("/app-login", json={"email": "alice@example.com"})
    user = auth.users.find_user(email="alice@example.com")
    assert response.get_json() == {"ok": True, "is_authenticated": True, "id": str(user.id)}
    assert response.headers["X-CSRF-Token"]
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("authgate_session=") and "HttpOnly" in c for c in cookies)
    assert not any("Max-Age" in c for c in cookies)  # a browser-session cookie
    assert client.get("/me").get_json() == {"email": "alice@example.com", "is_anonymous": False}

    token = session_cookie(client)
    assert token is not None and auth.verify_token(token).email == "alice@example.com"
    (entry,) = auth.list_sessions(user)
    assert entry.current is False and entry.ip == "127.0.0.1"
    assert logged_in[0]["method"] == "app" and logged_in[0]["session_id"] == entry.id
    (event,) = auth.audit.events(user, kinds="sign_in")
    assert event.details == {"factor": "app"}
    assert auth.users.find_user(email="alice@example.com").sign_in_count == 1


def test_remember_gives_a_persistent_cookie_and_a_long_session(
    client: FlaskClient, auth: Auth
) -> None:
    response = client.post("/app-login", json={"email": "alice@example.com", "remember": True})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "authgate_session=" in c)
    assert f"Max-Age={auth.settings.remember_lifetime}" in cookie
    session = auth.get_session(session_cookie(client) or "")
    assert session.remember is True


def test_login_user_refuses_a_deactivated_user(client: FlaskClient, auth: Auth) -> None:
    auth.users.deactivate_user("alice@example.com")
    response = client.post("/app-login", json={"email": "alice@example.com"})
    assert response.get_json() == {"ok": False, "is_authenticated": False, "id": None}
    assert "Set-Cookie" not in response.headers
    assert auth.list_sessions(auth.users.get_user("alice@example.com")) == []


def test_logout_user_revokes_the_session_and_clears_the_cookie(
    client: FlaskClient, auth: Auth
) -> None:
    client.post("/app-login", json={"email": "alice@example.com"})
    token = session_cookie(client)
    assert token is not None
    csrf = client.get_cookie("authgate_csrf")
    assert csrf is not None
    out = client.post("/app-logout", headers={"X-CSRF-Token": csrf.value})
    assert out.get_json() == {"is_anonymous": True, "id": None}
    assert any("authgate_session=;" in c and "Max-Age=0" in c for c in out.headers.getlist("Set-Cookie"))
    assert auth.verify_token(token) is None  # revoked server-side, not only forgotten
    assert client.get("/me").status_code == 401


def test_logout_user_revokes_a_bearer_token_too(client: FlaskClient, auth: Auth) -> None:
    token = auth.sign_in("alice@example.com", PASSWORD).token
    assert token is not None
    other = client.application.test_client()
    other.post("/app-logout", headers={"Authorization": f"Bearer {token}"})
    assert auth.verify_token(token) is None


def test_the_helpers_need_a_request() -> None:
    auth = Auth(SECRET, **FAST)
    app = create_app(auth)
    user = auth.users.create_user(email="bob@example.com", password=PASSWORD)
    with app.app_context(), pytest.raises(RuntimeError, match="while Flask handles a request"):
        login_user(user)
    with pytest.raises(RuntimeError, match="setup_for_flask"):
        logout_user()


# -- the core: auth.login_user --------------------------------------------------------


def test_auth_login_user_reads_the_user_again(auth: Auth) -> None:
    user = auth.users.create_user(email="carol@example.com", password=PASSWORD)
    auth.users.set_password(user.id, "another password 1")  # ``user`` is now stale here
    result = auth.login_user(user, ip="203.0.113.9")
    assert result.token is not None and auth.verify_token(result.token) is not None
    assert result.session is not None and result.session.ip == "203.0.113.9"
    auth.users.set_password(user.id, "a third password 2")
    assert auth.verify_token(result.token) is None  # bound to the stamp it was started with


def test_auth_login_user_refuses_missing_and_disabled_users(auth: Auth) -> None:
    from authgate import AccountDisabled, UserNotFound, ValidationError

    user = auth.users.create_user(email="dave@example.com", password=PASSWORD)
    with pytest.raises(ValidationError):
        auth.login_user(user, remember="yes")  # type: ignore[arg-type]
    auth.users.deactivate_user(user)
    with pytest.raises(AccountDisabled):
        auth.login_user(user)
    auth.users.delete_user(user)
    with pytest.raises(UserNotFound):
        auth.login_user(user)
