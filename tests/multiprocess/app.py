"""The FastAPI quick start (``examples/fastapi_quickstart.py``) as a test serves it.

Configured only through ``AUTHGATE_*`` variables, as a deployment would be.
One route is added for the test: ``GET /test/cached`` says whether the
bearer token's session is in this process's session cache (and whether the
process receives the others' invalidations), so the test knows a cache is
warm before it revokes anything.
"""

from __future__ import annotations

from typing import Any

from examples.fastapi_quickstart import app, auth
from fastapi import Request

from authgate.tokens import token_digest

__all__ = ["app"]


@app.get("/test/cached")
def cached(request: Request) -> dict[str, Any]:
    token = request.headers.get("authorization", "").partition(" ")[2]
    cache = auth.ctx.session_cache
    bus = auth._bus
    return {
        "cached": cache is not None and cache.get(token_digest(token)) is not None,
        "subscribed": bus is not None and bus.subscribed.is_set(),
    }
