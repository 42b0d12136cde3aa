"""The edges of the HTTP contract, the same on every framework.

* S1: a protected view never runs without its user, whatever the method;
  a CORS preflight is answered without running it.
* U4: HTTP Basic counts only where a view asks for it.
* U11/SPEC §5: every 401 carries ``WWW-Authenticate``.
* U7/Z2/Z4/Z5: one JSON error shape for unknown paths, wrong methods,
  OPTIONS, HEAD, oversized and chunked bodies.
* S13: hostile JSON is a clear 400, never a 500.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .clients import ContractClient, Response
from .conftest import MakeClient
from .test_http_contract import PASSWORD, _user_with_roles, assert_error, bearer, sign_up

OPTIONS_VIEWS = ["/opt/login", "/opt/admin", "/opt/perm", "/opt/token"]
PREFLIGHT = {"Origin": "https://spa.example", "Access-Control-Request-Method": "GET"}
BEARER_CHALLENGE = 'Bearer realm="authgate"'
BASIC_CHALLENGE = 'Basic realm="authgate", charset="UTF-8"'


def basic(email: str = "alice@example.com", password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


def assert_no_view(r: Response) -> None:
    assert b"email" not in r.body, r.body


# -- S1: OPTIONS ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", OPTIONS_VIEWS)
def test_options_is_authenticated_like_get(client: ContractClient, path: str) -> None:
    r = client.request("OPTIONS", path, headers={"Accept": "application/json"})
    assert_error(r, 401, "UNAUTHORIZED")
    assert_no_view(r)
    r = client.request("OPTIONS", path, headers={**bearer("garbage"), "Origin": "https://x.example"})
    assert_error(r, 401, "INVALID_TOKEN")


@pytest.mark.parametrize("path", ["/opt/admin", "/opt/perm"])
def test_options_needs_the_role_or_permission(client: ContractClient, path: str) -> None:
    plain = sign_up(client).json()["token"]
    r = client.request("OPTIONS", path, headers=bearer(plain), cookies=False)
    assert_error(r, 403, "FORBIDDEN")
    assert_no_view(r)


@pytest.mark.parametrize("path", OPTIONS_VIEWS)
def test_options_with_the_credential_runs_the_view(client: ContractClient, path: str) -> None:
    token = _user_with_roles(client, "root@example.com", ["admin"], ("post.edit",))
    r = client.request("OPTIONS", path, headers=bearer(token), cookies=False)
    assert r.status == 200 and r.json() == {"email": "root@example.com"}


@pytest.mark.parametrize("path", OPTIONS_VIEWS)
def test_a_cors_preflight_is_answered_without_the_view(client: ContractClient, path: str) -> None:
    r = client.request("OPTIONS", path, headers=PREFLIGHT)
    assert r.status == 204 and r.body == b""
    # Only a real preflight: Origin alone, or the request method alone, is not one.
    for partial in ({"Origin": "https://spa.example"}, {"Access-Control-Request-Method": "GET"}):
        assert client.request("OPTIONS", path, headers=partial).status == 401


def test_options_page_request_goes_to_login(client: ContractClient) -> None:
    r = client.request("OPTIONS", "/opt/login", headers={"Accept": "text/html"})
    assert r.status in {302, 303} and "/auth/login?next=" in (r.header("Location") or "")


# -- U4: HTTP Basic only where asked for -----------------------------------------------------
@pytest.mark.parametrize("path", ["/protected", "/admin", "/perm", "/opt/token", "/session-only"])
def test_basic_is_not_accepted_by_default(client: ContractClient, path: str) -> None:
    token = _user_with_roles(client, "alice@example.com", ["admin"], ("post.edit",))
    assert client.get(path, headers=bearer(token), cookies=False).status in {200, 401}
    r = client.get(path, headers=basic(), cookies=False)
    assert_error(r, 401, "UNAUTHORIZED")
    assert BASIC_CHALLENGE not in (r.header("WWW-Authenticate") or "")


def test_basic_is_accepted_where_asked_for(client: ContractClient) -> None:
    sign_up(client)
    r = client.get("/basic", headers=basic(), cookies=False)
    assert r.status == 200 and r.json() == {"email": "alice@example.com"}


def test_current_user_ignores_basic(client: ContractClient) -> None:
    sign_up(client)
    assert client.get("/optional", headers=basic(), cookies=False).json() == {"email": None}


def test_the_json_api_refuses_basic(client: ContractClient) -> None:
    sign_up(client)
    r = client.get("/auth/session", headers=basic(), cookies=False)
    assert_error(r, 401, "UNAUTHORIZED")
    assert "Basic" not in (r.header("WWW-Authenticate") or "")


def test_basic_costs_no_hash_where_not_accepted(client: ContractClient) -> None:
    """A wrong Basic password on a default view is no sign-in attempt (no throttle, no oracle)."""
    sign_up(client)
    for _ in range(12):
        r = client.get("/protected", headers=basic(password="wrong password"), cookies=False)
        assert_error(r, 401, "UNAUTHORIZED")
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status == 200


# -- WWW-Authenticate ------------------------------------------------------------------------
def test_api_401s_carry_a_bearer_challenge(client: ContractClient) -> None:
    sign_up(client)
    for r in [
        client.get("/auth/session", cookies=False),
        client.post("/auth/sign-out", cookies=False),
        client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "wrong one!"}),
    ]:
        assert r.status == 401
        assert r.header("WWW-Authenticate") == BEARER_CHALLENGE
    r = client.get("/auth/session", headers=bearer("garbage"), cookies=False)
    assert r.header("WWW-Authenticate") == BEARER_CHALLENGE + ', error="invalid_token"'


def test_guard_401s_carry_a_challenge(client: ContractClient) -> None:
    r = client.get("/protected", cookies=False)
    assert_error(r, 401, "UNAUTHORIZED")
    assert r.header("WWW-Authenticate") == BEARER_CHALLENGE
    r = client.get("/protected", headers=bearer("garbage"), cookies=False)
    assert r.header("WWW-Authenticate") == BEARER_CHALLENGE + ', error="invalid_token"'
    r = client.get("/basic", cookies=False)
    assert r.header("WWW-Authenticate") == f"{BEARER_CHALLENGE}, {BASIC_CHALLENGE}"
    sign_up(client)
    r = client.get("/basic", headers=basic(password="wrong password"), cookies=False)
    assert_error(r, 401, "INVALID_CREDENTIALS")
    assert BASIC_CHALLENGE in (r.header("WWW-Authenticate") or "")


def test_403_and_redirects_carry_no_challenge(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    assert client.get("/admin", headers=bearer(token), cookies=False).header("WWW-Authenticate") is None
    r = client.get("/protected", headers={"Accept": "text/html"}, cookies=False)
    assert r.status in {302, 303} and r.header("WWW-Authenticate") is None


# -- one error shape at every edge -------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/auth/nope", "/auth/sign-in", "/auth/sign-in/email/extra", "/auth/"])
def test_unknown_paths_under_the_prefix_are_json_404(
    client: ContractClient, method: str, path: str
) -> None:
    r = client.request(method, path, headers={"Accept": "text/html,*/*"})
    assert_error(r, 404, "NOT_FOUND")
    assert "application/json" in (r.header("Content-Type") or "")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/auth/sign-in/email", "OPTIONS, POST"),
        ("PUT", "/auth/sign-in/email", "OPTIONS, POST"),
        ("DELETE", "/auth/session", "GET, HEAD, OPTIONS"),
        ("POST", "/auth/session", "GET, HEAD, OPTIONS"),
        ("PATCH", "/auth/verify-email", "GET, HEAD, OPTIONS, POST"),
        ("TRACE", "/auth/sign-out", "OPTIONS, POST"),
        ("HEAD", "/auth/sign-out", "OPTIONS, POST"),
    ],
)
def test_a_wrong_method_is_json_405_with_a_true_allow(
    client: ContractClient, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path)
    assert r.status == 405
    assert r.header("Allow") == allow
    if method != "HEAD":
        assert_error(r, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/auth/sign-in/email", "OPTIONS, POST"), ("/auth/session", "GET, HEAD, OPTIONS"),
     ("/auth/reset-password", "GET, HEAD, OPTIONS, POST")],
)  # fmt: skip
def test_options_on_an_api_path_is_204_with_allow(
    client: ContractClient, path: str, allow: str
) -> None:
    for headers in ({}, PREFLIGHT):
        r = client.request("OPTIONS", path, headers=headers)
        assert r.status == 204 and r.body == b""
        assert r.header("Allow") == allow


def test_head_answers_like_get_without_a_body(client: ContractClient) -> None:
    token = sign_up(client).json()["token"]
    for path, headers in [("/auth/session", bearer(token)), ("/auth/session", {}),
                          ("/auth/openapi.json", {})]:  # fmt: skip
        got = client.get(path, headers=headers, cookies=False)
        head = client.request("HEAD", path, headers=headers, cookies=False)
        assert head.status == got.status and head.body == b""
        for name in ("Content-Type", "Cache-Control", "WWW-Authenticate"):
            assert head.header(name) == got.header(name), name
        length = head.header("Content-Length")
        assert length is None or int(length) == len(got.body)


def test_head_of_an_emailed_link_never_redeems_it(make_client: MakeClient) -> None:
    from authgate.testing import OutboxMailer

    outbox = OutboxMailer()
    client = make_client(confirmable=True, send_email=outbox)
    sign_up(client)
    token = outbox.last("confirm_email").text.split("token=")[1].split()[0]
    r = client.request("HEAD", f"/auth/verify-email?token={token}", headers={"Accept": "application/json"})
    assert r.status == 200 and r.body == b""
    r = client.post("/auth/verify-email", json={"token": token})
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True


def test_an_oversized_body_is_413_on_every_body_route(client: ContractClient) -> None:
    big = b'{"x": "' + b"a" * 70_000 + b'"}'
    for path in ["/auth/sign-in/email", "/auth/forgot-password", "/auth/reset-password"]:
        r = client.post(path, body=big, headers={"Content-Type": "application/json"})
        assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    form = b"token=x&nonce=y&pad=" + b"a" * 70_000
    r = client.post("/auth/verify-email", body=form,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


def test_link_routes_keep_their_urlencoded_form(client: ContractClient) -> None:
    """Z2: the confirm pages post urlencoded forms; no HTML 400 on any framework."""
    for path in ["/auth/verify-email", "/auth/reset-password", "/auth/magic-link/verify"]:
        r = client.post(path, body=b"token=abc&nonce=x&new_password=long+enough+pass",
                        headers={"Content-Type": "application/x-www-form-urlencoded",
                                 "Accept": "text/html"})  # fmt: skip
        assert r.error_code in {"CSRF_FAILED", "FEATURE_DISABLED"}, (path, r.status, r.body)


# -- hostile JSON (S13) ---------------------------------------------------------------------------
HOSTILE_BODIES = {
    "deep nesting": b'{"email":' + b"[" * 30000 + b"]" * 30000 + b', "password": "x"}',
    "deep objects": b'{"email":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    "NaN": b'{"email": "a@example.com", "password": NaN}',
    "Infinity": b'{"email": "a@example.com", "password": -Infinity}',
    "float overflow": b'{"email": "a@example.com", "password": 1e400}',
    "huge integer": b'{"email": "a@example.com", "password": ' + b"9" * 5000 + b"}",
    "duplicate keys": b'{"email": "a@example.com", "password": "x", "password": "correct horse battery"}',
    "lone surrogate": b'{"email": "a@example.com", "password": "correct horse \\ud800 battery"}',
    "lone low surrogate": b'{"email": "a@example.com", "password": "correct horse \\udc00 battery"}',
    "NUL": b'{"email": "a\\u0000@example.com", "password": "correct horse battery"}',
    "NUL in a key": b'{"email": "a@example.com", "password": "correct horse battery", "x\\u0000": 1}',
    "not UTF-8": b'{"email": "a@example.com", "password": "\xff\xfe correct horse"}',
    "UTF-16": '{"email": "a@example.com", "password": "correct horse battery"}'.encode("utf-16"),
    "truncated": b'{"email": "a@example.com", "password": "correct',
    "trailing garbage": b'{"email": "a@example.com", "password": "correct horse battery"} x',
    "top-level array": b'[{"email": "a@example.com"}]',
    "top-level null": b"null",
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_json_is_a_clear_400(client: ContractClient, name: str) -> None:
    body = HOSTILE_BODIES[name]
    for path in ["/auth/sign-up/email", "/auth/sign-in/email"]:
        r = client.post(path, body=body, headers={"Content-Type": "application/json"})
        error = assert_error(r, 400, "VALIDATION_ERROR")
        assert error["fields"], error
        text = r.body.decode()
        assert "Traceback" not in text and "\\u0000" not in text and "RecursionError" not in text
    assert client.auth.users.count_users() == 0  # type: ignore[attr-defined]


def test_duplicate_keys_name_the_field(client: ContractClient) -> None:
    r = client.post("/auth/sign-in/email", body=HOSTILE_BODIES["duplicate keys"],
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert assert_error(r, 400, "VALIDATION_ERROR")["fields"] == {"password": "invalid"}


def test_escaped_non_ascii_text_is_fine(client: ContractClient) -> None:
    """A surrogate *pair* is a real character (an emoji), not a lone surrogate."""
    body = b'{"email": "a@example.com", "password": "correct horse \\ud83d\\ude00 battery"}'
    r = client.post("/auth/sign-up/email", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 200, r.body
    r = client.post("/auth/sign-in/email", json={"email": "a@example.com", "password": "correct horse 😀 battery"})
    assert r.status == 200


def test_hostile_forms_are_a_clear_400(make_client: MakeClient) -> None:
    client = make_client(confirmable=True)
    for body in [b"token=a%00b&nonce=x", b"token=\xff\xfe&nonce=x"]:
        r = client.post("/auth/verify-email", body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert_error(r, 400, "VALIDATION_ERROR")


def test_unexpected_exceptions_are_json_500_with_a_reference(
    client: ContractClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from authgate.flows import signin

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals: SELECT password_hash FROM users")

    monkeypatch.setattr(signin, "sign_in", broken)
    with caplog.at_level("ERROR", logger="authgate.web"):
        r = client.post("/auth/sign-in/email", json={"email": "a@example.com", "password": PASSWORD})
    error = assert_error(r, 500, "INTERNAL_ERROR")
    reference = error["message"].split("ref ")[1].rstrip(").")
    assert "SELECT" not in r.body.decode() and "secret" not in r.body.decode()
    assert any(reference in record.getMessage() for record in caplog.records)
