"""The app ``bench/redis_bench.py`` serves twice: the FastAPI quick start, plus one probe.

``examples/fastapi_quickstart.py`` configured only by ``AUTHGATE_*`` variables,
as a deployment would be, with ``GET /bench/cached``: whether the bearer
token's session is in this process's session cache and whether the process
receives the other processes' invalidations. The benchmark asks it before
each revocation, so every measured revocation races a warm cache.

Run by ``uvicorn --app-dir bench redis_app:app`` with the checkout's root on
``PYTHONPATH``.
"""

from __future__ import annotations

from typing import Any

from examples.fastapi_quickstart import app, auth
from fastapi import Request

from authgate.tokens import token_digest

__all__ = ["app"]


@app.get("/bench/cached")
def cached(request: Request) -> dict[str, Any]:
    token = request.headers.get("authorization", "").partition(" ")[2]
    cache = auth.ctx.session_cache
    bus = auth._bus
    return {
        "cached": cache is not None and cache.get(token_digest(token)) is not None,
        "subscribed": bus is not None and bus.subscribed.is_set(),
    }
