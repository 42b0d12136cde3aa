"""What each web snippet of the documentation promises, checked by serving it.

A scenario gets the namespace the snippet's program left (``app``, ``auth``...) and
its working directory, and sends the requests the page describes: sign up, call the
protected view, get the status the page says. Registered by snippet name with
:func:`scenario`; ``tests/docs/test_snippets.py`` runs each right after its program.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

Scenario = Callable[[dict[str, Any], Path], None]
SCENARIOS: dict[str, Scenario] = {}
PASSWORD = "correct horse battery"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[name] = function
        return function

    return register


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


@scenario("core")
def core(ns: dict[str, Any], workdir: Path) -> None:
    assert (workdir / "auth.db").exists()  # database_url="sqlite:///auth.db", as written
    assert ns["events"][0].kind == "sign_in"
    assert not ns["auth"].users.get_user("admin@example.com").is_active


@scenario("readme-flask")
@scenario("flask-quickstart")
def flask_quickstart(ns: dict[str, Any], workdir: Path) -> None:
    client = ns["app"].test_client()
    signed_up = client.post("/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD})
    assert signed_up.status_code == 200, signed_up.get_data(as_text=True)
    token = signed_up.get_json()["token"]
    me = client.get("/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["email"] == "a@example.com"
    client.get("/auth/sign-out")  # the cookie of the sign-up stays; a fresh client has none
    anonymous = ns["app"].test_client()
    refused = anonymous.get("/me", headers=JSON)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert "WWW-Authenticate" in refused.headers
    page = anonymous.get("/me", headers=HTML)
    assert page.status_code == 303 and page.headers["Location"] == "/auth/login?next=%2Fme"
    assert anonymous.get("/auth/register", headers=HTML).status_code == 200
    studio = client.get("/studio", headers=bearer(token))
    assert studio.status_code == 403 and studio.get_json()["error"]["code"] == "FORBIDDEN"
    ns["auth"].users.add_role_to_user(ns["auth"].users.get_user("a@example.com"), "starving")
    ns["auth"].users.add_role_to_user(ns["auth"].users.get_user("a@example.com"), "artist")
    assert client.get("/studio", headers=bearer(token)).get_json() == {"ok": True}
    if "index" in ns:  # the README's @auth.protected() view on the same app
        assert anonymous.get("/", headers=JSON).status_code == 401
        assert client.get("/", headers=bearer(token)).get_data(as_text=True) == "hello"


@scenario("flask-login-names")
def flask_login_names(ns: dict[str, Any], workdir: Path) -> None:
    ns["auth"].users.create_user(email="alice@example.com", password=PASSWORD)
    client = ns["app"].test_client()
    assert client.get("/whoami", headers=JSON).status_code == 401
    signed_in = client.post("/sso/callback")
    assert signed_in.get_json() == {"signed_in": True}
    whoami = client.get("/whoami", headers=JSON)  # the session cookie login_user set
    assert whoami.status_code == 200 and whoami.get_json()["anonymous"] is False
    assert len(ns["auth"].list_sessions(ns["auth"].users.get_user("alice@example.com"))) == 1


@scenario("flask-protected")
def flask_protected(ns: dict[str, Any], workdir: Path) -> None:
    auth = ns["auth"]
    auth.users.create_user(email="bob@example.com", password=PASSWORD)
    auth.users.create_user(email="root@example.com", password=PASSWORD, roles=["admin"])
    client = ns["app"].test_client()
    assert client.get("/", headers=JSON).status_code == 401
    bob = bearer(auth.sign_in("bob@example.com", PASSWORD).token)
    root = bearer(auth.sign_in("root@example.com", PASSWORD).token)
    assert client.get("/", headers=bob).get_data(as_text=True) == "hello"
    assert client.get("/admin", headers=bob).status_code == 403
    assert client.get("/admin", headers=root).get_data(as_text=True) == "admins only"


@scenario("fastapi-quickstart")
def fastapi_quickstart(ns: dict[str, Any], workdir: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(ns["app"]) as client:
        assert client.get("/hello").json() == {"hello": "stranger"}
        refused = client.get("/me")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
        signed_up = client.post(
            "/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD}
        )
        assert signed_up.status_code == 200, signed_up.text
        token = signed_up.json()["token"]
        client.cookies.clear()
        assert client.get("/me", headers=bearer(token)).json()["email"] == "a@example.com"
        assert client.get("/hello", headers=bearer(token)).json() == {"hello": "a@example.com"}
        assert client.get("/admin", headers=bearer(token)).status_code == 403
        assert client.get("/auth/login", headers=HTML).status_code == 200  # pages=True
        assert "/auth/sign-in/email" in client.get("/openapi.json").json()["paths"]


@scenario("readme-bottle")
@scenario("bottle-quickstart")
def bottle_quickstart(ns: dict[str, Any], workdir: Path) -> None:
    from werkzeug.test import Client  # any WSGI client: Bottle apps are WSGI apps

    client = Client(ns["app"])
    signed_up = client.post(
        "/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD}
    )
    assert signed_up.status_code == 200, signed_up.get_data(as_text=True)
    token = signed_up.json["token"]
    anonymous = Client(ns["app"])
    refused = anonymous.get("/me", headers=JSON)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "UNAUTHORIZED"
    assert anonymous.get("/me", headers=bearer(token)).json["email"] == "a@example.com"
    if "admin" in ns:
        assert anonymous.get("/admin", headers=bearer(token)).status_code == 403
    assert anonymous.get("/auth/login", headers=HTML).status_code == 200


@scenario("readme-fastapi")
def readme_fastapi(ns: dict[str, Any], workdir: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(ns["app"]) as client:
        assert client.get("/me").status_code == 401
        signed_up = client.post(
            "/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD}
        )
        token = signed_up.json()["token"]
        client.cookies.clear()
        assert client.get("/me", headers=bearer(token)).json()["email"] == "a@example.com"
        admin = client.get("/admin", headers=bearer(token))
        assert admin.status_code == 403 and admin.json()["error"]["code"] == "FORBIDDEN"


@scenario("readme-models")
def readme_models(ns: dict[str, Any], workdir: Path) -> None:
    client = ns["app"].test_client()
    body = {"email": "ada@example.com", "password": PASSWORD, "first_name": "Ada"}
    signed_up = client.post("/auth/sign-up/email", json=body)
    assert signed_up.status_code == 200, signed_up.get_data(as_text=True)
    assert signed_up.get_json()["user"]["first_name"] == "Ada"
    assert signed_up.get_json()["user"]["plan"] == "free"
    body = {"email": "eve@example.com", "password": PASSWORD, "plan": "enterprise"}
    refused = client.post("/auth/sign-up/email", json=body)  # never set by a visitor
    assert refused.status_code == 400 and refused.get_json()["error"]["fields"] == {
        "plan": "unknown_field"
    }
    with ns["app"].app_context():
        ns["db"].engine.dispose()


@scenario("readme-core")
def readme_core(ns: dict[str, Any], workdir: Path) -> None:
    assert not ns["auth"].users.get_user("admin@example.com").is_active


@scenario("readme-jwt")
def readme_jwt(ns: dict[str, Any], workdir: Path) -> None:
    import jwt

    assert (workdir / "jwt-key.pem").stat().st_mode & 0o777 == 0o600
    claims = jwt.decode(ns["r"].token, options={"verify_signature": False})
    assert claims["iss"] == claims["aud"] == "https://app.example"
    assert ns["auth"].verify_token(ns["r"].token).email == "alice@example.com"


# Runs in the Django project's own process (Django's settings are global to one).
DJANGO_FLOW = textwrap.dedent(
    """
    import json, os, django
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("check", fail_level="WARNING")
    os.environ["DJANGO_SUPERUSER_PASSWORD"] = "correct horse battery"
    call_command("createsuperuser", "--noinput", "--email", "root@example.com", verbosity=0)
    results = {}
    client = Client(enforce_csrf_checks=True)
    signed_up = client.post("/auth/sign-up/email",
        {"email": "alice@example.com", "password": "correct horse battery"},
        content_type="application/json")
    results["sign_up"] = signed_up.status_code
    token = signed_up.json()["token"]
    bearer = {"HTTP_AUTHORIZATION": "Bearer " + token}
    anonymous = Client()
    results["dashboard_bearer"] = anonymous.get("/dashboard", **bearer).json()
    results["dashboard_cookie"] = client.get("/dashboard").json()
    results["dashboard_anonymous"] = [anonymous.get("/dashboard").status_code,
                                      anonymous.get("/dashboard")["Location"]]
    results["reports"] = anonymous.get("/reports", **bearer).status_code
    admin = Client()
    results["admin_login"] = admin.login(email="root@example.com", password="correct horse battery")
    results["admin_users"] = admin.get("/admin/authgate/user/").status_code
    print(json.dumps(results))
    """
)


def run_django(workdir: Path, flow: str) -> Any:
    """Run ``flow`` in a new interpreter in the project at ``workdir``; its last line, parsed."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": os.pathsep.join([str(workdir), *sys.path]),
    }
    done = subprocess.run(
        [sys.executable, "-c", flow], cwd=workdir, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@scenario("django-quickstart")
def django_quickstart(ns: dict[str, Any], workdir: Path) -> None:
    results = run_django(workdir, DJANGO_FLOW)
    assert results == {
        "sign_up": 200,
        "dashboard_bearer": {"email": "alice@example.com", "staff": False},
        "dashboard_cookie": {"email": "alice@example.com", "staff": False},
        "dashboard_anonymous": [302, "/auth/login?next=/dashboard"],
        "reports": 403,
        "admin_login": True,
        "admin_users": 200,
    }, results


@scenario("api-keys")
def api_keys(ns: dict[str, Any], workdir: Path) -> None:
    client = ns["app"].test_client()
    key = ns["key"]
    assert key.startswith("ag_")
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        answer = client.get("/reports", headers={**headers, **JSON})
        assert answer.get_json() == {"owner": "alice@example.com", "reports": []}
    assert client.get("/reports", headers={"X-API-Key": "ag_wrong", **JSON}).status_code == 401
    unscoped = ns["auth"].create_api_key(ns["alice"], "other")[1]
    assert client.get("/reports", headers={"X-API-Key": unscoped, **JSON}).status_code == 403


@scenario("api-keys-page")
def api_keys_page(ns: dict[str, Any], workdir: Path) -> None:
    import re

    client = ns["app"].test_client()
    signed_up = client.post(
        "/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD}
    )
    assert signed_up.status_code == 200  # a fresh session, in the cookie
    link = client.get("/settings", headers=HTML).get_data(as_text=True)
    assert link == '<a href="/auth/account/api-keys">API keys</a>'
    page = client.get("/auth/account/api-keys", headers=HTML)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    form = {"csrf_token": csrf[1], "action": "create", "name": "ci", "scopes": "read:reports",
            "expires_in": "2592000", "allowed_ips": ""}  # fmt: skip
    made = client.post("/auth/account/api-keys", data=form, headers=HTML)
    assert made.status_code == 200 and "Location" not in made.headers  # the answer, no redirect
    keys = re.findall(r"ag_[A-Za-z0-9_-]{20,}", made.get_data(as_text=True))
    assert len(set(keys)) == 1, keys
    again = client.get("/auth/account/api-keys", headers=HTML).get_data(as_text=True)
    assert keys[0] not in again and ">ci<" in again  # listed, never shown again
    anonymous = ns["app"].test_client()
    assert anonymous.get("/settings", headers={"X-API-Key": keys[0], **HTML}).status_code == 200
    assert anonymous.get("/auth/account/api-keys", headers=HTML).status_code == 303
    forged = client.post("/auth/account/api-keys", data={**form, "csrf_token": "x"}, headers=HTML)
    assert forged.status_code in (400, 403)
    listed = ns["auth"].list_api_keys(ns["auth"].users.get_user("a@example.com"))
    assert [record.name for record in listed] == ["ci"]  # the forged form made nothing


@scenario("two-factor-pages")
def two_factor_pages(ns: dict[str, Any], workdir: Path) -> None:
    import re

    client = ns["app"].test_client()
    login = client.get("/auth/login", headers=HTML).get_data(as_text=True)
    assert 'autocomplete="username webauthn"' in login  # conditional UI
    assert "data-passkey-sign-in" in login
    assert re.search(r'<script src="/auth/static/passkeys\.js\?v=\w+"', login)
    assert client.get("/auth/account/two-factor", headers=HTML).status_code == 303  # members
    client.post("/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD})
    for path in ("/auth/account/two-factor", "/auth/account/two-factor/setup",
                 "/auth/account/passkeys"):  # fmt: skip
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, path
    setup = client.get("/auth/account/two-factor/setup", headers=HTML).get_data(as_text=True)
    assert "<svg" not in setup and "otpauth://" not in setup  # the QR code answers a POST only


@scenario("jwt")
def jwt_tokens(ns: dict[str, Any], workdir: Path) -> None:
    import pytest

    from authgate import AuthError

    auth = ns["auth"]
    for token in (ns["first"], ns["r"].refresh_token):  # the reuse ended the family
        with pytest.raises(AuthError) as refused:
            auth.refresh(token)
        assert refused.value.code == "INVALID_TOKEN"
    assert ns["claims"]["iss"] == "https://app.example"


@scenario("custom-templates")
def custom_templates(ns: dict[str, Any], workdir: Path) -> None:
    client = ns["app"].test_client()
    page = client.get("/auth/login", headers=HTML)
    assert page.status_code == 200
    assert "Staff: sign in with your company address." in page.get_data(as_text=True)
    assert 'name="password"' in page.get_data(as_text=True)  # the form is still there
    signed_up = client.post(
        "/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD}
    )
    assert signed_up.status_code == 200
    assert [m.subject for m in ns["outbox"].messages] == ["Welcome to Example Co"]


@scenario("flask-security")
def flask_security(ns: dict[str, Any], workdir: Path) -> None:
    client = ns["app"].test_client()
    assert client.get("/", headers=JSON).status_code == 401
    signed_in = client.post(
        "/auth/sign-in/email", json={"email": "test@me.com", "password": "password"}
    )
    assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
    home = client.get("/", headers=bearer(signed_in.get_json()["token"]))
    assert home.get_data(as_text=True) == "Hello test@me.com"
    with ns["app"].app_context():
        ns["db"].engine.dispose()


DJANGO_OWN_USER_FLOW = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("check", fail_level="WARNING")
    client = Client(enforce_csrf_checks=True)
    signed_up = client.post("/auth/sign-up/email",
        {"email": "alice@example.com", "password": "correct horse battery"},
        content_type="application/json")
    token = signed_up.json()["token"]
    bearer = {"HTTP_AUTHORIZATION": "Bearer " + token, "HTTP_ACCEPT": "application/json"}
    anonymous = Client()
    print(json.dumps({
        "sign_up": signed_up.status_code,
        "dashboard": anonymous.get("/dashboard", **bearer).json()["email"],
        "anonymous": anonymous.get("/dashboard", HTTP_ACCEPT="application/json").status_code,
        "user_model": get_user_model()._meta.label,
        "django_users": get_user_model().objects.count(),
    }))
    """
)


@scenario("django-own-user")
def django_own_user(ns: dict[str, Any], workdir: Path) -> None:
    assert run_django(workdir, DJANGO_OWN_USER_FLOW) == {
        "sign_up": 200,
        "dashboard": "alice@example.com",
        "anonymous": 401,
        "user_model": "auth.User",
        "django_users": 0,  # authgate's users are its own
    }
