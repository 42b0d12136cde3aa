"""Flask-User's ``example_apps/roles_required_app.py``, ported to authgate.

The same app factory: a class-based config, Flask-SQLAlchemy models,
``user007`` with the roles ``secret`` and ``agent``, a home page, a profile
page for signed-in users and a special page that needs ``secret`` AND
(``sauce`` OR ``agent``). Sign in with ``POST /auth/sign-in/username``
(``user007`` / ``Password1``). Flask-User's mail settings are left out
(authgate prints emails to the console until a mailer is configured), and
so is ``USER_ENABLE_CONFIRM_EMAIL`` (``AUTHGATE_CONFIRMABLE``), so that
new users can sign in straight away.
"""

import os

from flask import Flask, render_template_string
from flask_sqlalchemy import SQLAlchemy

from authgate import Auth, RoleMixin, UserMixin
from authgate.flask import current_user, login_required, roles_required, setup_for_flask


# Use a Class-based config to avoid needing a 2nd file
class ConfigClass:
    # Configure Flask
    SECRET_KEY = os.environ.get(
        "SECRET_KEY", "THIS IS AN INSECURE SECRET - CHANGE IT FOR PRODUCTION"
    )
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite:///roles_required_app.sqlite")

    # Configure authgate
    AUTHGATE_USERNAMES = True  # Register and sign in with a username
    AUTHGATE_CHANGEABLE = True  # Change password
    AUTHGATE_RECOVERABLE = True  # Forgot password


def create_app(test_config=None):  # For automated tests
    # Setup Flask and read config from ConfigClass defined above
    app = Flask(__name__)
    app.config.from_object(ConfigClass)
    if test_config:
        app.config.update(test_config)

    db = SQLAlchemy(app)  # Initialize Flask-SQLAlchemy

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

    # Create 'user007' user with 'secret' and 'agent' roles
    with app.app_context():
        if not auth.users.find_user(username="user007"):
            auth.users.create_user(
                username="user007", email="user007@example.com", password="Password1",
                roles=["secret", "agent"],
            )  # fmt: skip

    # The '/' page is accessible to anyone
    @app.route("/")
    def home_page():
        if current_user.is_authenticated:
            return profile_page()
        return render_template_string('<h2>Home Page</h2><p><a href="/auth/login">Sign in</a></p>')

    # The '/profile' page requires a logged-in user
    @app.route("/profile")
    @login_required  # Use of @login_required decorator
    def profile_page():
        return render_template_string(
            "<h2>Profile Page</h2><p>Hello {{ current_user.username or current_user.email }},</p>"
        )

    # The '/special' page requires a user that has the 'secret' AND ('sauce' OR 'agent') role.
    @app.route("/special")
    @roles_required("secret", ["sauce", "agent"])  # Use of @roles_required decorator
    def special_page():
        return render_template_string("<h2>Special Page</h2>")

    return app


app = create_app()

# Start development web server
if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
