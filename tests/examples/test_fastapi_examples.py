"""The FastAPI quick start works as its docstring says."""

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_quickstart.py"


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example imported from its file, configured only through ``AUTHGATE_*``."""
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'auth.db'}")
    monkeypatch.setenv("AUTHGATE_ARGON2_MEMORY_COST", "1024")
    monkeypatch.setenv("AUTHGATE_ARGON2_TIME_COST", "1")
    spec = importlib.util.spec_from_file_location("fastapi_quickstart", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    yield module
    module.auth.store.close()


def test_quickstart_sign_up_protected_route_sign_out(
    quickstart: ModuleType, tmp_path: Path
) -> None:
    settings = quickstart.auth.settings
    assert (settings.argon2_memory_cost, settings.argon2_time_cost) == (1024, 1)
    assert settings.database_url == f"sqlite:///{tmp_path / 'auth.db'}"

    client = TestClient(quickstart.app)
    signed_up = client.post(
        "/auth/sign-up/email",
        json={"email": "alice@example.com", "password": "correct horse battery"},
    )
    assert signed_up.status_code == 200, signed_up.text
    headers = {"Authorization": f"Bearer {signed_up.json()['token']}"}
    client.cookies.clear()  # the bearer token alone authenticates

    me = client.get("/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "alice@example.com"

    assert client.post("/auth/sign-out", headers=headers).json() == {"success": True}
    after = client.get("/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["error"]["code"] in {"INVALID_TOKEN", "UNAUTHORIZED"}
