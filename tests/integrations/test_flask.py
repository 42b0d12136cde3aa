"""What the shared HTTP contract suite does not cover for Flask.

``current_user`` and its errors, app factories, configuration from
``app.config``, ``flask authgate ...``, async views, the decorators' calling
forms, page redirects, Flask-SQLAlchemy models end to end.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from authgate import Auth, RoleMixin, UserMixin
from authgate.flask import (
    AuthGateState,
    anonymous_required,
    auth_required,
    current_user,
    login_required,
    permissions_accepted,
    roles_required,
    setup_for_flask,
)
from authgate.models import utcnow

SECRET = "flask-integration-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
PASSWORD = "correct horse battery"


def make_auth(**settings: Any) -> Auth:
    return Auth(SECRET, **{**FAST, "cookie_secure": False, **settings})


def create_app(auth: Auth) -> Flask:
    """An app factory, as users write them."""
    app = Flask(__name__)
    setup_for_flask(auth, app)

    @app.get("/me")
    @login_required
    def me() -> dict[str, Any]:
        return {"email": current_user.email}

    @app.get("/optional")
    def optional() -> dict[str, Any]:
        return {"email": current_user.email if current_user else None}

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    return app


def sign_up(client: FlaskClient, email: str = "alice@example.com", **fields: Any) -> str:
    response = client.post(
        "/auth/sign-up/email", json={"email": email, "password": PASSWORD, **fields}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth() -> Auth:
    return make_auth()


@pytest.fixture
def app(auth: Auth) -> Flask:
    return create_app(auth)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# -- current_user -------------------------------------------------------------------


def test_current_user_outside_an_app_says_which_call_is_missing() -> None:
    with pytest.raises(RuntimeError, match=re.escape("call setup_for_flask(auth, app) first")):
        _ = current_user.email


def test_current_user_on_an_app_without_setup_says_which_call_is_missing() -> None:
    app = Flask(__name__)
    with (
        app.test_request_context("/"),
        pytest.raises(RuntimeError, match=re.escape("call setup_for_flask(auth, app) first")),
    ):
        _ = current_user.is_authenticated


def test_decorated_view_on_an_app_without_setup_says_which_call_is_missing() -> None:
    app = Flask(__name__)
    app.testing = True
    app.add_url_rule("/x", "x", login_required(lambda: "never"))
    with pytest.raises(RuntimeError, match=re.escape("call setup_for_flask(auth, app) first")):
        app.test_client().get("/x")


def test_anonymous_current_user(app: Flask) -> None:
    with app.test_request_context("/"):
        assert not current_user
        assert current_user.is_authenticated is False
        assert current_user.is_anonymous is True
        assert current_user.has_role("admin") is False
        assert current_user.has_permission("post.edit") is False
        assert current_user.get_id() is None
    with app.app_context():  # no request: nobody is signed in
        assert current_user.is_anonymous


def test_current_user_is_the_signed_in_user_and_computed_once(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign_up(client)
    state: AuthGateState = app.extensions["authgate"]
    calls = []
    original = state.guard.principal

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(state.guard, "principal", counting)
    with app.test_request_context("/", headers=bearer(token)):
        assert current_user.email == "alice@example.com"
        assert current_user.is_authenticated and not current_user.is_anonymous
        assert current_user
    assert len(calls) == 1


def test_a_bad_credential_makes_an_anonymous_user(client: FlaskClient) -> None:
    response = client.get("/optional", headers=bearer("not-a-token"))
    assert response.get_json() == {"email": None}
    client.set_cookie("authgate_session", "forged")
    assert client.get("/optional").get_json() == {"email": None}


def test_views_that_ask_for_nothing_do_no_auth_work(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: AuthGateState = app.extensions["authgate"]

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("authenticated a request that did not ask for it")

    monkeypatch.setattr(state.api.credentials, "authenticate", boom)
    response = client.get("/public", headers=bearer("whatever"))
    assert response.status_code == 200


def test_current_user_in_templates(app: Flask, client: FlaskClient) -> None:
    app.add_url_rule(
        "/hello", "hello", lambda: render_template_string("Hello {{ current_user.email }}")
    )
    token = sign_up(client)
    assert client.get("/hello", headers=bearer(token)).get_data(as_text=True) == (
        "Hello alice@example.com"
    )
    anonymous = app.test_client()  # no session cookie
    assert anonymous.get("/hello").get_data(as_text=True) == "Hello None"


# -- app factories ------------------------------------------------------------------


def test_two_apps_with_two_auths_side_by_side() -> None:
    first, second = make_auth(), make_auth()
    app1, app2 = create_app(first), create_app(second)
    c1, c2 = app1.test_client(), app2.test_client()
    token1 = sign_up(c1, "one@example.com")
    token2 = sign_up(c2, "two@example.com")
    assert c1.get("/me", headers=bearer(token1)).get_json() == {"email": "one@example.com"}
    assert c2.get("/me", headers=bearer(token2)).get_json() == {"email": "two@example.com"}
    assert c1.get("/me", headers=bearer(token2)).status_code == 401
    assert c2.get("/me", headers=bearer(token1)).status_code == 401
    assert first.users.find_user(email="two@example.com") is None
    assert app1.extensions["authgate"].auth is first
    assert app2.extensions["authgate"].auth is second


def test_setup_returns_the_auth_and_refuses_a_second_call(auth: Auth) -> None:
    app = Flask(__name__)
    assert setup_for_flask(auth, app) is auth
    with pytest.raises(RuntimeError, match="already called"):
        setup_for_flask(auth, app)


def test_the_prefix_comes_from_settings_or_the_argument() -> None:
    app = Flask(__name__)
    setup_for_flask(make_auth(url_prefix="/account"), app)
    other = Flask(__name__)
    setup_for_flask(make_auth(), other, url_prefix="/api/auth")
    body = {"email": "a@example.com", "password": PASSWORD}
    assert app.test_client().post("/account/sign-up/email", json=body).status_code == 200
    assert other.test_client().post("/api/auth/sign-up/email", json=body).status_code == 200
    assert other.test_client().post("/auth/sign-up/email", json=body).status_code == 404
    assert other.test_client().get("/api/auth/no-such-endpoint").status_code == 404


# -- configuration from app.config ---------------------------------------------------


def test_setup_without_an_auth_reads_app_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHGATE_SECRET", raising=False)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        AUTHGATE_ARGON2_MEMORY_COST=1024,
        AUTHGATE_ARGON2_TIME_COST="1",
        AUTHGATE_USERNAMES=True,
        AUTHGATE_SESSION_LIFETIME=3600,
    )
    auth = setup_for_flask(None, app)
    assert app.extensions["authgate"].auth is auth
    assert auth.settings.secret == SECRET
    assert auth.settings.usernames is True
    assert auth.settings.session_lifetime == 3600
    assert auth.settings.argon2_time_cost == 1
    body = {"email": "a@example.com", "username": "alice", "password": PASSWORD}
    assert app.test_client().post("/auth/sign-up/email", json=body).status_code == 200


def test_an_unknown_authgate_key_names_the_closest(auth: Auth) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, AUTHGATE_SESION_LIFETIME=60)
    with pytest.raises(TypeError, match="AUTHGATE_SESSION_LIFETIME"):
        setup_for_flask(None, app)
    other = Flask(__name__)
    other.config["AUTHGATE_SESION_LIFETIME"] = 60
    with pytest.raises(TypeError, match="AUTHGATE_SESSION_LIFETIME"):
        setup_for_flask(auth, other)


def test_config_that_disagrees_with_the_given_auth_is_refused() -> None:
    auth = make_auth(session_lifetime=3600)
    app = Flask(__name__)
    app.config["AUTHGATE_SESSION_LIFETIME"] = 60
    with pytest.raises(ValueError, match="configure authgate in one place"):
        setup_for_flask(auth, app)
    assert "authgate" not in app.extensions
    secret_app = Flask(__name__)
    secret_app.config["AUTHGATE_SECRET"] = "another-secret-" + "y" * 32
    with pytest.raises(ValueError, match="one place") as info:
        setup_for_flask(auth, secret_app)
    assert "y" * 32 not in str(info.value)  # never echo a secret


def test_config_that_agrees_with_the_given_auth_is_fine() -> None:
    auth = make_auth(session_lifetime=3600, usernames=True)
    app = Flask(__name__)
    app.config.update(AUTHGATE_SESSION_LIFETIME="3600", AUTHGATE_USERNAMES=True)
    assert setup_for_flask(auth, app) is auth


def test_setup_without_any_secret_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTHGATE_SECRET", raising=False)
    with pytest.raises(TypeError, match="SECRET_KEY"):
        setup_for_flask(None, Flask(__name__))


# -- mail -------------------------------------------------------------------------


def test_send_email_and_the_apps_email_templates(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "authgate" / "email"
    folder.mkdir(parents=True)
    (folder / "reset_password_subject.txt").write_text("Reset your {{ site_name }} password")
    sent: list[Any] = []
    auth = make_auth(base_url="https://app.example", site_name="Acme")
    app = Flask(__name__, root_path=str(tmp_path))
    setup_for_flask(auth, app, send_email=sent.append)
    client = app.test_client()
    sign_up(client)
    assert (
        client.post("/auth/forgot-password", json={"email": "alice@example.com"}).status_code == 200
    )
    auth.mail.flush()
    resets = [m for m in sent if m.kind == "reset_password"]
    assert [(m.to, m.subject) for m in resets] == [
        ("alice@example.com", "Reset your Acme password")
    ]


# -- the command line ----------------------------------------------------------------


def test_flask_authgate_users_create(app: Flask, auth: Auth) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["authgate", "users", "create", "bob@example.com", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    user = auth.users.find_user(email="bob@example.com")
    assert user is not None and user.is_active
    listed = runner.invoke(args=["authgate", "users", "list"])
    assert listed.exit_code == 0 and "bob@example.com" in listed.output
    duplicate = runner.invoke(
        args=["authgate", "users", "create", "bob@example.com", "--password", PASSWORD]
    )
    assert duplicate.exit_code != 0


# -- decorators ---------------------------------------------------------------------


def test_async_views_are_protected(app: Flask, client: FlaskClient) -> None:
    @app.get("/async")
    @login_required
    async def async_view() -> dict[str, Any]:
        return {"email": current_user.email}

    @app.get("/async-roles")
    @roles_required("admin")
    async def async_admin() -> dict[str, Any]:
        return {"ok": True}

    assert client.get("/async").status_code == 401
    token = sign_up(client)
    assert client.get("/async", headers=bearer(token)).get_json() == {"email": "alice@example.com"}
    assert client.get("/async-roles", headers=bearer(token)).status_code == 403


def test_decorators_work_bare_and_called(app: Flask, client: FlaskClient) -> None:
    views = {
        "/bare": login_required(lambda: "ok"),
        "/called": login_required()(lambda: "ok"),
        "/auth-bare": auth_required(lambda: "ok"),
        "/auth-called": auth_required()(lambda: "ok"),
        "/anon-bare": anonymous_required(lambda: "ok"),
        "/anon-called": anonymous_required()(lambda: "ok"),
    }
    for path, view in views.items():
        app.add_url_rule(path, path, view)
    for path in ("/bare", "/called", "/auth-bare", "/auth-called"):
        assert client.get(path).status_code == 401, path
    for path in ("/anon-bare", "/anon-called"):
        assert client.get(path).status_code == 200, path
    token = sign_up(client)
    for path in ("/bare", "/called", "/auth-bare", "/auth-called"):
        assert client.get(path, headers=bearer(token)).status_code == 200, path
    for path in ("/anon-bare", "/anon-called"):
        assert client.get(path, headers=bearer(token)).status_code == 403, path


def test_decorators_refuse_bad_arguments_when_decorating() -> None:
    def view() -> str:
        return "x"

    with pytest.raises(TypeError, match=re.escape("@roles_required('admin')")):
        roles_required(view)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one role"):
        roles_required()
    with pytest.raises(TypeError, match="role names"):
        roles_required("admin", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="permission"):
        permissions_accepted()
    with pytest.raises(ValueError, match="'session', 'token', 'api_key' or 'basic'"):
        auth_required("cookie")  # type: ignore[arg-type]


def test_permissions_and_roles(app: Flask, auth: Auth, client: FlaskClient) -> None:
    app.add_url_rule(
        "/edit", "edit", permissions_accepted("post.edit", "post.delete")(lambda: "ok")
    )
    app.add_url_rule("/both", "both", roles_required("starving", ["artist", "x"])(lambda: "ok"))
    token = sign_up(client)
    assert client.get("/edit", headers=bearer(token)).status_code == 403
    editor = auth.users.create_role("editor")
    auth.users.add_permissions_to_role(editor, "post.edit")
    auth.users.add_role_to_user("alice@example.com", "editor")
    assert client.get("/edit", headers=bearer(token)).status_code == 200
    auth.users.add_role_to_user("alice@example.com", auth.users.find_or_create_role("starving"))
    assert client.get("/both", headers=bearer(token)).status_code == 403
    auth.users.add_role_to_user("alice@example.com", auth.users.find_or_create_role("artist"))
    assert client.get("/both", headers=bearer(token)).status_code == 200


# -- page requests ------------------------------------------------------------------

HTML = {"Accept": "text/html,application/xhtml+xml"}


def login_target(location: str) -> str:
    parts = urlsplit(location)
    assert parts.scheme == "" and parts.netloc == ""
    assert parts.path == "/auth/login"
    (target,) = parse_qs(parts.query)["next"]
    return target


def test_a_page_request_is_redirected_to_login_with_next(client: FlaskClient) -> None:
    response = client.get("/me", headers=HTML)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login?next=%2Fme"
    response = client.get("/me?tab=2&x=%2F%2Fevil", headers=HTML)
    assert login_target(response.headers["Location"]) == "/me?tab=2&x=%2F%2Fevil"
    assert client.get("/me").status_code == 401  # API requests get the JSON error


@pytest.mark.parametrize(
    "path",
    ["//evil.example/x", "/\\evil.example", "//%2Fevil.example", "/%5C%5Cevil.example", "///x"],
)
def test_a_malicious_path_never_redirects_off_site(auth: Auth, path: str) -> None:
    app = Flask(__name__)
    app.url_map.merge_slashes = False
    setup_for_flask(auth, app)
    app.add_url_rule("/<path:anything>", "any", login_required(lambda anything: "secret"))
    response = app.test_client().get(
        "/placeholder", headers=HTML, environ_overrides={"PATH_INFO": unquote(path)}
    )
    assert response.status_code == 303
    target = login_target(response.headers["Location"])
    assert target.startswith("/") and not target.startswith(("//", "/\\"))
    assert urlsplit(target).netloc == "" and "\\" not in target


def test_signed_in_page_requests_leave_anonymous_pages(client: FlaskClient, app: Flask) -> None:
    app.add_url_rule("/register", "register", anonymous_required(lambda: "form"))
    token = sign_up(client)
    response = client.get("/register", headers={**HTML, **bearer(token)})
    assert response.status_code == 303 and response.headers["Location"] == "/"


# -- Flask-SQLAlchemy models ---------------------------------------------------------

db = SQLAlchemy()


class AppRole(db.Model, RoleMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "integration_role"


class AppUser(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "integration_user"

    #: the model's own allow-list of what a visitor may set at sign-up (S4)
    __authgate_signup_fields__ = ("first_name",)

    id = db.Column(db.Integer, primary_key=True)
    first_name = db.Column(db.String(80))


@pytest.fixture
def sql_app(tmp_path: Path) -> Iterator[Flask]:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    db.init_app(app)
    with app.app_context():  # authgate creates the tables at construction
        auth = Auth(SECRET, db=db, user_model=AppUser, role_model=AppRole, **FAST)
    setup_for_flask(auth, app)

    @app.get("/profile")
    @login_required
    def profile() -> dict[str, Any]:
        return {"first_name": current_user.first_name, "id": current_user.id}

    @app.get("/admin")
    @roles_required("admin")
    def admin() -> dict[str, Any]:
        return {"ok": True}

    yield app
    with app.app_context():
        db.engine.dispose()


def test_flask_sqlalchemy_models_end_to_end(sql_app: Flask) -> None:
    client = sql_app.test_client()
    token = sign_up(client, "ada@example.com", first_name="Ada")
    assert client.get("/profile", headers=bearer(token)).get_json() == {
        "first_name": "Ada",
        "id": 1,
    }
    session = client.get("/auth/session", headers=bearer(token)).get_json()
    assert session["user"]["first_name"] == "Ada"
    assert client.get("/admin", headers=bearer(token)).status_code == 403
    auth: Auth = sql_app.extensions["authgate"].auth
    with sql_app.app_context():
        auth.users.add_role_to_user("ada@example.com", auth.users.find_or_create_role("admin"))
        count = db.session.execute(sa.select(sa.func.count()).select_from(AppUser)).scalar()
        assert count == 1
    assert client.get("/admin", headers=bearer(token)).get_json() == {"ok": True}


def test_flask_authgate_cli_with_flask_sqlalchemy(sql_app: Flask) -> None:
    runner = sql_app.test_cli_runner()
    result = runner.invoke(
        args=["authgate", "users", "create", "cli@example.com", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    with sql_app.app_context():
        user = db.session.execute(sa.select(AppUser)).scalar_one()
        assert user.email == "cli@example.com"


class _ServerMailer:
    """Called in authgate's mail threads (outside any app context), like an SMTP mailer."""

    synchronous = False

    def __init__(self) -> None:
        self.fail = False
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        from authgate.mail import MailDeliveryError

        if self.fail:
            raise MailDeliveryError("down", retryable=True)
        self.sent.append(message)


def test_flask_sqlalchemy_notices_leave_the_outbox_from_authgate_threads(tmp_path: Path) -> None:
    """The outbox's own threads use the store inside the app context (Flask-SQLAlchemy)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    db.init_app(app)
    mailer = _ServerMailer()
    later = [0]  # seconds the clock is moved on (past the retry delay)
    with app.app_context():
        auth = Auth(SECRET, db=db, user_model=AppUser, role_model=AppRole, **FAST,
                    clock=lambda: utcnow() + dt.timedelta(seconds=later[0]))  # fmt: skip
    setup_for_flask(auth, app, send_email=mailer)
    auth.outbox.poll_interval = 0.05
    client = app.test_client()
    try:
        token = sign_up(client, "ada@example.com")
        auth.mail.flush()  # the welcome went from a mail thread: claimed, sent, removed
        assert [m.kind for m in mailer.sent] == ["welcome"]
        with app.app_context():
            assert auth.outbox.pending() == []
        mailer.fail = True
        response = client.post(
            "/auth/change-password", headers=bearer(token),
            json={"current_password": PASSWORD, "new_password": "new staple battery horse"},
        )  # fmt: skip
        assert response.status_code == 200
        auth.mail.flush()
        mailer.fail = False  # the dispatcher thread resends it, in the app context too
        later[0] = 61
        deadline = time.monotonic() + 10
        while len(mailer.sent) < 2 or auth.outbox.dispatching:
            assert time.monotonic() < deadline, mailer.sent
            time.sleep(0.02)
        assert [m.kind for m in mailer.sent] == ["welcome", "password_changed"]
        with app.app_context():
            assert auth.outbox.pending() == []
    finally:
        auth.close()
        with app.app_context():
            db.engine.dispose()


# -- without Flask --------------------------------------------------------------------


def test_importing_without_flask_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flask", None)
    monkeypatch.delitem(sys.modules, "authgate.flask")
    with pytest.raises(ImportError, match=re.escape('pip install "authgate[flask]"')):
        importlib.import_module("authgate.flask")
