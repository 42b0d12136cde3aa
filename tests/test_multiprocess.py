"""Real separate processes: two uvicorn servers over one PostgreSQL database.

Both serve the FastAPI quick start (``examples/fastapi_quickstart.py``,
through ``tests/multiprocess/app.py``), configured only by ``AUTHGATE_*``
variables, on two ports. A session is signed in through the first, answered
from memory by both, then revoked through the first (or by the ``authgate``
command, a third process): with ``redis_url``, the very next request through
the second is refused; without it, the second answers from its cache until
``session_cache_ttl`` has passed, as documented.

Bounded: servers must answer within ``START_TIMEOUT`` seconds, every request
within ``REQUEST_TIMEOUT``, and every process is stopped at the end whatever
happens.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate import Auth

from .conftest import REDIS_URL, redis_client, redis_prefix
from .core.conftest import SECRET
from .redis_server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
PASSWORD = "correct horse battery"
NEW_PASSWORD = "new staple battery horse"
TTL = 2


class Server:
    """One ``uvicorn`` process serving the test app on its own port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "uvicorn", "tests.multiprocess.app:app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/auth/openapi.json").status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"the server on port {self.port} did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def get(self, path: str, token: str) -> httpx.Response:
        return self.http.get(path, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, token: str | None = None, **json: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post(path, json=json, headers=headers)

    def warm(self, token: str) -> None:
        """Ask until this process answers ``token``'s session from its cache."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.get("/me", token).status_code == 200
            if self.get("/test/cached", token).json()["cached"]:
                return
            assert time.monotonic() < deadline, "the session never reached the session cache"
            time.sleep(0.01)


@pytest.fixture
def postgres_url(database_url: Callable[[str, str], str]) -> str:
    url = database_url("postgres", "_mp")
    Auth(SECRET, database_url=url).close()  # the schema, before two servers race to make it
    return url


def _environment() -> dict[str, str]:
    """This process's environment without its ``AUTHGATE_*`` variables, the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextlib.contextmanager
def two_servers(tmp_path: Path, settings: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    env = _environment()
    env.update(
        AUTHGATE_SECRET=SECRET,
        AUTHGATE_ARGON2_MEMORY_COST="1024",
        AUTHGATE_ARGON2_TIME_COST="1",
        AUTHGATE_SESSION_CACHE_TTL=str(TTL),
        AUTHGATE_NOTIFY_REGISTERED="false",
        AUTHGATE_NOTIFY_PASSWORD_CHANGED="false",
        **settings,
    )
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            servers.append(Server(env, tmp_path / f"server-{name}.log"))
        for server in servers:
            server.wait_ready()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def signed_in_twice(a: Server) -> tuple[str, str, str]:
    """A new user signed up through ``a`` (one token) and signed in again (the victim's)."""
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    first = a.post("/auth/sign-up/email", email=email, password=PASSWORD)
    assert first.status_code == 200, first.text
    second = a.post("/auth/sign-in/email", email=email, password=PASSWORD)
    assert second.status_code == 200, second.text
    return email, first.json()["token"], second.json()["token"]


def revoke(change: str, a: Server, email: str, own: str, victim: str, env: dict[str, str]) -> None:
    """Revoke ``victim``'s session through ``a`` (or the command line)."""
    if change == "sign out":
        response = a.post("/auth/sign-out", victim)
    elif change == "revoke session":
        sessions = a.get("/auth/sessions", own).json()["sessions"]
        (other,) = [s for s in sessions if not s["current"]]
        response = a.post("/auth/revoke-session", own, session_id=other["id"])
    elif change == "revoke other sessions":
        response = a.post("/auth/revoke-other-sessions", own)
    elif change == "change password":
        response = a.post("/auth/change-password", own, current_password=PASSWORD,
                          new_password=NEW_PASSWORD)  # fmt: skip
    else:  # "deactivate (command line)": a third process, the operator's shell
        result = subprocess.run(
            [sys.executable, "-m", "authgate.cli", "users", "deactivate", email],
            cwd=ROOT, env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()
        return
    assert response.status_code == 200, response.text


CHANGES = ["sign out", "revoke session", "revoke other sessions", "change password",
           "deactivate (command line)"]  # fmt: skip


def test_with_redis_the_next_request_through_the_other_process_is_refused(
    tmp_path: Path, postgres_url: str
) -> None:
    redis_client().close()  # skips (fails under CI=true) without Redis
    with redis_prefix() as prefix:
        settings = {
            "AUTHGATE_DATABASE_URL": postgres_url,
            "AUTHGATE_REDIS_URL": REDIS_URL,
            "AUTHGATE_REDIS_PREFIX": prefix,
        }
        cli_env = {**_environment(), "AUTHGATE_SECRET": SECRET, **settings}
        with two_servers(tmp_path, settings) as (a, b):
            for change in CHANGES:
                email, own, victim = signed_in_twice(a)
                a.warm(victim)
                b.warm(victim)
                assert b.get("/test/cached", victim).json()["subscribed"]

                revoke(change, a, email, own, victim, cli_env)

                response = b.get("/me", victim)  # the very next request
                assert response.status_code == 401, (change, response.text)
                assert a.get("/me", victim).status_code == 401, change


def test_without_redis_the_other_process_follows_within_the_ttl(
    tmp_path: Path, postgres_url: str
) -> None:
    with two_servers(tmp_path, {"AUTHGATE_DATABASE_URL": postgres_url}) as (a, b):
        _, own, victim = signed_in_twice(a)
        b.warm(victim)
        warmed = time.monotonic()

        assert a.post("/auth/sign-out", victim).status_code == 200
        assert a.get("/me", victim).status_code == 401  # the revoking process: at once

        response = b.get("/me", victim)
        assert response.status_code == 200  # the other one: from its cache, within the ttl
        assert time.monotonic() - warmed < TTL
        while b.get("/me", victim).status_code == 200:
            assert time.monotonic() - warmed < TTL + 1.0, "still served after the ttl"
            time.sleep(0.05)
        assert time.monotonic() - warmed >= TTL - 0.1
        assert b.get("/me", own).status_code == 200  # the other session is untouched
