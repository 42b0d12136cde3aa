"""Sign-in throttling shared through Redis, as several app processes would share it."""

from __future__ import annotations

import uuid

import pytest

from authgate import Auth
from authgate.errors import InvalidCredentials, RateLimited

from .conftest import REDIS_URL, redis_client
from .core.conftest import FAST_HASHING, PASSWORD, SECRET

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url() -> str:
    redis_client().close()  # skips, or fails under CI=true, when Redis is down
    return REDIS_URL


def test_two_processes_share_one_counter(redis_url: str) -> None:
    # Two Auth objects with their own stores stand for two app processes; the
    # identity is unique per run so parallel workers never share a bucket.
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    first = Auth(SECRET, rate_limit_storage=redis_url, sign_in_max_failures=4, **FAST_HASHING)
    second = Auth(SECRET, store=first.store, rate_limit_storage=redis_url,
                  sign_in_max_failures=4, **FAST_HASHING)  # fmt: skip
    first.sign_up(email, PASSWORD)
    for auth in (first, second, first, second):
        with pytest.raises(InvalidCredentials):
            auth.sign_in(email, "wrong password!")
    with pytest.raises(RateLimited) as info:
        second.sign_in(email.upper(), PASSWORD)
    assert info.value.retry_after >= 1
    with pytest.raises(RateLimited):
        first.sign_in(email, PASSWORD)


def test_redis_down_fails_closed() -> None:
    auth = Auth(SECRET, rate_limit_storage="redis://127.0.0.1:1/0", **FAST_HASHING)
    auth.sign_up("alice@example.com", PASSWORD)
    from authgate.errors import ServiceUnavailable

    with pytest.raises(ServiceUnavailable) as info:
        auth.sign_in("alice@example.com", PASSWORD)
    assert "127.0.0.1" not in info.value.message
