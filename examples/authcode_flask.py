"""Authcode's minimal Flask example (``examples/minimal/app.py``), ported to authgate.

The same app: Flask-SQLAlchemy's ``db`` handed to ``Auth``, the generated
user model ``auth.User``, a ``send_email`` hook that prints, an index page
under Authcode's own ``@auth.protected()``, and a demo user created when run
as a script. Sign in with ``POST /auth/sign-in/email``
(``authcode@example.com`` / ``authcode``). ``DATABASE_URL`` (default: in
memory) and ``AUTHGATE_*`` come from the environment.

What changed besides the imports (``authcode.Auth`` -> ``authgate.Auth``,
``authcode.setup_for_flask`` -> ``authgate.flask.setup_for_flask``):
``send_email`` receives one message (``to``, ``subject``, ``text``...) instead
of ``(user, subject, msg)``; users sign in with an email rather than a
``login``, and are created with a hashed password; ``setup_for_flask`` is
called once (Authcode's example calls it twice) and creates the tables.
"""

import os

from flask import Flask, render_template_string
from flask_sqlalchemy import SQLAlchemy

from authgate import Auth
from authgate.flask import setup_for_flask

app = Flask(__name__)

SECRET_KEY = os.environ.get("SECRET_KEY", "1234567890qwertyuiopasdfghjklzxcvbnm=+!")
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite://")
app.config["SECRET_KEY"] = SECRET_KEY
db = SQLAlchemy(app)


def send_auth_email(message):
    print("To:", message.to)
    print("Subject:", message.subject)
    print(message.text)


auth = Auth.from_config(app.config, defaults={"secret": SECRET_KEY}, db=db)
setup_for_flask(auth, app, send_email=send_auth_email)  # creates authgate's tables
User = auth.User


@app.route("/")
@auth.protected()
def index():
    return render_template_string("Hello {{ current_user.email }}")


def create_demo_user():
    with app.app_context():
        db.session.add(
            User(email="authcode@example.com", password_hash=auth.users.hash_password("authcode"))
        )
        db.session.commit()


if __name__ == "__main__":
    create_demo_user()
    app.run()
