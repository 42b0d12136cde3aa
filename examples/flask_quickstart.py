"""auth101's Flask quick start, ported to authgate.

auth101 (https://pypi.org/project/auth101/) opens with ``Auth101(secret=...)``
and JSON endpoints mounted under ``/auth``; the Flask section of its PyPI
description could not be retrieved, so this is the closest faithful
equivalent: the same flow (sign up, sign in, session, sign out) through
authgate's endpoints, plus one protected view::

    curl -X POST localhost:5000/auth/sign-up/email -H 'Content-Type: application/json' \\
         -d '{"email": "alice@example.com", "password": "correct horse battery"}'
    curl localhost:5000/me -H 'Authorization: Bearer <token>'

Configuration comes from the environment: ``SECRET_KEY`` and any
``AUTHGATE_*`` setting (``AUTHGATE_DATABASE_URL``, default: in memory).
"""

import os

from flask import Flask

from authgate.flask import current_user, login_required, setup_for_flask

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get(
    "SECRET_KEY", "change-me-in-production-use-32-random-bytes"
)
auth = setup_for_flask(None, app)  # AUTHGATE_* settings from app.config and the environment


@app.get("/me")
@login_required
def me():
    return {"user": current_user.to_dict()}


if __name__ == "__main__":
    app.run()
