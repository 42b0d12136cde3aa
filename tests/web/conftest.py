"""The framework matrix of the HTTP contract suite."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth

from .clients import ContractClient

SECRET = "contract-secret-" + "x" * 32
FAST: dict[str, Any] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}
#: Every integration, plus "neutral": the web layer called with no framework at all.
FRAMEWORKS = ["flask", "fastapi", "django", "bottle", "neutral"]

MakeClient = Callable[..., ContractClient]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(framework: str) -> MakeClient:
    """Build an app of ``framework`` around a fresh ``Auth``; keywords are settings."""
    module = importlib.import_module(f"tests.web.apps.{framework}_app")

    def factory(prefix: str = "/auth", **settings: Any) -> ContractClient:
        options: dict[str, Any] = {**FAST, "cookie_secure": False, **settings}
        auth = Auth(SECRET, **options)
        client: ContractClient = module.build(auth, prefix)
        client.auth = auth  # type: ignore[attr-defined]
        return client

    return factory


@pytest.fixture
def client(make_client: MakeClient) -> ContractClient:
    return make_client()
