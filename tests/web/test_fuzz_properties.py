"""Issue §5: property tests of the JSON endpoints on every framework (hypothesis).

Whatever arrives — arbitrary JSON, wrong types, bytes that are not UTF-8,
bodies over the limit, odd content types, huge or hostile headers — the
answer is never a 500 and never shows a stack trace, SQL, a password hash
or another user's token; every error has the one JSON shape. The store is
SQLite so that SQL errors would have a chance to leak. Examples are bounded
so each framework takes a few seconds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from authgate.web.api import ROUTES

from .clients import ContractClient, Response
from .conftest import MakeClient

PASSWORD = "correct horse battery staple"
FEATURES: dict[str, Any] = {
    "confirmable": True, "usernames": True, "passwordless": True, "multiple_emails": True,
}  # fmt: skip
PATHS = sorted({"/auth" + r.path for r in ROUTES if r.method == "POST"})
FIELD_NAMES = sorted({name for r in ROUTES for name in r.fields} | {"nonce", "next", "__proto__"})
LEAKS = ("Traceback", "$argon2", "sqlalchemy", "SELECT ", "INSERT ", "password_hash", "sqlite3")
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
EXAMPLES = settings(
    max_examples=50, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.sampled_from(["", " ", "a@example.com", PASSWORD, "x" * 2000])
)  # fmt: skip
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
bodies = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), json_values, max_size=5)
content_types = st.sampled_from([
    "application/json", "application/json; charset=latin-1", "application/x-www-form-urlencoded",
    "text/plain", "multipart/form-data; boundary=zz", "application/vnd.api+json", "", "*/*;;;",
])  # fmt: skip
header_values = st.text(PRINTABLE, max_size=60) | st.just("x" * 16_000)
headers = st.fixed_dictionaries({}, optional={
    "Authorization": st.sampled_from(["Bearer ", "Basic ", "bearer", "Digest "]).flatmap(
        lambda scheme: header_values.map(lambda v: scheme + v)),
    "Cookie": header_values, "Accept": header_values, "X-CSRF-Token": header_values,
    "X-Forwarded-For": header_values, "Origin": header_values, "User-Agent": header_values,
})  # fmt: skip


class World:
    """An app with two users; the victim's token must never show up in an answer."""

    def __init__(self, make_client: MakeClient) -> None:
        self.client = make_client(database_url="sqlite://", **FEATURES)
        users = self.client.auth.users  # type: ignore[attr-defined]
        users.create_user(email="victim@example.com", username="victim", password=PASSWORD)
        users.create_user(email="attacker@example.com", username="attacker", password=PASSWORD)
        auth = self.client.auth  # type: ignore[attr-defined]
        self.victim_token = auth.sign_in("victim@example.com", PASSWORD).token
        self.attacker_token = auth.sign_in("attacker@example.com", PASSWORD).token

    def check(self, r: Response, path: str = "/auth/") -> None:
        """No 500, no leak; authgate's answers (paths under the prefix) have the error shape."""
        text = r.body.decode("utf-8", "replace")
        assert r.status < 500, (r.status, text[:500])
        for leak in LEAKS:
            assert leak not in text, (leak, text[:500])
        assert self.victim_token not in text
        assert not any(self.victim_token in value for _, value in r.headers)
        if path.startswith("/auth/") and r.status >= 400 and r.body:
            body = r.json()
            assert set(body) == {"error"} and isinstance(body["error"]["code"], str)
            assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.fixture
def world(make_client: MakeClient) -> World:
    return World(make_client)


@EXAMPLES
@given(path=st.sampled_from(PATHS), body=bodies, as_attacker=st.booleans())
def test_arbitrary_json_objects(world: World, path: str, body: dict[str, Any], as_attacker: bool) -> None:
    sent = {"Authorization": f"Bearer {world.attacker_token}"} if as_attacker else {}
    world.check(world.client.post(path, json=body, headers=sent, cookies=False))


@EXAMPLES
@given(path=st.sampled_from(PATHS), value=json_values)
def test_arbitrary_json_values(world: World, path: str, value: Any) -> None:
    body = json.dumps(value).encode()
    world.check(world.client.post(path, body=body, headers={"Content-Type": "application/json"},
                                  cookies=False))  # fmt: skip


@EXAMPLES
@given(path=st.sampled_from(PATHS), body=st.binary(max_size=300), content_type=content_types)
def test_arbitrary_bytes(world: World, path: str, body: bytes, content_type: str) -> None:
    sent = {"Content-Type": content_type} if content_type else {}
    world.check(world.client.post(path, body=body, headers=sent, cookies=False))


@EXAMPLES
@given(path=st.sampled_from([*PATHS, "/auth/session", "/auth/sessions", "/auth/emails",
                              "/auth/verify-email?token=x", "/auth/nope", "/protected"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]),
       sent=headers)  # fmt: skip
def test_arbitrary_headers(world: World, path: str, method: str, sent: dict[str, str]) -> None:
    world.check(world.client.request(method, path, headers=sent, body=b"{}", cookies=False), path)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(path=st.sampled_from(PATHS), size=st.sampled_from([65_537, 200_000, 1_000_000]))
def test_huge_bodies(world: World, path: str, size: int) -> None:
    body = b'{"email": "' + b"a" * size + b'"}'
    r = world.client.post(path, body=body, headers={"Content-Type": "application/json"}, cookies=False)
    world.check(r)
    assert r.status in {413, 401}, (path, r.status)


def test_the_attacker_only_ever_sees_their_own_sessions(world: World) -> None:
    client: ContractClient = world.client
    r = client.get("/auth/sessions", headers={"Authorization": f"Bearer {world.attacker_token}"},
                   cookies=False)  # fmt: skip
    assert r.status == 200 and len(r.json()["sessions"]) == 1
    world.check(r)
