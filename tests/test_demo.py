"""``make demo``: the demo app works in-process and as a real server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from werkzeug.test import Client

from authgate.demo import ADMIN_EMAIL, create_app

FAST = {"AUTHGATE_ARGON2_MEMORY_COST": "1024", "AUTHGATE_ARGON2_TIME_COST": "1"}


def test_demo_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(tmp_path)
    password = app.config["DEMO_ADMIN_PASSWORD"]
    assert len(password) >= 12  # generated, never a default credential
    client = Client(app)
    home = client.get("/").data
    assert b"authgate demo" in home
    assert b'href="/auth/register"' in home and b'href="/auth/login"' in home
    page = client.get("/auth/register", headers={"Accept": "text/html"})
    assert page.status_code == 200 and b'name="username"' in page.data  # every feature on
    assert client.get("/me").status_code == 401
    r = client.post("/auth/sign-in/email", json={"email": ADMIN_EMAIL, "password": password})
    assert r.status_code == 200
    token = r.get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/me", headers=headers).get_json()["email"] == ADMIN_EMAIL
    assert client.get("/admin", headers=headers).status_code == 200
    # The API-keys page is linked for a signed-in user; a key with the scope opens /reports.
    r = client.post("/auth/api-keys", json={"name": "demo", "scopes": ["read:reports"]},
                    headers=headers)  # fmt: skip
    key = r.get_json()["key"]
    assert client.get("/reports", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/reports", headers={"X-API-Key": "ag_" + "x" * 43}).status_code == 401
    scopeless = client.post("/auth/api-keys", json={"name": "none"}, headers=headers).get_json()
    assert client.get("/reports", headers={"X-API-Key": scopeless["key"]}).status_code == 403
    client.set_cookie("authgate_session", token)
    assert b'href="/auth/account/api-keys"' in client.get("/").data
    # every implemented feature is on: usernames, confirmation by email (printed)
    r = client.post("/auth/sign-up/email",
                    json={"email": "you@example.com", "password": "correct horse battery", "username": "you"})  # fmt: skip
    assert r.status_code == 200 and r.get_json()["token"] is None
    app.extensions["authgate"].auth.mail.flush()
    assert "http://127.0.0.1:8000/auth/verify-email?token=" in capsys.readouterr().out
    doc = client.get("/auth/openapi.json").get_json()
    assert "/auth/sign-in/magic-link" in doc["paths"] and "/auth/emails" in doc["paths"]
    assert "/auth/passkey/sign-in" in doc["paths"]  # passkeys on, for http://localhost:8000
    settings = app.extensions["authgate"].auth.settings
    assert settings.passkeys and settings.webauthn_rp_id == "localhost"
    assert settings.webauthn_origins == ("http://localhost:8000",)
    assert "/auth/two-factor/totp/setup" in doc["paths"]  # two-step verification is on
    # a second start keeps the data and the admin
    again = create_app(tmp_path)
    assert "DEMO_ADMIN_PASSWORD" not in again.config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_authgate_demo_serves_on_localhost(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, **FAST}
    proc = subprocess.Popen(
        [sys.executable, "-m", "authgate.cli", "demo", "--port", str(port), "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"authgate demo" in body
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in out
    assert "seeded admin: admin@example.com / " in out
