"""What the shared HTTP contract suite does not cover for Django.

``request.auth_user`` from the middleware, CSRF with Django's middleware on,
``manage.py authgate``, configuration from ``AUTHGATE_*`` settings (and the
system check), the decorators' calling forms, page redirects, migrations,
mail through Django's email backend, and the Django ORM store end to end.
Django is configured once per process by ``tests.django_project``.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authgate import Auth
from authgate.stores import MemoryStore
from tests.django_project import SECRET_KEY, empty_tables, setup, wsgi_app
from tests.web.clients import ContractClient, WSGIClient

PASSWORD = "correct horse battery"
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(autouse=True)
def django_project() -> Iterator[None]:
    """Django configured (once per process); authgate's tables emptied after each test."""
    setup()
    yield
    empty_tables()


@pytest.fixture
def app_auth() -> Auth:
    """The project's own ``Auth`` (built from the settings, users in the Django database)."""
    from authgate.django import get_auth

    return get_auth()


@pytest.fixture
def client(app_auth: Auth) -> ContractClient:
    return WSGIClient(wsgi_app(app_auth), "django")


def memory_auth(**settings: Any) -> Auth:
    return Auth(SECRET_KEY, store=MemoryStore(), **{**FAST, "cookie_secure": False, **settings})


def sign_up(client: ContractClient, email: str = "alice@example.com") -> str:
    response = client.post("/auth/sign-up/email", json={"email": email, "password": PASSWORD})
    assert response.status == 200, response.body
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the app and its configuration ---------------------------------------------------


def test_the_app_stores_users_in_the_django_database(client: ContractClient) -> None:
    from authgate.django.models import Session, User
    from authgate.django.store import DjangoStore

    sign_up(client)

    user = User.objects.get(email_canonical="alice@example.com")
    assert user.role_names == []
    assert Session.objects.filter(user=user).count() == 1
    from authgate.django import get_auth

    assert isinstance(get_auth().store, DjangoStore)


def test_the_secret_defaults_to_secret_key() -> None:
    from django.apps import apps
    from django.test import override_settings

    config = apps.get_app_config("authgate")
    assert config.build_auth().settings.secret == SECRET_KEY
    with override_settings(AUTHGATE_SECRET="s" * 40):
        assert config.build_auth().settings.secret == "s" * 40


def test_settings_come_from_authgate_names() -> None:
    from django.apps import apps
    from django.test import override_settings

    with override_settings(AUTHGATE_CONFIRMABLE=True, AUTHGATE_SESSION_LIFETIME="3600"):
        auth = apps.get_app_config("authgate").build_auth()
    assert auth.settings.confirmable is True
    assert auth.settings.session_lifetime == 3600
    assert auth.settings.argon2_memory_cost == 1024


def test_an_unknown_setting_names_the_closest() -> None:
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError
    from django.test import override_settings

    with override_settings(AUTHGATE_REGISTRABLE=False):
        with pytest.raises(ImproperlyConfigured, match="did you mean AUTHGATE_REGISTERABLE"):
            apps.get_app_config("authgate").build_auth()
        with pytest.raises(SystemCheckError, match=r"authgate\.E001.*AUTHGATE_REGISTERABLE"):
            call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("check", stdout=io.StringIO())  # fine again


def test_a_database_url_selects_the_sqlalchemy_store() -> None:
    from django.apps import apps
    from django.test import override_settings

    from authgate.stores.sqlalchemy import SQLAlchemyStore

    with override_settings(AUTHGATE_DATABASE_URL="sqlite://"):
        auth = apps.get_app_config("authgate").build_auth()
    try:
        assert isinstance(auth.store, SQLAlchemyStore)
    finally:
        auth.store.close()


def test_mail_goes_through_djangos_email_backend() -> None:
    from django.apps import apps
    from django.core import mail
    from django.test import override_settings

    mail.outbox = []
    with override_settings(AUTHGATE_BASE_URL="https://app.example", AUTHGATE_SITE_NAME="Acme"):
        auth = apps.get_app_config("authgate").build_auth()
    auth.sign_up("alice@example.com", PASSWORD)
    auth.forgot_password("alice@example.com")

    (sent,) = [m for m in mail.outbox if "reset" in m.subject.lower()]
    assert sent.to == ["alice@example.com"]
    assert "Acme" in sent.subject
    assert "https://app.example/auth/" in sent.body
    assert sent.alternatives and sent.alternatives[0][1] == "text/html"


def test_migrations_are_in_sync_with_the_models() -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("makemigrations", "authgate", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_use_auth_serves_another_auth(client: ContractClient) -> None:
    from authgate.django import get_auth, use_auth

    other = memory_auth()
    with use_auth(other):
        assert get_auth() is other
    assert get_auth() is not other
    token = other.sign_up("bob@example.com", PASSWORD).token
    assert token is not None
    assert client.get("/protected", headers=bearer(token)).status == 401
    served = WSGIClient(wsgi_app(other), "django")
    assert served.get("/protected", headers=bearer(token)).json() == {"email": "bob@example.com"}


# -- request.auth_user ---------------------------------------------------------------


def test_the_middleware_sets_auth_user(client: ContractClient) -> None:
    token = sign_up(client)
    cookies = dict(client.cookies)

    assert client.get("/optional", headers=bearer(token)).json() == {"email": "alice@example.com"}
    assert client.get("/optional").json() == {"email": "alice@example.com"}  # the cookie
    client.cookies.clear()
    assert client.get("/optional").json() == {"email": None}
    assert client.get("/optional", headers=bearer("not-a-token")).json() == {"email": None}
    client.cookies.update(cookies)
    # A view that is not protected keeps Django's CSRF check.
    assert client.post("/optional").status == 403


def test_auth_user_is_a_user_or_none_and_looked_up_lazily(app_auth: Auth) -> None:
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from authgate.django import use_auth
    from authgate.django.middleware import AuthGateMiddleware

    token = app_auth.sign_up("alice@example.com", PASSWORD).token
    seen: list[Any] = []
    middleware = AuthGateMiddleware(lambda request: seen.append(request) or request)
    factory = RequestFactory()

    with use_auth(app_auth), CaptureQueriesContext(connection) as queries:
        anonymous = middleware(factory.get("/x"))
        signed_in = middleware(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {token}"))
        assert len(queries) == 0  # nothing looked up yet
        assert anonymous.auth_user is None
        assert signed_in.auth_user.email == "alice@example.com"
        assert signed_in.auth_user is signed_in.auth_user  # looked up once
        lookups = len(queries)
        signed_in.auth_user  # noqa: B018
        assert len(queries) == lookups
    assert isinstance(signed_in, type(factory.get("/x")))
    # A cookie-authenticated unsafe request without any CSRF token is anonymous.
    from authgate.django.views import api_for

    factory.cookies["authgate_session"] = token
    csrf = api_for(app_auth, "/auth").credentials.csrf_token(token)
    with use_auth(app_auth):
        assert middleware(factory.post("/x")).auth_user is None
        posted = middleware(factory.post("/x", HTTP_X_CSRF_TOKEN=csrf))
        assert posted.auth_user.email == "alice@example.com"


def test_views_that_ask_for_nothing_do_no_auth_work(client: ContractClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sign_up(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/public").json() == {"ok": True}
    assert len(queries) == 0


def test_a_session_lookup_is_one_query_plus_roles(app_auth: Auth) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from authgate.tokens import token_digest

    app_auth.users.create_user(email="alice@example.com", password=PASSWORD, roles=["a", "b"])
    token = app_auth.sign_in("alice@example.com", PASSWORD).token
    assert token is not None
    with CaptureQueriesContext(connection) as queries:
        found = app_auth.store.get_session(token_digest(token))
    assert found is not None and found[1].role_names == ["a", "b"]
    sessions_query, roles_query = (q["sql"] for q in queries.captured_queries)
    assert "authgate_sessions" in sessions_query and "authgate_users" in sessions_query
    assert "authgate_roles" in roles_query


# -- CSRF with Django's CsrfViewMiddleware on -----------------------------------------


def test_bearer_requests_need_no_csrf_token(client: ContractClient) -> None:
    token = sign_up(client)
    client.cookies.clear()

    assert client.post("/protected", headers=bearer(token)).json() == {"email": "alice@example.com"}
    assert client.post("/auth/sign-out", headers=bearer(token)).json() == {"success": True}


def test_cookie_requests_need_the_csrf_token(client: ContractClient) -> None:
    sign_up(client)
    csrf = client.cookie("authgate_csrf")
    assert csrf

    for path in ("/protected", "/auth/revoke-other-sessions"):
        refused = client.post(path)
        assert refused.status == 403 and refused.error_code == "CSRF_FAILED", path
        assert refused.header("Content-Type") == "application/json"
    accepted = client.post("/protected", headers={"X-CSRF-Token": csrf})
    assert accepted.json() == {"email": "alice@example.com"}
    wrong = client.post("/protected", headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert wrong.error_code == "CSRF_FAILED"


def test_djangos_own_csrf_token_is_accepted_for_cookie_requests(client: ContractClient) -> None:
    from django.middleware.csrf import _get_new_csrf_string

    sign_up(client)
    django_token = _get_new_csrf_string()
    client.cookies["csrftoken"] = django_token
    headers = {"X-CSRFToken": django_token}

    wrong = client.post("/protected", headers={"X-CSRFToken": _get_new_csrf_string()})
    assert wrong.status == 403 and wrong.error_code == "CSRF_FAILED"
    assert client.post("/protected", headers=headers).json() == {"email": "alice@example.com"}
    assert client.post("/auth/sign-out", headers=headers).json() == {"success": True}


def test_anonymous_views_keep_djangos_csrf_check(client: ContractClient) -> None:
    response = client.post("/anon")
    assert response.status == 403
    assert b"CSRF" in response.body  # Django's own page: anonymous forms stay protected


# -- decorators ----------------------------------------------------------------------


def _view(request: Any) -> Any:
    from django.http import JsonResponse

    user = request.auth_user
    return JsonResponse({"email": user.email if user is not None else None})


def test_decorators_work_bare_and_called() -> None:
    from django.test import RequestFactory

    from authgate.django import use_auth
    from authgate.django.decorators import anonymous_required, auth_required, login_required

    auth = memory_auth()
    token = auth.sign_up("alice@example.com", PASSWORD).token
    factory = RequestFactory()
    views = {
        "login-bare": login_required(_view),
        "login-called": login_required()(_view),
        "auth-bare": auth_required(_view),
        "auth-called": auth_required("token", "basic")(_view),
    }
    anonymous = {"anon-bare": anonymous_required(_view), "anon-called": anonymous_required()(_view)}
    with use_auth(auth):
        for name, view in views.items():
            assert view.csrf_exempt is True, name
            assert view(factory.get("/x")).status_code == 401, name
            ok = view(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {token}"))
            assert ok.status_code == 200 and b"alice@example.com" in ok.content, name
        for name, view in anonymous.items():
            assert not getattr(view, "csrf_exempt", False), name
            assert view(factory.get("/x")).status_code == 200, name
            assert view(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {token}")).status_code == 403
    assert views["login-bare"].__name__ == "_view"


def test_decorators_refuse_bad_arguments_when_decorating() -> None:
    from authgate.django.decorators import (
        auth_required,
        permissions_accepted,
        roles_accepted,
        roles_required,
    )

    with pytest.raises(TypeError, match=re.escape("@roles_required('admin')")):
        roles_required(_view)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one role"):
        roles_accepted()
    with pytest.raises(TypeError, match="role names"):
        roles_required("admin", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="permission"):
        permissions_accepted()
    with pytest.raises(ValueError, match="'session', 'token', 'api_key' or 'basic'"):
        auth_required("cookie")  # type: ignore[arg-type]


def test_roles_and_permissions(client: ContractClient, app_auth: Auth) -> None:
    token = sign_up(client)
    users = app_auth.users
    assert client.get("/admin", headers=bearer(token)).error_code == "FORBIDDEN"
    assert client.get("/perm", headers=bearer(token)).status == 403

    editor = users.create_role("editor", permissions=["post.edit"])
    users.add_role_to_user("alice@example.com", editor)
    assert client.get("/perm", headers=bearer(token)).status == 200
    assert client.get("/accepted", headers=bearer(token)).status == 200
    users.add_role_to_user("alice@example.com", "starving")
    assert client.get("/starving", headers=bearer(token)).status == 403
    users.add_role_to_user("alice@example.com", users.find_or_create_role("programmer"))
    assert client.get("/starving", headers=bearer(token)).status == 200
    assert client.get("/admin", headers=bearer(token)).status == 403


def test_async_views_are_protected() -> None:
    from asgiref.sync import iscoroutinefunction
    from django.http import JsonResponse
    from django.test import RequestFactory

    from authgate.django import use_auth
    from authgate.django.decorators import roles_required

    @roles_required("admin")
    async def admin(request: Any) -> JsonResponse:
        return JsonResponse({"email": request.auth_user.email})

    assert iscoroutinefunction(admin)
    auth = memory_auth()
    alice = auth.users.create_user(email="alice@example.com", password=PASSWORD, roles=["admin"])
    token = auth.sign_in(alice.email, PASSWORD).token
    factory = RequestFactory()
    with use_auth(auth):
        assert asyncio.run(admin(factory.get("/x"))).status_code == 401
        ok = asyncio.run(admin(factory.get("/x", HTTP_AUTHORIZATION=f"Bearer {token}")))
    assert ok.status_code == 200 and b"alice@example.com" in ok.content


# -- page requests -------------------------------------------------------------------


def login_target(location: str, login_path: str = "/auth/login") -> str:
    parts = urlsplit(location)
    assert parts.scheme == "" and parts.netloc == ""
    assert parts.path == login_path
    (target,) = parse_qs(parts.query)["next"]
    return target


def test_a_page_request_is_redirected_to_login_with_next(client: ContractClient) -> None:
    response = client.get("/protected", headers=HTML)
    assert response.status == 303
    assert response.header("Location") == "/auth/login?next=%2Fprotected"
    response = client.get("/protected?tab=2&x=%2F%2Fevil", headers=HTML)
    assert login_target(response.header("Location") or "") == "/protected?tab=2&x=%2F%2Fevil"
    assert client.get("/protected").error_code == "UNAUTHORIZED"  # API requests get JSON


def test_the_login_redirect_follows_where_the_api_is_mounted() -> None:
    client = WSGIClient(wsgi_app(memory_auth(), "/api/auth"), "django")
    response = client.get("/protected", headers=HTML)
    assert login_target(response.header("Location") or "", "/api/auth/login") == "/protected"
    assert client.post("/api/auth/sign-up/email", json={}).error_code == "VALIDATION_ERROR"
    assert client.get("/auth/session").status == 404


def test_a_malicious_path_never_redirects_off_site(client: ContractClient) -> None:
    from django.test import RequestFactory

    from authgate.django.decorators import login_required

    view = login_required(_view)
    for path in ("//evil.example/x", "/\\evil.example", "///x"):
        response = view(RequestFactory().get(path, HTTP_ACCEPT=HTML["Accept"]))
        assert response.status_code == 303
        target = login_target(response["Location"])
        assert target.startswith("/") and not target.startswith(("//", "/\\")), path


# -- manage.py authgate --------------------------------------------------------------


def call(*args: str) -> tuple[str, str]:
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    call_command("authgate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_manage_py_authgate_users_create(app_auth: Auth) -> None:
    from django.core.management.base import CommandError

    assert "created role admin" in call("roles", "create", "admin")[0]
    out, _ = call("users", "create", "carol@example.com", "--password", PASSWORD, "--role", "admin")
    assert "created user carol@example.com" in out

    carol = app_auth.users.get_user("carol@example.com")
    assert carol is not None and carol.is_active and carol.email_confirmed
    assert carol.role_names == ["admin"]
    assert app_auth.sign_in("carol@example.com", PASSWORD).token
    assert "carol@example.com" in call("users", "list")[0]

    with pytest.raises(CommandError) as info:
        call("users", "create", "carol@example.com", "--password", PASSWORD)
    assert info.value.returncode == 1


def test_manage_py_authgate_reports_errors_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("authgate", "users", "show", "nobody@example.com", stderr=err)
    assert err.getvalue() == "error: no user with email nobody@example.com\n"

    from authgate.django.management.commands.authgate import Command

    Command().run_from_argv(["manage.py", "authgate", "roles", "create", "editor"])
    assert capsys.readouterr().out == "created role editor\n"
    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["manage.py", "authgate", "roles", "create", "editor"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_manage_py_authgate_audit_on_the_django_database(app_auth: Auth) -> None:
    call("users", "create", "dora@example.com", "--password", PASSWORD)
    app_auth.sign_in("dora@example.com", PASSWORD, ip="203.0.113.9")
    out, _ = call("audit", "list", "--user", "dora@example.com")
    lines = [line.split("\t") for line in out.splitlines()]
    assert [(f[1], f[4], f[5]) for f in lines] == [("sign_in", "user", "203.0.113.9"),
                                                   ("user_create", "cli", "-")]  # fmt: skip
    from authgate.django.models import SecurityEvent

    assert SecurityEvent.objects.filter(kind="sign_in").count() == 1  # rows of the Django model
    assert call("audit", "purge", "--older-than", "1d")[0] == "purged 0 security events\n"


def test_manage_py_authgate_db_commands() -> None:
    out, _ = call("db", "current")
    assert out == "0007_passkeys (head)\n"
    out, _ = call("db", "upgrade")
    assert "up to date" in out and "(head)" in out


def test_a_chunked_body_is_read_under_asgi() -> None:
    """Django's ASGI request holds the whole body the server de-chunked (Z4)."""
    import httpx
    from django.core.asgi import get_asgi_application

    from authgate.django import use_auth

    setup()
    auth = Auth(SECRET_KEY, store=MemoryStore(), argon2_memory_cost=1024, argon2_time_cost=1,
                cookie_secure=False)  # fmt: skip
    body = b'{"email": "asgi@example.com", "password": "correct horse battery"}'

    async def chunks() -> Any:
        yield body[:9]
        yield body[9:]

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=get_asgi_application())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/auth/sign-up/email", content=chunks(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip

    with use_auth(auth):
        response = asyncio.run(post())
    assert response.status_code == 200, response.text
    assert auth.users.get_user("asgi@example.com") is not None
