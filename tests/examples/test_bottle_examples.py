"""The Bottle examples in ``examples/`` run their own flows through a WSGI test client."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from werkzeug.test import Client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST_ENV = {"AUTHGATE_ARGON2_MEMORY_COST": "1024", "AUTHGATE_ARGON2_TIME_COST": "1"}

Load = Callable[[str], ModuleType]


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Load]:
    """Import ``examples/<name>.py`` as a fresh module, its database in ``tmp_path``."""
    loaded: list[ModuleType] = []

    def load(name: str) -> ModuleType:
        for key, value in FAST_ENV.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AUTHGATE_SECRET", raising=False)
        monkeypatch.setenv("AUTHGATE_DATABASE_URL", f"sqlite:///{tmp_path / (name + '.db')}")
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
        module.auth.store.close()


def test_authcode_bottle(load_example: Load, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("authcode_bottle")
    assert example.auth.settings.database_url.endswith("authcode_bottle.db")
    client = Client(example.app)
    assert client.get("/").status_code == 401
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["Location"] == "/auth/login?next=%2F"

    user = example.create_demo_user()
    assert isinstance(user, example.User)
    response = client.post(
        "/auth/sign-in/email", json={"email": "authcode@example.com", "password": "authcode"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["token"]
    home = client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert home.get_data(as_text=True) == "Hello authcode@example.com"
    # Emails go through the app's send_email hook.
    forgot = client.post("/auth/forgot-password", json={"email": "authcode@example.com"})
    assert forgot.status_code == 200
    example.auth.mail.flush()
    assert "To: authcode@example.com" in capsys.readouterr().out
