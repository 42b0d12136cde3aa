"""Flask-Security's "Basic SQLAlchemy Application" (docs/quickstart.rst), ported to authgate.

The same app: Flask-SQLAlchemy, the app's own ``User`` and ``Role`` models
(on authgate's mixins), a user to test with and a home page that needs a
signed-in user. Sign in with ``POST /auth/sign-in/email`` (JSON), then visit ``/``.
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
    "SECRET_KEY", "pf9Wkove4IKEAXvy-cQkeDPhv9Cb3Ag-wyJILbq_dFw"
)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite://")
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}

# Create database connection object
db = SQLAlchemy(app)


# Define models
class Role(db.Model, RoleMixin):
    pass


class User(db.Model, UserMixin):
    pass


# Setup authgate (setup_for_flask creates the tables)
auth = Auth.from_config(
    app.config, defaults={"secret": app.config["SECRET_KEY"]},
    db=db, user_model=User, role_model=Role,
)  # fmt: skip
setup_for_flask(auth, app)

# one time setup: a user to test with
with app.app_context():
    if not auth.users.find_user(email="test@me.com"):
        auth.users.create_user(email="test@me.com", password="password")


# Views
@app.route("/")
@auth_required()
def home():
    return render_template_string("Hello {{ current_user.email }}")


if __name__ == "__main__":
    app.run()
