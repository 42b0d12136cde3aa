"""The demo app behind ``make demo`` / ``authgate demo``.

A Flask app on http://127.0.0.1:8000 with an embedded SQLite database, every
implemented feature switched on, emails printed to the console, and a seeded
admin whose password is generated at first start and printed (there is no
default credential to forget about). Its home page links to the pages
(register, sign in, account...): the whole journey works in a browser, the
emailed links being read from the console.
"""

from __future__ import annotations

import html
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authgate import Auth
from authgate.mail import ConsoleMailer

__all__ = ["create_app", "serve"]

ADMIN_EMAIL = "admin@example.com"

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>authgate demo</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
code,pre{{background:#f4f4f4;padding:.1rem .3rem}}pre{{padding:.6rem;overflow:auto}}
.links{{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;padding:0;list-style:none}}</style>
</head><body><h1>authgate demo</h1>
<p>{status}</p>
<nav><ul class="links">{links}</ul></nav>
<p>Every page is in twelve languages (the picker at the bottom of each page, or your
browser's language). Confirmation, reset and sign-in links are emailed: here they are
printed in the terminal running the demo; open them in this browser.</p>
<p>The JSON API lives under <code>{prefix}</code>; its OpenAPI document is at
<a href="{prefix}/openapi.json">{prefix}/openapi.json</a>. Emails (confirmation links,
reset links, magic links) are printed in the terminal running the demo.</p>
<pre>curl -s -X POST {base}{prefix}/sign-up/email -H 'Content-Type: application/json' \\
  -d '{{"email": "you@example.com", "password": "correct horse battery", "username": "you"}}'
curl -s -X POST {base}{prefix}/sign-in/email -H 'Content-Type: application/json' \\
  -d '{{"email": "{admin}", "password": "(printed at start-up)"}}'
curl -s {base}/me -H 'Authorization: Bearer TOKEN'
curl -s {base}/admin -H 'Authorization: Bearer TOKEN'
curl -s {base}/reports -H 'X-API-Key: KEY'   # a key made on {prefix}/account/api-keys</pre>
<ul><li><a href="/me">/me</a>: any signed-in user</li>
<li><a href="/admin">/admin</a>: users with the <code>admin</code> role</li>
<li><a href="/reports">/reports</a>: an API key with the <code>read:reports</code> scope
(or a signed-in user)</li></ul>
</body></html>
"""


def create_app(directory: str | os.PathLike[str] = ".authgate-demo", *, debug: bool = True) -> Any:
    """Build the demo Flask app, its SQLite database in ``directory``.

    Returns the Flask app; ``app.extensions["authgate"].auth`` is its ``Auth`` and
    ``app.config["DEMO_ADMIN_PASSWORD"]`` the admin's password when it was just created.
    """
    from flask import Flask, jsonify

    from authgate.flask import (
        current_user,
        login_required,
        roles_required,
        scopes_required,
        setup_for_flask,
    )

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    secret_file = folder / "secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    base_url = os.environ.get("AUTHGATE_DEMO_URL", "http://127.0.0.1:8000")
    # Passkeys belong to a domain name, never to an IP address: at 127.0.0.1 they work
    # when the demo is opened as http://localhost:<port>.
    parts = urlsplit(base_url)
    passkey_site: dict[str, Any] = {}
    if parts.hostname and _is_address(parts.hostname):
        local = f"{parts.scheme}://localhost" + (f":{parts.port}" if parts.port else "")
        passkey_site = {"webauthn_rp_id": "localhost", "webauthn_origins": [local]}
    auth = Auth(
        secret_file.read_text().strip(),
        database_url=f"sqlite:///{(folder / 'auth.db').resolve()}",
        send_email=ConsoleMailer(),
        base_url=base_url,
        debug=debug,
        confirmable=True,
        usernames=True,
        multiple_emails=True,
        passwordless=True,
        passkeys=True,
        **passkey_site,
        two_factor=True,
        check_common_passwords=True,
    )
    app = Flask("authgate-demo")
    app.config["SECRET_KEY"] = auth.settings.secrets[0]
    setup_for_flask(auth, app)
    if auth.users.get_user(ADMIN_EMAIL) is None:
        password = os.environ.get("AUTHGATE_DEMO_PASSWORD") or secrets.token_urlsafe(12)
        auth.users.create_user(
            email=ADMIN_EMAIL, username="admin", password=password, roles=["admin"]
        )
        app.config["DEMO_ADMIN_PASSWORD"] = password

    @app.get("/")
    def index() -> str:
        prefix = auth.settings.url_prefix
        if current_user.is_authenticated:
            status = f"Signed in as <b>{html.escape(current_user.email)}</b>."
            pages = [("account", "Your account"), ("account/sessions", "Signed-in devices"),
                     ("account/api-keys", "API keys"), ("account/passkeys", "Passkeys"),
                     ("logout", "Sign out")]  # fmt: skip
        else:
            status = "Not signed in."
            pages = [("register", "Create an account"), ("login", "Sign in"),
                     ("login-or-register", "Sign in or create an account"),
                     ("magic-link", "Sign in with an email link"),
                     ("forgot", "Forgot your password?")]  # fmt: skip
        links = "".join(f'<li><a href="{prefix}/{path}">{label}</a></li>' for path, label in pages)
        return _INDEX.format(
            status=status, prefix=prefix, base=base_url, admin=ADMIN_EMAIL, links=links
        )

    @app.get("/me")
    @login_required
    def me() -> Any:
        return jsonify(current_user.to_dict())

    @app.get("/admin")
    @roles_required("admin")
    def admin() -> Any:
        return jsonify({"users": [u.to_dict() for u in auth.users.list_users()]})

    @app.get("/reports")
    @scopes_required("read:reports")
    def reports() -> Any:
        return jsonify({"reports": [], "for": current_user.email})

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, directory: str = ".authgate-demo") -> None:
    """Run the demo on ``host:port`` until interrupted."""
    from werkzeug.serving import run_simple

    app = create_app(directory)
    password = app.config.get("DEMO_ADMIN_PASSWORD")
    print(f"authgate demo on http://{host}:{port}/  (data in {directory}/)")
    if password:
        print(f"seeded admin: {ADMIN_EMAIL} / {password}  (shown once)")
    else:
        print(f"admin: {ADMIN_EMAIL} (password shown when it was created)")
    run_simple(host, port, app, use_reloader=False, threaded=True)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
