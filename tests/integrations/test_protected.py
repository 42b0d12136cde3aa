"""Authcode's decorator on the ``Auth`` itself: ``@auth.protected(...)`` in Flask and Bottle.

The same app is built on each framework; the decorator picks the framework
serving the request when the view runs (the core imports neither).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import bottle
import pytest
from flask import Flask
from werkzeug.test import Client, TestResponse

from authgate import Auth
from authgate.bottle import current_user as bottle_user, setup_for_bottle
from authgate.flask import current_user as flask_user, setup_for_flask

SECRET = "protected-decorator-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def make_auth() -> Auth:
    return Auth(SECRET, **FAST, cookie_secure=False)


def owns(user: Any, name: str) -> bool:
    """An Authcode test: the view's URL argument must be the user's own name."""
    return bool(user.email.startswith(name + "@"))


def flask_app(auth: Auth) -> Flask:
    app = Flask(__name__)
    setup_for_flask(auth, app)

    def me() -> dict[str, Any]:
        return {"email": flask_user.email}

    app.add_url_rule("/index", "index", auth.protected()(me), methods=["GET", "POST"])
    app.add_url_rule("/admin", "admin", auth.protected(role="admin")(me))
    app.add_url_rule("/staff", "staff", auth.protected(roles=["editor", "admin"])(me))
    app.add_url_rule("/hook", "hook", auth.protected(csrf=False)(me), methods=["POST"])
    app.add_url_rule("/strict", "strict", auth.protected(csrf=True)(me))

    @app.get("/owner/<name>")
    @auth.protected(owns)
    def owner(name: str) -> dict[str, Any]:
        return {"email": flask_user.email, "name": name}

    @app.get("/async")
    @auth.protected(role="admin")
    async def async_view() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"email": flask_user.email}

    return app


def bottle_app(auth: Auth) -> bottle.Bottle:
    app = bottle.Bottle()
    app.config["catchall"] = False
    setup_for_bottle(auth, app)

    def me() -> dict[str, Any]:
        return {"email": bottle_user().email}

    app.route("/index", ["GET", "POST"], auth.protected()(me))
    app.route("/admin", "GET", auth.protected(role="admin")(me))
    app.route("/staff", "GET", auth.protected(roles=["editor", "admin"])(me))
    app.route("/hook", "POST", auth.protected(csrf=False)(me))
    app.route("/strict", "GET", auth.protected(csrf=True)(me))

    @app.get("/owner/<name>")
    @auth.protected(owns)
    def owner(name: str) -> dict[str, Any]:
        return {"email": bottle_user().email, "name": name}

    return app


BUILDERS: dict[str, Callable[[Auth], Any]] = {"flask": flask_app, "bottle": bottle_app}


@pytest.fixture(params=sorted(BUILDERS))
def setup(request: pytest.FixtureRequest) -> tuple[Auth, Client]:
    auth = make_auth()
    return auth, Client(BUILDERS[request.param](auth))


def sign_in(client: Client, auth: Auth, email: str, *roles: str) -> tuple[str, str]:
    """Create the user and sign in by cookie; ``(token, csrf token)``."""
    auth.users.create_user(email=email, password=PASSWORD, roles=list(roles))
    response = client.post("/auth/sign-in/email", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["token"], response.headers["X-CSRF-Token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: TestResponse) -> str:
    return str(response.get_json()["error"]["code"])


def test_a_signed_in_user_is_required(setup: tuple[Auth, Client]) -> None:
    auth, client = setup
    anonymous = client.get("/index")
    assert anonymous.status_code == 401 and error_code(anonymous) == "UNAUTHORIZED"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    page = client.get("/index", headers=HTML)
    assert page.status_code == 303 and page.headers["Location"] == "/auth/login?next=%2Findex"
    assert error_code(client.get("/index", headers=bearer("forged"))) == "INVALID_TOKEN"

    token, _ = sign_in(client, auth, "alice@example.com")
    assert client.get("/index").get_json() == {"email": "alice@example.com"}  # the cookie
    fresh = Client(client.application)
    assert fresh.get("/index", headers=bearer(token)).get_json() == {"email": "alice@example.com"}


def test_one_role_or_any_of_several(setup: tuple[Auth, Client]) -> None:
    auth, client = setup
    token, _ = sign_in(client, auth, "editor@example.com", "editor")
    assert error_code(client.get("/admin", headers=bearer(token))) == "FORBIDDEN"
    assert client.get("/admin", headers=bearer(token)).status_code == 403
    assert client.get("/staff", headers=bearer(token)).status_code == 200

    other = Client(client.application)
    admin, _ = sign_in(other, auth, "admin@example.com", "admin")
    assert other.get("/admin", headers=bearer(admin)).status_code == 200
    assert other.get("/staff", headers=bearer(admin)).status_code == 200
    plain = Client(client.application)
    member, _ = sign_in(plain, auth, "member@example.com", "member")
    assert plain.get("/staff", headers=bearer(member)).status_code == 403


def test_csrf_is_checked_on_unsafe_cookie_requests_unless_the_view_says_not(
    setup: tuple[Auth, Client],
) -> None:
    auth, client = setup
    _, csrf = sign_in(client, auth, "alice@example.com")
    refused = client.post("/index")
    assert refused.status_code == 403 and error_code(refused) == "CSRF_FAILED"
    assert client.post("/index", headers={"X-CSRF-Token": csrf}).status_code == 200
    forged = client.post("/index", headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert error_code(forged) == "CSRF_FAILED"
    # csrf=False: the cookie alone is enough on this view, and only there.
    assert client.post("/hook").get_json() == {"email": "alice@example.com"}
    # Without a credential csrf=False still requires a user.
    assert Client(client.application).post("/hook").status_code == 401


def test_csrf_true_checks_every_method(setup: tuple[Auth, Client]) -> None:
    auth, client = setup
    token, csrf = sign_in(client, auth, "alice@example.com")
    assert error_code(client.get("/strict")) == "CSRF_FAILED"
    assert client.get("/strict", headers={"X-CSRF-Token": csrf}).status_code == 200
    # A bearer token is never sent by a browser on its own: no CSRF token needed.
    fresh = Client(client.application)
    assert fresh.get("/strict", headers=bearer(token)).status_code == 200


def test_tests_get_the_user_and_the_views_arguments(setup: tuple[Auth, Client]) -> None:
    auth, client = setup
    token, _ = sign_in(client, auth, "alice@example.com")
    ok = client.get("/owner/alice", headers=bearer(token))
    assert ok.get_json() == {"email": "alice@example.com", "name": "alice"}
    refused = client.get("/owner/bob", headers=bearer(token))
    assert refused.status_code == 403 and error_code(refused) == "FORBIDDEN"
    # Tests run only for a signed-in user.
    assert Client(client.application).get("/owner/alice").status_code == 401


def test_async_flask_views_are_protected() -> None:
    auth = make_auth()
    client = Client(flask_app(auth))
    assert client.get("/async").status_code == 401
    token, _ = sign_in(client, auth, "admin@example.com", "admin")
    assert client.get("/async", headers=bearer(token)).get_json() == {"email": "admin@example.com"}
    member = Client(client.application)
    other, _ = sign_in(member, auth, "member@example.com")
    assert member.get("/async", headers=bearer(other)).status_code == 403


def test_misuse_fails_when_decorating() -> None:
    auth = make_auth()

    def view() -> str:
        return "secret"

    with pytest.raises(TypeError, match=r"@auth\.protected\(\)"):
        auth.protected(view)  # used bare: the view would become a test
    with pytest.raises(TypeError, match="list of role names"):
        auth.protected(roles="admin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="role"):
        auth.protected(role="")
    with pytest.raises(TypeError, match="csrf"):
        auth.protected(csrf="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decorates a view"):
        auth.protected()("not a view")  # type: ignore[type-var]


def test_outside_a_request_it_says_what_to_set_up() -> None:
    auth = make_auth()
    view = auth.protected()(lambda: "secret")
    with pytest.raises(RuntimeError, match="setup_for_flask"):
        view()


@pytest.mark.parametrize("framework", sorted(BUILDERS))
def test_another_auth_than_the_apps_is_refused(framework: str) -> None:
    served, other = make_auth(), make_auth()
    app = BUILDERS[framework](served)
    view = other.protected()(lambda: "secret")
    if framework == "flask":
        app.config["PROPAGATE_EXCEPTIONS"] = True
        app.add_url_rule("/other", "other", view)
    else:
        app.route("/other", "GET", view)
    with pytest.raises(RuntimeError, match="not the one set up"):
        Client(app).get("/other")
