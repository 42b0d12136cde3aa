"""Flask-Identity's quick start (``docs/quickstart.rst``), ported to authgate.

The same app: Flask-SQLAlchemy, the app's own ``User`` (with a ``display``
column) and ``Role`` models on the mixins, an ``admin`` user holding the
``admin`` role, and a home page that needs a signed-in user. Sign in with
``POST /auth/sign-in/username`` (``admin`` / ``admin-password``: authgate
refuses passwords shorter than 8 characters, so not ``123456``).
``DATABASE_URL`` (default: in memory) and ``AUTHGATE_*`` come from the environment.
"""

import os

from flask import Flask, render_template_string
from flask_sqlalchemy import SQLAlchemy

from authgate import Auth, RoleMixin, UserMixin
from authgate.flask import auth_required, setup_for_flask

# Create app
app = Flask(__name__)
# Generate a nice key using secrets.token_urlsafe()
app.config["SECRET_KEY"] = os.environ.get(
    "SECRET_KEY", "2HF_R3JddWTLu0zJ1kSV-w-change-it-in-production"
)
app.config["AUTHGATE_USERNAMES"] = True  # users sign in with a username
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite://")
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}

# Create database connection object
db = SQLAlchemy(app)


# Define models
class Role(db.Model, RoleMixin):
    pass


class User(db.Model, UserMixin):
    display = db.Column(db.String(80))


# Setup authgate (setup_for_flask creates the tables) and an admin to test with
auth = Auth.from_config(
    app.config, defaults={"secret": app.config["SECRET_KEY"]},
    db=db, user_model=User, role_model=Role,
)  # fmt: skip
setup_for_flask(auth, app)
with app.app_context():
    admin = auth.users.find_user(username="admin") or auth.users.create_user(
        username="admin", email="admin@example.com", password="admin-password", display="Admin"
    )
    if not admin.has_role("admin"):
        auth.users.add_role_to_user(admin, auth.users.find_or_create_role("admin"))


# Views
@app.route("/")
@auth_required()
def home():
    return render_template_string("Hello {{ current_user.display }}")


if __name__ == "__main__":
    app.run()
