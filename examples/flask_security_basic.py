"""Flask-Security's "Basic SQLAlchemy Application" (docs/quickstart.rst), on authgate.

The app is written as Flask-Security's quick start writes it; only the
imports changed: ``flask_security`` became ``authgate.flask_security``
(Flask-Security's names over authgate: see that module for what differs).
Sign in with ``POST /auth/sign-in/email`` (JSON), then visit ``/``.
``DATABASE_URL`` (default: in memory) and ``AUTHGATE_*`` come from the environment.
"""

import os

from flask import Flask, render_template_string
from flask_sqlalchemy import SQLAlchemy

from authgate.flask_security import Security, SQLAlchemyUserDatastore, auth_required, hash_password
from authgate.flask_security.models import fsqla_v3 as fsqla

# Create app
app = Flask(__name__)
app.config["DEBUG"] = True
# Generate a nice key using secrets.token_urlsafe()
app.config["SECRET_KEY"] = os.environ.get(
    "SECRET_KEY", "pf9Wkove4IKEAXvy-cQkeDPhv9Cb3Ag-wyJILbq_dFw"
)
# Flask-Security's HMAC key for password hashes; authgate reads it as legacy_hmac_salt
app.config["SECURITY_PASSWORD_SALT"] = os.environ.get(
    "SECURITY_PASSWORD_SALT", "146585145368132386173505678016728509634"
)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite://")
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}

# Create database connection object
db = SQLAlchemy(app)

# Define models
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    pass


class User(db.Model, fsqla.FsUserMixin):
    pass


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
    pass


# Setup Flask-Security
user_datastore = SQLAlchemyUserDatastore(db, User, Role)
app.security = Security(app, user_datastore)


# Views
@app.route("/")
@auth_required()
def home():
    return render_template_string("Hello {{ current_user.email }}")


# one time setup
with app.app_context():
    # Create User to test with
    db.create_all()
    if not app.security.datastore.find_user(email="test@me.com"):
        app.security.datastore.create_user(email="test@me.com", password=hash_password("password"))
    db.session.commit()

if __name__ == "__main__":
    app.run()
