"""The FastAPI app behind the HTTP contract suite: authgate mounted plus the demo routes."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from authgate import Auth
from authgate.fastapi import (
    CurrentUser,
    OptionalUser,
    require_anonymous,
    require_any_role,
    require_auth,
    require_permissions,
    require_roles,
    require_scopes,
    setup_for_fastapi,
)
from tests.web.clients import ASGIClient, ContractClient

JSON = dict[str, Any]


def create_app(auth: Auth, prefix: str = "/auth") -> FastAPI:
    """A fresh FastAPI app with authgate at ``prefix`` and the contract's demo routes."""
    app = FastAPI()
    # The pages too, as the other frameworks serve them by default (pages=False: not).
    setup_for_fastapi(auth, app, prefix, pages=auth.settings.pages)

    @app.get("/public")
    async def public() -> JSON:
        return {"ok": True}

    @app.get("/protected")
    def protected(user: CurrentUser) -> JSON:
        return {"email": user.email}

    @app.post("/protected")
    def protected_post(user: CurrentUser) -> JSON:
        return {"email": user.email}

    @app.get("/admin")
    def admin(user: Annotated[Any, Depends(require_roles("admin"))]) -> JSON:
        return {"email": user.email}

    @app.get("/starving")
    def starving(
        user: Annotated[Any, Depends(require_roles("starving", ["artist", "programmer"]))],
    ) -> JSON:
        return {"email": user.email}

    @app.get("/accepted")
    def accepted(user: Annotated[Any, Depends(require_any_role("editor", "author"))]) -> JSON:
        return {"email": user.email}

    @app.get("/perm")
    def perm(user: Annotated[Any, Depends(require_permissions("post.edit"))]) -> JSON:
        return {"email": user.email}

    @app.get("/token-only")
    def token_only(user: Annotated[Any, Depends(require_auth("token"))]) -> JSON:
        return {"email": user.email}

    @app.get("/session-only")
    def session_only(user: Annotated[Any, Depends(require_auth("session"))]) -> JSON:
        return {"email": user.email}

    @app.get("/scoped")
    def scoped(user: Annotated[Any, Depends(require_scopes("read:reports"))]) -> JSON:
        return {"email": user.email}

    @app.get("/key-only")
    def key_only(user: Annotated[Any, Depends(require_auth("api_key"))]) -> JSON:
        return {"email": user.email}

    @app.get("/basic")
    def basic(user: Annotated[Any, Depends(require_auth("basic"))]) -> JSON:
        return {"email": user.email}

    @app.post("/basic")
    def basic_post(user: Annotated[Any, Depends(require_auth("basic"))]) -> JSON:
        return {"email": user.email}

    # Routes that accept OPTIONS themselves: S1 (CurrentUser is never None).
    both = ["GET", "OPTIONS"]

    @app.api_route("/opt/login", methods=both, include_in_schema=False)
    def opt_login(user: CurrentUser) -> JSON:
        return {"email": user.email}

    @app.api_route(
        "/opt/admin",
        methods=both,
        include_in_schema=False,
        dependencies=[Depends(require_roles("admin"))],
    )
    def opt_admin(user: CurrentUser) -> JSON:
        return {"email": user.email}

    @app.api_route("/opt/perm", methods=both, include_in_schema=False)
    def opt_perm(user: Annotated[Any, Depends(require_permissions("post.edit"))]) -> JSON:
        return {"email": user.email}

    @app.api_route("/opt/token", methods=both, include_in_schema=False)
    def opt_token(user: Annotated[Any, Depends(require_auth("token"))]) -> JSON:
        return {"email": user.email}

    @app.get("/anon", dependencies=[Depends(require_anonymous)])
    def anon() -> JSON:
        return {"ok": True}

    @app.get("/optional")
    def optional(user: OptionalUser) -> JSON:
        return {"email": user.email if user is not None else None}

    return app


def build(auth: Auth, prefix: str = "/auth") -> ContractClient:
    """The contract suite's client for a fresh FastAPI app."""
    return ASGIClient(create_app(auth, prefix), "fastapi")
