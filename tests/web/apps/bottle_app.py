"""The Bottle app behind the HTTP contract suite: authgate mounted plus the demo routes."""

from typing import Any

import bottle

from authgate import Auth
from authgate.bottle import (
    anonymous_required,
    auth_required,
    current_user,
    login_required,
    permissions_required,
    roles_accepted,
    roles_required,
    scopes_required,
    setup_for_bottle,
)
from tests.web.clients import ContractClient, WSGIClient

JSON = dict[str, Any]


def create_app(auth: Auth, prefix: str = "/auth") -> bottle.Bottle:
    """A fresh Bottle app with authgate at ``prefix`` and the contract's demo routes."""
    app = bottle.Bottle()
    setup_for_bottle(auth, app, url_prefix=prefix)

    def me() -> JSON:
        return {"email": current_user().email}

    @app.get("/public")
    def public() -> JSON:
        return {"ok": True}

    app.route("/protected", ["GET", "POST"], login_required(me))
    app.get("/admin", callback=roles_required("admin")(me))
    app.get("/starving", callback=roles_required("starving", ["artist", "programmer"])(me))
    app.get("/accepted", callback=roles_accepted("editor", "author")(me))
    app.get("/perm", callback=permissions_required("post.edit")(me))
    app.get("/token-only", callback=auth_required("token")(me))
    app.get("/session-only", callback=auth_required("session")(me))
    app.route("/basic", ["GET", "POST"], auth_required("basic")(me))
    app.get("/scoped", callback=scopes_required("read:reports")(me))
    app.get("/key-only", callback=auth_required("api_key")(me))

    # Views routed for every method (``ANY``): S1.
    app.route("/opt/login", "ANY", login_required(me))
    app.route("/opt/admin", "ANY", roles_required("admin")(me))
    app.route("/opt/perm", "ANY", permissions_required("post.edit")(me))
    app.route("/opt/token", "ANY", auth_required("token")(me))

    @app.get("/anon")
    @anonymous_required
    def anon() -> JSON:
        return {"ok": True}

    @app.get("/optional")
    def optional() -> JSON:
        user = current_user()
        return {"email": user.email if user.is_authenticated else None}

    return app


def build(auth: Auth, prefix: str = "/auth") -> ContractClient:
    """The contract client over a fresh Bottle app."""
    return WSGIClient(create_app(auth, prefix), "bottle")
