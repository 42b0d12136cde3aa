"""SPEC §5 ``GET /security-events``: the signed-in user's own events, on every framework."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ..core.conftest import Clock
from .clients import ContractClient
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer, sign_up

EVENT_KEYS = {"kind", "at", "ip", "user_agent", "outcome"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(make_client: MakeClient, clock: Clock) -> ContractClient:
    return make_client(clock=clock)


def events(client: ContractClient, token: str, query: str = "") -> list[dict[str, Any]]:
    r = client.get(f"/auth/security-events{query}", headers=bearer(token), cookies=False)
    assert r.status == 200, r.body
    assert r.header("Cache-Control") == "no-store"
    body = r.json()
    assert set(body) == {"events"}
    return list(body["events"])


def test_security_events_of_the_signed_in_user(client: ContractClient, clock: Clock) -> None:
    token = sign_up(client).json()["token"]
    clock.advance(1)
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "wrong!!!!"},
                    headers={"User-Agent": "Attacker/1.0"})  # fmt: skip
    assert_error(r, 401, "INVALID_CREDENTIALS")
    clock.advance(1)
    client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                headers={"User-Agent": "Phone/2.0"}, cookies=False)  # fmt: skip
    listed = events(client, token)
    assert all(set(e) == EVENT_KEYS for e in listed)
    assert [(e["kind"], e["outcome"], e["user_agent"]) for e in listed[:2]] == [
        ("sign_in", "success", "Phone/2.0"),
        ("sign_in", "failure", "Attacker/1.0"),
    ]
    assert (listed[2]["kind"], listed[2]["outcome"]) == ("sign_up", "success")
    assert listed[0]["ip"] == "127.0.0.1"
    assert dt.datetime.fromisoformat(listed[0]["at"]) == clock()
    text = str(listed)
    assert PASSWORD not in text and token not in text and "wrong!!!!" not in text


def test_never_another_users_events(client: ContractClient) -> None:
    alice = sign_up(client).json()
    bob = sign_up(client, email="bob@example.com").json()
    for query in ("", f"?user_id={alice['user']['id']}", f"?user={alice['user']['id']}",
                  "?user=alice@example.com", f"?limit=100&user_id={alice['user']['id']}"):  # fmt: skip
        listed = events(client, bob["token"], query)
        assert [e["kind"] for e in listed] == ["sign_up"]
    assert len(client.auth.audit.events(alice["user"]["id"])) == 1  # type: ignore[attr-defined]


def test_paging_with_limit_and_before(client: ContractClient, clock: Clock) -> None:
    token = sign_up(client).json()["token"]
    for _ in range(4):
        clock.advance(1)
        client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                    cookies=False)  # fmt: skip
    first = events(client, token, "?limit=2")
    assert [e["kind"] for e in first] == ["sign_in", "sign_in"]
    before = first[-1]["at"].replace("+00:00", "Z")
    second = events(client, token, f"?limit=2&before={before}")
    third = events(client, token, f"?limit=2&before={second[-1]['at'].replace('+', '%2B')}")
    assert [e["kind"] for e in second + third] == ["sign_in", "sign_in", "sign_up"]
    assert len({e["at"] for e in first + second + third}) == 5
    assert len(events(client, token)) == 5  # the default page holds them all


@pytest.mark.parametrize(
    ("query", "field"),
    [("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=ten", "limit"), ("?limit=-1", "limit"),
     ("?limit=%C2%B2", "limit"), ("?limit=1e2", "limit"), ("?before=%00", "before"),
     ("?before=0001-01-01T00:00:00%2B01:00", "before"),
     ("?before=yesterday", "before"), ("?before=2026-13-01", "before")],
)  # fmt: skip
def test_bad_query(client: ContractClient, query: str, field: str) -> None:
    token = sign_up(client).json()["token"]
    r = client.get(f"/auth/security-events{query}", headers=bearer(token), cookies=False)
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {field: "invalid"}


def test_needs_a_session(client: ContractClient) -> None:
    assert_error(client.get("/auth/security-events"), 401, "UNAUTHORIZED")
    assert_error(client.get("/auth/security-events", headers=bearer("nope"), cookies=False), 401,
                 "INVALID_TOKEN")  # fmt: skip
    sign_up(client)
    assert client.get("/auth/security-events").status == 200  # by cookie: a GET needs no CSRF


def test_security_events_from_an_sql_store(
    make_client: MakeClient, clock: Clock, tmp_path: Any
) -> None:
    client = make_client(clock=clock, database_url=f"sqlite:///{tmp_path / 'auth.db'}")
    try:
        token = sign_up(client).json()["token"]
        clock.advance(1)
        client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD},
                    cookies=False)  # fmt: skip
        first = events(client, token, "?limit=1")
        assert [e["kind"] for e in first] == ["sign_in"]
        assert dt.datetime.fromisoformat(first[0]["at"]) == clock()
        rest = events(client, token, f"?before={first[0]['at'].replace('+', '%2B')}")
        assert [e["kind"] for e in rest] == ["sign_up"]
    finally:
        client.auth.store.close()  # type: ignore[attr-defined]
