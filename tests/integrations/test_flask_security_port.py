"""A Flask-Security app runs on authgate after an import change.

``APP`` is a Flask-Security-Too app written against its public API: the
fsqla_v3 models, ``Security(app, datastore)``, the datastore's
``create_user``/``find_or_create_role``, ``hash_password``/``verify_password``,
``auth_required``/``roles_required``/``roles_accepted``, ``current_user`` in a
template, and an app-driven sign-in with ``login_user``/``logout_user``. It
runs first on the real Flask-Security-Too, then with ``flask_security``
replaced by ``authgate.flask_security`` in its imports, and every view
answers the same. What the test driver does differently, and why:

* it signs in through each library's own endpoint (``POST /login`` there,
  ``POST /auth/sign-in/email`` on authgate): the endpoints are authgate's;
* on authgate, a cookie-authenticated POST carries the session's CSRF token
  (``X-CSRF-Token``): authgate checks CSRF on every unsafe cookie request,
  where this Flask-Security app turned Flask-WTF's check off.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

APP = '''
import os

from flask import Flask, jsonify, render_template_string, request
from flask_sqlalchemy import SQLAlchemy

from flask_security import (
    Security, SQLAlchemyUserDatastore, auth_required, current_user, hash_password,
    login_user, logout_user, roles_accepted, roles_required, verify_password,
)
from flask_security.models import fsqla_v3 as fsqla

app = Flask(__name__)
app.config["SECRET_KEY"] = "port-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
app.config["SECURITY_PASSWORD_SALT"] = "146585145368132386173505678016728509634"
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["PORT_DATABASE_URL"]
app.config["WTF_CSRF_ENABLED"] = False

db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    pass


class User(db.Model, fsqla.FsUserMixin):
    pass


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
    pass


user_datastore = SQLAlchemyUserDatastore(db, User, Role)
app.security = Security(app, user_datastore)


@app.route("/")
@auth_required()
def home():
    return render_template_string("Hello {{ current_user.email }}")


@app.route("/admin")
@roles_required("admin")
def admin():
    return jsonify(email=current_user.email, admin=current_user.has_role("admin"))


@app.route("/staff")
@roles_accepted("admin", "editor")
def staff():
    return jsonify(email=current_user.email)


@app.post("/own-login")
def own_login():
    data = request.get_json()
    user = user_datastore.find_user(email=data["email"])
    if user is None or not verify_password(data["password"], user.password):
        return jsonify(ok=False), 401
    login_user(user)
    db.session.commit()
    return jsonify(ok=True, email=current_user.email, authenticated=current_user.is_authenticated)


@app.post("/bye")
@auth_required()
def bye():
    logout_user()
    return jsonify(anonymous=current_user.is_anonymous)


with app.app_context():
    db.create_all()
    if not user_datastore.find_user(email="test@me.com"):
        admins = user_datastore.find_or_create_role("admin", description="Administrators")
        user_datastore.find_or_create_role("editor")
        user_datastore.create_user(email="test@me.com", password=hash_password("password"),
                                   roles=[admins])
        user_datastore.create_user(email="ed@me.com", password=hash_password("editor password"),
                                   roles=["editor"])
        user_datastore.create_user(email="off@me.com", password=hash_password("password"),
                                   active=False)
    db.session.commit()
'''

SYSTEMS = ["flask_security", "authgate.flask_security"]


@pytest.fixture(params=SYSTEMS)
def system(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app_module(system: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The app, with ``flask_security`` in its imports replaced by ``system``."""
    source = APP.replace("from flask_security", f"from {system}")
    path = tmp_path / "app.py"
    path.write_text(source, encoding="utf-8")
    monkeypatch.setenv("PORT_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    for key, value in {"AUTHGATE_ARGON2_MEMORY_COST": "1024", "AUTHGATE_ARGON2_TIME_COST": "1",
                       "AUTHGATE_COOKIE_SECURE": "0"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    name = f"ported_app_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Flask-Security's own deprecation notices
        spec.loader.exec_module(module)
    yield module
    with module.app.app_context():
        module.db.engine.dispose()
    auth = getattr(module.app.security, "auth", None)
    if auth is not None:
        auth.close()


def sign_in(system: str, client: Any, email: str, password: str) -> int:
    """Sign in through the library's own endpoint; the status."""
    path = "/login" if system == "flask_security" else "/auth/sign-in/email"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(client.post(path, json={"email": email, "password": password}).status_code)


def post(system: str, client: Any, path: str, csrf: str | None, **kwargs: Any) -> Any:
    headers = {"X-CSRF-Token": csrf} if system != "flask_security" and csrf else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return client.post(path, headers=headers, **kwargs)


def get(client: Any, path: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return client.get(path, headers={"Accept": "application/json"})


def test_the_app_answers_the_same(system: str, app_module: ModuleType) -> None:
    client = app_module.app.test_client()
    assert get(client, "/").status_code == 401
    assert sign_in(system, client, "test@me.com", "wrong") in (400, 401)
    assert sign_in(system, client, "off@me.com", "password") in (400, 403)
    assert sign_in(system, client, "test@me.com", "password") == 200
    home = get(client, "/")
    assert (home.status_code, home.get_data(as_text=True)) == (200, "Hello test@me.com")
    assert get(client, "/admin").get_json() == {"email": "test@me.com", "admin": True}
    assert get(client, "/staff").get_json() == {"email": "test@me.com"}

    editor = app_module.app.test_client()
    assert sign_in(system, editor, "ed@me.com", "editor password") == 200
    assert get(editor, "/staff").status_code == 200
    assert get(editor, "/admin").status_code == 403


def test_an_app_driven_sign_in_and_out(system: str, app_module: ModuleType) -> None:
    client = app_module.app.test_client()
    refused = post(system, client, "/own-login", None,
                   json={"email": "ed@me.com", "password": "nope"})  # fmt: skip
    assert refused.status_code == 401
    signed = post(system, client, "/own-login", None,
                  json={"email": "ed@me.com", "password": "editor password"})  # fmt: skip
    assert signed.get_json() == {"ok": True, "email": "ed@me.com", "authenticated": True}
    assert get(client, "/").get_data(as_text=True) == "Hello ed@me.com"
    csrf = signed.headers.get("X-CSRF-Token")
    assert post(system, client, "/bye", csrf).get_json() == {"anonymous": True}
    assert get(client, "/").status_code == 401


def test_the_compat_datastore_speaks_flask_securitys_names(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from authgate.flask_security import Security, SQLAlchemyUserDatastore

    monkeypatch.setenv("PORT_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    datastore = SQLAlchemyUserDatastore(None, object, object)
    with pytest.raises(RuntimeError, match="Security"):
        datastore.find_user(email="x@example.com")
    with pytest.raises(TypeError, match="AUTHGATE_"):
        Security(None, datastore, register_form=object)
    with pytest.raises(TypeError, match="datastore"):
        Security().init_app(__import__("flask").Flask("x"))
