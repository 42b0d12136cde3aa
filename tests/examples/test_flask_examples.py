"""The Flask examples in ``examples/`` run their own flows through their test clients.

Each example is imported from its file with a temporary SQLite database and
cheap hashing taken from the environment, as a user would run it.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST_ENV = {"AUTHGATE_ARGON2_MEMORY_COST": "1024", "AUTHGATE_ARGON2_TIME_COST": "1"}
PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html"}

Load = Callable[[str], ModuleType]


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Load]:
    """Import ``examples/<name>.py`` as a fresh module, its database in ``tmp_path``."""
    loaded: list[ModuleType] = []

    def load(name: str) -> ModuleType:
        for key, value in FAST_ENV.items():
            monkeypatch.setenv(key, value)
        for key in ("AUTHGATE_DATABASE_URL", "AUTHGATE_SECRET", "SECRET_KEY"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / (name + '.db')}")
        module_name = f"example_{name}_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, module_name, module)
        spec.loader.exec_module(module)
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        dispose(module.app)


def dispose(app: Flask) -> None:
    """Close the app's Flask-SQLAlchemy connections (file databases)."""
    db = app.extensions.get("sqlalchemy")
    if db is not None:
        with app.app_context():
            db.engine.dispose()


def sign_in(client: FlaskClient, **credentials: str) -> str:
    kind = "username" if "username" in credentials else "email"
    response = client.post(f"/auth/sign-in/{kind}", json=credentials)
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["token"]
    return token


def sign_up(client: FlaskClient, **fields: Any) -> str:
    response = client.post("/auth/sign-up/email", json={"password": PASSWORD, **fields})
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- auth101 quick start ------------------------------------------------------------


def test_flask_quickstart(load_example: Load) -> None:
    example = load_example("flask_quickstart")
    client = example.app.test_client()
    assert example.auth.settings.argon2_memory_cost == 1024  # read from the environment
    token = sign_up(client, email="alice@example.com")
    assert sign_in(client, email="alice@example.com", password=PASSWORD)
    session = client.get("/auth/session", headers=bearer(token)).get_json()
    assert session["user"]["email"] == "alice@example.com"
    me = client.get("/me", headers=bearer(token)).get_json()
    assert me["user"]["email"] == "alice@example.com"
    signed_out = client.post("/auth/sign-out", headers=bearer(token))
    assert signed_out.get_json() == {"success": True}
    assert client.get("/me", headers=bearer(token)).status_code == 401


# -- Flask-Security basic app -------------------------------------------------------


def test_flask_security_basic(load_example: Load) -> None:
    example = load_example("flask_security_basic")
    client = example.app.test_client()
    response = client.get("/", headers=HTML)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login?next=%2F"
    token = sign_in(client, email="test@me.com", password="password")
    home = client.get("/", headers=bearer(token))
    assert home.get_data(as_text=True) == "Hello test@me.com"
    with example.app.app_context():
        assert example.db.session.query(example.User).count() == 1


# -- Flask-User roles_required app --------------------------------------------------


def test_flask_user_roles_required(load_example: Load) -> None:
    example = load_example("flask_user_roles")
    client = example.app.test_client()
    assert "Home Page" in client.get("/").get_data(as_text=True)
    redirect = client.get("/special", headers=HTML)
    assert redirect.headers["Location"] == "/auth/login?next=%2Fspecial"

    agent = sign_in(client, username="user007", password="Password1")
    assert client.get("/special", headers=bearer(agent)).status_code == 200
    assert "Hello user007" in client.get("/profile", headers=bearer(agent)).get_data(as_text=True)
    assert "Profile Page" in client.get("/", headers=bearer(agent)).get_data(as_text=True)

    civilian = sign_up(client, email="bob@example.com", username="bob")
    assert client.get("/profile", headers=bearer(civilian)).status_code == 200
    assert client.get("/special", headers=bearer(civilian)).status_code == 403


def test_flask_user_create_app_is_a_factory(load_example: Load, tmp_path: Path) -> None:
    example = load_example("flask_user_roles")
    other = example.create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.db'}"})
    try:
        client = other.test_client()
        token = sign_in(client, username="user007", password="Password1")
        assert client.get("/special", headers=bearer(token)).status_code == 200
        assert example.app.extensions["authgate"].auth is not other.extensions["authgate"].auth
    finally:
        dispose(other)


# -- Authcode (Flask) ---------------------------------------------------------------


def test_authcode_flask(load_example: Load, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("authcode_flask")
    client = example.app.test_client()
    assert client.get("/").status_code == 401
    example.create_demo_user()
    token = sign_in(client, email="authcode@example.com", password="authcode")
    assert client.get("/", headers=bearer(token)).get_data(as_text=True) == (
        "Hello authcode@example.com"
    )
    with example.app.app_context():
        user = example.auth.users.find_user(email="authcode@example.com")
        assert isinstance(user, example.User)
    # Emails go through the app's send_email hook.
    forgot = client.post("/auth/forgot-password", json={"email": "authcode@example.com"})
    assert forgot.status_code == 200
    example.auth.mail.flush()
    printed = capsys.readouterr().out
    assert "To: authcode@example.com" in printed and "reset-password?token=" in printed


# -- Flask-Identity quick start ------------------------------------------------------


def test_flask_identity_quickstart(load_example: Load) -> None:
    example = load_example("flask_identity_quickstart")
    client = example.app.test_client()
    assert client.get("/").status_code == 401
    token = sign_in(client, username="admin", password="admin-password")
    assert client.get("/", headers=bearer(token)).get_data(as_text=True) == "Hello Admin"
    session = client.get("/auth/session", headers=bearer(token)).get_json()
    assert session["user"]["roles"] == ["admin"]
    assert session["user"]["display"] == "Admin"
