"""FastAPI quick start: accounts, sign-in and a protected route.

This is auth101's FastAPI quick start ported to authgate. auth101 is published
only as a PyPI page, and the FastAPI part of that page could not be retrieved.
So this is the closest faithful equivalent of its quick start: configure once
(a secret and a database URL), mount the auth endpoints on the app, and
protect a route with the signed-in user.

Run it::

    uvicorn examples.fastapi_quickstart:app      # or: python examples/fastapi_quickstart.py

Try it::

    curl -X POST localhost:8000/auth/sign-up/email -H 'Content-Type: application/json' \\
         -d '{"email": "alice@example.com", "password": "correct horse battery"}'
    curl localhost:8000/me -H 'Authorization: Bearer <token from the answer>'
    curl -X POST localhost:8000/auth/sign-out -H 'Authorization: Bearer <token>'

Every setting can come from the environment as ``AUTHGATE_<NAME>``. For example,
``AUTHGATE_SECRET`` (32+ random bytes; a fresh one is made at each start
otherwise) and ``AUTHGATE_DATABASE_URL`` (default ``sqlite:///auth.db``).
The JSON API is listed in FastAPI's docs at http://127.0.0.1:8000/docs.
"""

import secrets
from typing import Any

from fastapi import FastAPI

from authgate import Auth
from authgate.fastapi import CurrentUser, setup_for_fastapi

auth = Auth.from_config(
    {}, defaults={"secret": secrets.token_urlsafe(32), "database_url": "sqlite:///auth.db"}
)
app = FastAPI()
setup_for_fastapi(auth, app)  # POST /auth/sign-up/email, /auth/sign-in/email, /auth/sign-out...


@app.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    """The signed-in user; 401 without a valid token."""
    return {"user": user.to_dict()}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
