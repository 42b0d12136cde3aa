"""SPEC §9's passkey endpoints on every framework, with a software authenticator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.passkeys.authenticator import Authenticator

from .clients import ContractClient, Response
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer, sign_up

ORIGIN = "http://localhost:5000"


@pytest.fixture
def client(make_client: MakeClient) -> ContractClient:
    return make_client(passkeys=True, base_url=ORIGIN, send_email=lambda m: None)


def csrf(client: ContractClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookie("authgate_csrf") or ""}


def add_passkey(client: ContractClient, authenticator: Authenticator, **headers: str) -> Response:
    """Register a passkey through the API with the client's cookie session (or ``headers``)."""
    sent = headers or csrf(client)
    options = client.post("/auth/passkey/register/options", headers=sent)
    assert options.status == 200, options.body
    answer = authenticator.create(options.json())
    return client.post("/auth/passkey/register", json={"credential": answer, "name": "Laptop"},
                       headers=sent)  # fmt: skip


def test_register_list_sign_out_and_sign_in_with_a_passkey(client: ContractClient) -> None:
    authenticator = Authenticator(ORIGIN)
    user = sign_up(client).json()["user"]
    options = client.post("/auth/passkey/register/options", headers=csrf(client))
    assert options.status == 200
    body = options.json()
    assert body["rp"] == {"id": "localhost", "name": "authgate"} and body["state"]
    assert body["authenticatorSelection"]["residentKey"] == "required"
    assert options.header("Cache-Control") == "no-store"
    assert client.cookie("authgate_passkey_register") == body["state"]
    answer = authenticator.create(body)
    r = client.post("/auth/passkey/register", json={"credential": answer, "name": "Laptop"},
                    headers=csrf(client))  # fmt: skip
    assert r.status == 200, r.body
    passkey = r.json()["passkey"]
    assert {"id", "name", "created_at", "last_used_at"} <= set(passkey)
    assert passkey["name"] == "Laptop" and passkey["last_used_at"] is None
    assert client.cookie("authgate_passkey_register") is None  # used: forgotten
    listed = client.get("/auth/passkeys")
    assert listed.status == 200 and listed.json() == {"passkeys": [passkey]}

    assert client.post("/auth/sign-out", headers=csrf(client)).status == 200
    assert client.get("/auth/session").status == 401
    options = client.post("/auth/passkey/sign-in/options", json={})
    assert options.status == 200 and options.json()["allowCredentials"] == []
    r = client.post("/auth/passkey/sign-in", json={"credential": authenticator.get(options.json())})
    assert r.status == 200, r.body
    assert set(r.json()) == {"user", "token"} and r.json()["user"]["id"] == user["id"]
    assert client.get("/auth/session").json()["user"]["id"] == user["id"]  # the cookie is set
    assert client.get("/auth/passkeys").json()["passkeys"][0]["last_used_at"] is not None


def test_a_bearer_client_carries_the_state_itself(client: ContractClient) -> None:
    authenticator = Authenticator(ORIGIN)
    token = sign_up(client).json()["token"]
    client.cookies.clear()
    options = client.post("/auth/passkey/register/options", headers=bearer(token), cookies=False)
    body = options.json()
    r = client.post("/auth/passkey/register", headers=bearer(token), cookies=False,
                    json={"credential": authenticator.create(body), "state": body["state"]})
    assert r.status == 200, r.body
    options = client.post("/auth/passkey/sign-in/options", json={"email": "alice@example.com"},
                          cookies=False).json()  # fmt: skip
    assert len(options["allowCredentials"]) == 1
    r = client.post("/auth/passkey/sign-in", cookies=False,
                    json={"credential": authenticator.get(options), "state": options["state"]})
    assert r.status == 200 and r.json()["token"]
    assert client.get("/auth/session", headers=bearer(r.json()["token"]), cookies=False).status == 200


def test_replayed_and_foreign_states_are_refused(client: ContractClient) -> None:
    authenticator = Authenticator(ORIGIN)
    sign_up(client)
    assert add_passkey(client, authenticator).status == 200
    options = client.post("/auth/passkey/sign-in/options", json={}).json()
    answer = authenticator.get(options)
    assert client.post("/auth/passkey/sign-in", json={"credential": answer}).status == 200
    # Again: the cookie is gone, and the state sent by hand is used.
    assert_error(client.post("/auth/passkey/sign-in", json={"credential": answer}), 401,
                 "INVALID_TOKEN")  # fmt: skip
    assert_error(client.post("/auth/passkey/sign-in",
                             json={"credential": answer, "state": options["state"]}),
                 401, "INVALID_TOKEN")  # fmt: skip
    # A registration state of another session.
    stolen = client.post("/auth/passkey/register/options", headers=csrf(client)).json()
    other = client.post("/auth/sign-in/email", json={"email": "alice@example.com",
                                                     "password": PASSWORD})  # fmt: skip
    r = client.post("/auth/passkey/register", headers=bearer(other.json()["token"]), cookies=False,
                    json={"credential": authenticator.create(stolen), "state": stolen["state"]})
    assert_error(r, 401, "INVALID_TOKEN")


def test_wrong_origin_and_tampering_are_refused(client: ContractClient) -> None:
    authenticator = Authenticator(ORIGIN)
    sign_up(client)
    options = client.post("/auth/passkey/register/options", headers=csrf(client)).json()
    r = client.post("/auth/passkey/register", headers=csrf(client),
                    json={"credential": authenticator.create(options, origin="http://evil.test")})
    body = assert_error(r, 400, "VALIDATION_ERROR")
    assert body["fields"] == {"credential": "invalid"}
    assert add_passkey(client, authenticator).status == 200
    options = client.post("/auth/passkey/sign-in/options", json={}).json()
    answer = authenticator.get(options, rp_id="evil.test")
    assert_error(client.post("/auth/passkey/sign-in", json={"credential": answer}), 401,
                 "INVALID_CREDENTIALS")  # fmt: skip


def test_passkeys_of_another_user_cannot_be_renamed_removed_or_used(
    make_client: MakeClient,
) -> None:
    client = make_client(passkeys=True, base_url=ORIGIN, send_email=lambda m: None)
    alices = Authenticator(ORIGIN)
    sign_up(client)
    passkey = add_passkey(client, alices).json()["passkey"]
    bob = sign_up(client, "bob@example.com").json()["token"]
    client.cookies.clear()
    for path, body in (("/auth/passkey/rename", {"id": passkey["id"], "name": "mine"}),
                       ("/auth/passkey/delete", {"id": passkey["id"]})):  # fmt: skip
        assert_error(client.post(path, json=body, headers=bearer(bob)), 404, "NOT_FOUND")
    assert client.get("/auth/passkeys", headers=bearer(bob)).json() == {"passkeys": []}
    options = client.post("/auth/passkey/sign-in/options", json={"email": "bob@example.com"})
    answer = alices.get({**options.json(), "allowCredentials": []})
    assert_error(client.post("/auth/passkey/sign-in", json={"credential": answer}), 401,
                 "INVALID_CREDENTIALS")  # fmt: skip


def test_rename_and_delete(client: ContractClient) -> None:
    sign_up(client)
    passkey = add_passkey(client, Authenticator(ORIGIN)).json()["passkey"]
    r = client.post("/auth/passkey/rename", json={"id": passkey["id"], "name": "Phone"},
                    headers=csrf(client))  # fmt: skip
    assert r.status == 200 and r.json()["passkey"]["name"] == "Phone"
    assert_error(client.post("/auth/passkey/rename", json={"id": passkey["id"], "name": ""},
                             headers=csrf(client)), 400, "VALIDATION_ERROR")  # fmt: skip
    assert_error(client.post("/auth/passkey/delete", json={"id": passkey["id"]}), 403,
                 "CSRF_FAILED")  # fmt: skip
    r = client.post("/auth/passkey/delete", json={"id": passkey["id"]}, headers=csrf(client))
    assert r.status == 200 and r.json() == {"success": True}
    assert client.get("/auth/passkeys").json() == {"passkeys": []}


def test_registration_and_removal_need_a_fresh_session(make_client: MakeClient) -> None:
    client = make_client(passkeys=True, base_url=ORIGIN, send_email=lambda m: None, freshness=1)
    token = sign_up(client).json()["token"]
    client.cookies.clear()
    import time

    time.sleep(1.1)
    assert_error(client.post("/auth/passkey/register/options", headers=bearer(token)), 401,
                 "REAUTH_REQUIRED")  # fmt: skip
    assert_error(client.post("/auth/passkey/delete", json={"id": "x"}, headers=bearer(token)),
                 401, "REAUTH_REQUIRED")  # fmt: skip


def test_unknown_addresses_get_the_same_options(client: ContractClient) -> None:
    sign_up(client)
    known = client.post("/auth/passkey/sign-in/options", json={"email": "alice@example.com"})
    unknown = client.post("/auth/passkey/sign-in/options", json={"email": "zed@example.com"})
    assert known.status == unknown.status == 200
    assert set(known.json()) == set(unknown.json())
    assert len(known.json()["allowCredentials"]) == len(unknown.json()["allowCredentials"]) == 1


@pytest.mark.parametrize(
    "body",
    [{"credential": "x"}, {"credential": {}}, {"credential": [1]}, {"credential": None},
     {"credential": {"id": "a", "rawId": "a"}, "extra": 1}, {}],
)  # fmt: skip
def test_malformed_sign_ins_are_client_errors(client: ContractClient, body: Any) -> None:
    client.post("/auth/passkey/sign-in/options", json={})
    r = client.post("/auth/passkey/sign-in", json=body)
    assert r.status in (400, 401) and r.error_code in (
        "VALIDATION_ERROR", "INVALID_TOKEN", "INVALID_CREDENTIALS"
    )


def test_switched_off_passkeys_are_feature_disabled(make_client: MakeClient) -> None:
    client = make_client()
    token = sign_up(client).json()["token"]
    for method, path in (("POST", "/auth/passkey/register/options"),
                         ("POST", "/auth/passkey/sign-in/options"), ("GET", "/auth/passkeys")):
        if method == "POST":
            r = client.post(path, json={}, headers=bearer(token))
        else:
            r = client.get(path, headers=bearer(token))
        assert_error(r, 404, "FEATURE_DISABLED")
    paths = client.get("/auth/openapi.json").json()["paths"]
    assert not any("passkey" in p for p in paths)


def test_openapi_lists_the_passkey_endpoints(client: ContractClient) -> None:
    paths = client.get("/auth/openapi.json").json()["paths"]
    assert {p for p in paths if "passkey" in p} == {
        "/auth/passkey/register/options", "/auth/passkey/register", "/auth/passkey/sign-in/options",
        "/auth/passkey/sign-in", "/auth/passkeys", "/auth/passkey/rename", "/auth/passkey/delete",
    }  # fmt: skip


def test_a_passkey_is_a_second_factor_and_a_passkey_sign_in_needs_none(
    make_client: MakeClient,
) -> None:
    client = make_client(passkeys=True, two_factor=True, base_url=ORIGIN,
                         send_email=lambda m: None)  # fmt: skip
    alices, bobs = Authenticator(ORIGIN), Authenticator(ORIGIN)
    sign_up(client, "bob@example.com")
    assert add_passkey(client, bobs).status == 200
    client.cookies.clear()
    sign_up(client)
    assert add_passkey(client, alices).status == 200
    client.cookies.clear()

    def challenge() -> dict[str, Any]:
        r = client.post("/auth/sign-in/email", json={"email": "alice@example.com",
                                                     "password": PASSWORD})  # fmt: skip
        error = assert_error(r, 401, "TWO_FACTOR_REQUIRED")
        assert "passkey" in error["methods"]
        return error

    def verify(error: dict[str, Any], authenticator: Authenticator) -> Response:
        options = client.post("/auth/passkey/sign-in/options", json={"email": "alice@example.com"})
        body = options.json()
        answer = authenticator.get({**body, "allowCredentials": []})
        return client.post("/auth/two-factor/verify", json={
            "challenge": error["challenge"], "method": "passkey", "credential": answer,
            "state": body["state"],
        })  # fmt: skip

    # Bob's passkey is no second factor of Alice's.
    assert_error(verify(challenge(), bobs), 401, "INVALID_CODE")
    r = verify(challenge(), alices)
    assert r.status == 200, r.body
    assert r.json()["user"]["email"] == "alice@example.com" and r.json()["token"]
    # A passkey sign-in is two factors in one: no second step.
    client.cookies.clear()
    options = client.post("/auth/passkey/sign-in/options", json={}).json()
    r = client.post("/auth/passkey/sign-in", json={"credential": alices.get(options)})
    assert r.status == 200 and r.json()["user"]["email"] == "alice@example.com"


def test_reauthenticate_with_a_passkey(make_client: MakeClient) -> None:
    client = make_client(passkeys=True, base_url=ORIGIN, send_email=lambda m: None, freshness=1)
    alices, bobs = Authenticator(ORIGIN), Authenticator(ORIGIN)
    bob = sign_up(client, "bob@example.com").json()["token"]
    assert add_passkey(client, bobs, Authorization=f"Bearer {bob}").status == 200
    client.cookies.clear()
    token = sign_up(client).json()["token"]
    client.cookies.clear()
    assert add_passkey(client, alices, Authorization=f"Bearer {token}").status == 200
    import time

    time.sleep(1.1)
    assert_error(client.post("/auth/passkey/register/options", headers=bearer(token)), 401,
                 "REAUTH_REQUIRED")  # fmt: skip
    options = client.post("/auth/passkey/sign-in/options", json={}, cookies=False).json()
    r = client.post("/auth/reauthenticate", headers=bearer(token), cookies=False,
                    json={"credential": bobs.get(options), "state": options["state"]})
    assert_error(r, 401, "INVALID_CREDENTIALS")
    assert_error(client.post("/auth/passkey/register/options", headers=bearer(token)), 401,
                 "REAUTH_REQUIRED")  # fmt: skip
    options = client.post("/auth/passkey/sign-in/options", json={}, cookies=False).json()
    r = client.post("/auth/reauthenticate", headers=bearer(token), cookies=False,
                    json={"credential": alices.get(options), "state": options["state"]})
    assert r.status == 200 and r.json() == {"success": True}
    assert client.post("/auth/passkey/register/options", headers=bearer(token)).status == 200
