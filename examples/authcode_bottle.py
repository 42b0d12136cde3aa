"""Authcode's minimal app, for Bottle, ported to authgate.

Authcode documents ``setup_for_bottle`` but ships no Bottle example, so this
is the closest faithful equivalent of its minimal Flask example
(``examples/minimal/app.py``) on Bottle: an ``Auth`` with the generated user
model ``auth.User``, a ``send_email`` hook that prints, an index page under
Authcode's ``@auth.protected()``, and a demo user created when run as a
script. Sign in with ``POST /auth/sign-in/email`` (``authcode@example.com`` /
``authcode``).
``AUTHGATE_DATABASE_URL`` (default: SQLite in memory) and any other
``AUTHGATE_*`` setting come from the environment.
"""

import os

import bottle

from authgate import Auth
from authgate.bottle import current_user, setup_for_bottle

app = bottle.Bottle()

SECRET_KEY = os.environ.get("SECRET_KEY", "1234567890qwertyuiopasdfghjklzxcvbnm=+!")
auth = Auth.from_config({}, defaults={"secret": SECRET_KEY, "database_url": "sqlite://"})


def send_auth_email(message):
    print("To:", message.to)
    print("Subject:", message.subject)
    print(message.text)


setup_for_bottle(auth, app, send_email=send_auth_email)
User = auth.User


@app.route("/")
@auth.protected()
def index():
    return bottle.template("Hello {{email}}", email=current_user().email)


def create_demo_user():
    return auth.users.create_user(email="authcode@example.com", password="authcode")


if __name__ == "__main__":
    create_demo_user()
    app.run()
