"""The Flask app behind the HTTP contract suite: authgate mounted plus the demo routes."""

from typing import Any

from flask import Flask

from authgate import Auth
from authgate.flask import (
    anonymous_required,
    auth_required,
    current_user,
    login_required,
    permissions_required,
    roles_accepted,
    roles_required,
    scopes_required,
    setup_for_flask,
)
from tests.web.clients import ContractClient, WSGIClient

JSON = dict[str, Any]


def create_app(auth: Auth, prefix: str = "/auth") -> Flask:
    """A fresh Flask app with authgate at ``prefix`` and the contract's demo routes."""
    app = Flask(__name__)
    setup_for_flask(auth, app, url_prefix=prefix)

    def me() -> JSON:
        return {"email": current_user.email}

    @app.get("/public")
    def public() -> JSON:
        return {"ok": True}

    app.add_url_rule("/protected", "protected", login_required(me), methods=["GET", "POST"])
    app.add_url_rule("/admin", "admin", roles_required("admin")(me))
    app.add_url_rule(
        "/starving", "starving", roles_required("starving", ["artist", "programmer"])(me)
    )
    app.add_url_rule("/accepted", "accepted", roles_accepted("editor", "author")(me))
    app.add_url_rule("/perm", "perm", permissions_required("post.edit")(me))
    app.add_url_rule("/token-only", "token_only", auth_required("token")(me))
    app.add_url_rule("/session-only", "session_only", auth_required("session")(me))
    app.add_url_rule("/basic", "basic", auth_required("basic")(me), methods=["GET", "POST"])
    app.add_url_rule("/scoped", "scoped", scopes_required("read:reports")(me))
    app.add_url_rule("/key-only", "key_only", auth_required("api_key")(me))

    # Views routed for OPTIONS themselves (hand-rolled CORS, catch-alls): S1.
    both = ["GET", "OPTIONS"]
    app.add_url_rule("/opt/login", "opt_login", login_required(me), methods=both)
    app.add_url_rule("/opt/admin", "opt_admin", roles_required("admin")(me), methods=both)
    app.add_url_rule("/opt/perm", "opt_perm", permissions_required("post.edit")(me), methods=both)
    app.add_url_rule("/opt/token", "opt_token", auth_required("token")(me), methods=both)

    @app.get("/anon")
    @anonymous_required
    def anon() -> JSON:
        return {"ok": True}

    @app.get("/optional")
    def optional() -> JSON:
        return {"email": current_user.email if current_user.is_authenticated else None}

    return app


def build(auth: Auth, prefix: str = "/auth") -> ContractClient:
    """The contract client over a fresh Flask app."""
    return WSGIClient(create_app(auth, prefix), "flask")
