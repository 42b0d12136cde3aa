"""Fixtures for the core tests: a cheap-hashing ``Auth`` on the in-memory store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from authgate import Auth

SECRET = "test-secret-" + "x" * 32
#: Cheap hashing parameters: tests measure behaviour, not work factors.
FAST_HASHING: dict[str, Any] = {
    "argon2_memory_cost": 1024,
    "argon2_time_cost": 1,
    "bcrypt_rounds": 4,
    "pbkdf2_iterations": 1000,
    "scrypt_log_n": 4,
}
PASSWORD = "correct horse battery"


class Clock:
    """A controllable clock: ``clock()`` returns the time, ``clock.advance(seconds)`` moves it."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_auth(clock: Clock) -> Callable[..., Auth]:
    """Build an ``Auth`` with fast hashing and the test clock; keywords override settings."""

    def factory(**settings: Any) -> Auth:
        options: dict[str, Any] = {**FAST_HASHING, "clock": clock, **settings}
        return Auth(SECRET, **options)

    return factory


@pytest.fixture
def auth(make_auth: Callable[..., Auth]) -> Iterator[Auth]:
    yield make_auth()


@pytest.fixture
def signals_log() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record every authgate signal sent during the test as ``(name, kwargs)``."""
    from authgate import signals

    log: list[tuple[str, dict[str, Any]]] = []
    receivers = []
    for name in signals.__all__:
        sig = getattr(signals, name)
        if name == "signals":
            continue

        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            log.append((_name, kwargs))

        sig.connect(receiver, weak=False)
        receivers.append((sig, receiver))
    yield log
    for sig, receiver in receivers:
        sig.disconnect(receiver)
