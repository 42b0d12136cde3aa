"""Fixtures for the passkey tests: an ``Auth`` with passkeys on and a software authenticator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from tests.core.conftest import FAST_HASHING, PASSWORD, SECRET, Clock

from .authenticator import Authenticator

ORIGIN = "https://app.example"
RP_ID = "app.example"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mails() -> list[Any]:
    return []


@pytest.fixture
def make_auth(clock: Clock, mails: list[Any]) -> Callable[..., Auth]:
    def factory(**settings: Any) -> Auth:
        options: dict[str, Any] = {
            **FAST_HASHING, "clock": clock, "send_email": mails.append, "passkeys": True,
            "base_url": ORIGIN, **settings,
        }  # fmt: skip
        return Auth(SECRET, **options)

    return factory


@pytest.fixture
def auth(make_auth: Callable[..., Auth]) -> Auth:
    return make_auth()


@pytest.fixture
def authenticator() -> Authenticator:
    return Authenticator(ORIGIN)


@pytest.fixture
def alice(auth: Auth) -> tuple[Any, str]:
    """Alice, signed in: her user and her (fresh) session token."""
    r = auth.sign_up("alice@example.com", PASSWORD)
    assert r.token is not None
    return r.user, r.token
