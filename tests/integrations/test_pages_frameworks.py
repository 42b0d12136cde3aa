"""Each framework routes the pages by name and lets the app override any template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authgate import Auth
from tests.web.clients import ASGIClient, WSGIClient
from tests.web.pages import HTML, text

SECRET = "pages-frameworks-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1, "cookie_secure": False}
NAMES = ["login", "register", "logout", "forgot_password", "reset_password", "profile",
         "change_password", "sessions", "delete_account", "emails"]  # fmt: skip
PATHS = {"login": "/auth/login", "register": "/auth/register", "logout": "/auth/logout",
         "forgot_password": "/auth/forgot", "reset_password": "/auth/reset-password",
         "profile": "/auth/account", "change_password": "/auth/account/password",
         "sessions": "/auth/account/sessions", "delete_account": "/auth/account/delete",
         "emails": "/auth/account/emails"}  # fmt: skip


def auth() -> Auth:
    return Auth(SECRET, **FAST)


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    """An app's templates folder overriding the login page and the base layout's header."""
    folder = tmp_path / "templates" / "authgate"
    folder.mkdir(parents=True)
    (folder / "login.html").write_text(
        '{% extends "authgate/layout_public.html" %}{% block title %}Members only{% endblock %}'
        '{% block content %}<p class="mine">Our own login, {{ site_name }}</p>'
        '{% include "authgate/_login_form.html" %}{% endblock %}'
    )
    (folder / "base.html").write_text(
        (Path(__file__).parents[2] / "src/authgate/templates/authgate/base.html")
        .read_text()
        .replace('<a class="ag-brand"', '<span class="app-header">ACME</span><a class="ag-brand"')
    )
    return tmp_path / "templates"


def check_override(client: Any) -> None:
    login = client.get("/auth/login", headers=HTML)
    assert login.status == 200
    assert "Our own login, authgate" in text(login) and "<title>Members only" in text(login)
    assert 'name="csrf_token"' in text(login)  # the package's form, included
    assert 'class="app-header">ACME' in text(login)
    forgot = client.get("/auth/forgot", headers=HTML)  # not overridden: the package's page
    assert forgot.status == 200 and "ACME" in text(forgot) and "Our own login" not in text(forgot)


def test_flask_url_for_and_overrides(overrides: Path) -> None:
    from flask import Flask, url_for

    from authgate.flask import setup_for_flask

    app = Flask(__name__, template_folder=str(overrides))
    setup_for_flask(auth(), app)
    with app.test_request_context():
        for name in NAMES:
            assert url_for(f"authgate.{name}") == PATHS[name]
        assert url_for("authgate.login", next="/x") == "/auth/login?next=/x"
    check_override(WSGIClient(app, "flask"))
    off = Flask(__name__)
    setup_for_flask(auth(), off, pages=False)
    assert WSGIClient(off, "flask").get("/auth/login", headers=HTML).status == 404


def test_bottle_get_url_and_overrides(overrides: Path) -> None:
    import bottle

    from authgate.bottle import setup_for_bottle

    app = bottle.Bottle()
    setup_for_bottle(auth(), app, template_dirs=[str(overrides)])
    for name in NAMES:
        assert app.get_url(f"authgate.{name}") == PATHS[name]
    check_override(WSGIClient(app, "bottle"))
    off = bottle.Bottle()
    setup_for_bottle(auth(), off, pages=False)
    assert WSGIClient(off, "bottle").get("/auth/login", headers=HTML).status == 404


def test_fastapi_pages_only_when_asked(overrides: Path) -> None:
    from fastapi import FastAPI

    from authgate.fastapi import setup_for_fastapi

    app = FastAPI()
    setup_for_fastapi(auth(), app, pages=True, template_dirs=[str(overrides)])
    for name in NAMES:
        assert app.url_path_for(f"authgate.{name}") == PATHS[name]
    check_override(ASGIClient(app, "fastapi"))
    # The pages are not in FastAPI's API documentation.
    assert not any(p.startswith("/auth/login") for p in app.openapi()["paths"])
    default = FastAPI()
    setup_for_fastapi(auth(), default)
    r = ASGIClient(default, "fastapi").get("/auth/login", headers=HTML)
    assert r.status == 404 and r.error_code == "NOT_FOUND"


def test_django_reverse_and_overrides(overrides: Path) -> None:
    from tests.django_project import setup, wsgi_app

    setup()
    from django.test import override_settings
    from django.urls import reverse

    for name in NAMES:
        assert reverse(f"authgate:{name}") == PATHS[name]
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
                  "DIRS": [str(overrides)]}]  # fmt: skip
    with override_settings(TEMPLATES=templates):
        check_override(WSGIClient(wsgi_app(auth()), "django"))
    off = Auth(SECRET, pages=False, **FAST)
    r = WSGIClient(wsgi_app(off), "django").get("/auth/login", headers=HTML)
    assert r.status == 404 and r.error_code == "NOT_FOUND"


def test_neutral_engine_overrides(overrides: Path) -> None:
    from authgate.web.api import AuthAPI
    from authgate.web.http import ApiRequest, Headers
    from authgate.web.pages import AuthPages

    pages = AuthPages(AuthAPI(auth()), [str(overrides)])
    r = pages.handle(ApiRequest("GET", "/login", headers=Headers({"accept": "text/html"})))
    assert r.status == 200 and b"Our own login" in r.body
