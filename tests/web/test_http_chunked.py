"""Z4: chunked request bodies are read (or clearly refused), never misread, on every framework."""

from __future__ import annotations

import json

import pytest

from .clients import ContractClient
from .test_http_contract import PASSWORD, assert_error

CHUNKED_FRAMEWORKS = ["flask", "fastapi", "django", "bottle"]


@pytest.fixture(params=CHUNKED_FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    """The frameworks with a transport (the neutral layer gets bodies whole)."""
    return str(request.param)


def test_a_dechunked_body_is_read(client: ContractClient) -> None:
    body = json.dumps({"email": "chunk@example.com", "password": PASSWORD}).encode()
    r = client.post_chunked("/auth/sign-up/email", body, {"Content-Type": "application/json"})
    assert r.status == 200, r.body
    assert r.json()["user"]["email"] == "chunk@example.com"


def test_a_dechunked_body_over_the_limit_is_413(client: ContractClient) -> None:
    huge = b'{"email": "' + b"a" * 200_000 + b'"}'
    r = client.post_chunked("/auth/sign-in/email", huge, {"Content-Type": "application/json"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("framework", ["flask", "django", "bottle"], indirect=True)
def test_a_body_left_chunked_is_read_or_clearly_refused(
    client: ContractClient, framework: str
) -> None:
    body = json.dumps({"email": "raw@example.com", "password": PASSWORD}).encode()
    r = client.post_chunked("/auth/sign-up/email", body, {"Content-Type": "application/json"},
                            dechunked=False)  # fmt: skip
    if framework == "bottle":  # Bottle de-chunks itself
        assert r.status == 200, r.body
    else:
        error = assert_error(r, 400, "VALIDATION_ERROR")
        assert "Content-Length" in error["message"]
        assert client.auth.users.get_user("raw@example.com") is None  # type: ignore[attr-defined]
