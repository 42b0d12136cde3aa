"""auth101's Django quick start, ported to authgate: the whole project is this file and urls.py.

auth101 (https://pypi.org/project/auth101/) adds email/password sign-up,
sign-in, session and sign-out endpoints to a Django project; its Django
section could not be retrieved, so this is the closest faithful equivalent of
a minimal Django project using ``authgate.django``::

    python manage.py migrate
    python manage.py runserver
    curl -X POST localhost:8000/auth/sign-up/email -H 'Content-Type: application/json' \\
         -d '{"email": "alice@example.com", "password": "correct horse battery"}'
    curl localhost:8000/me -H 'Authorization: Bearer <token>'

``AUTHGATE_SECRET`` defaults to ``SECRET_KEY``; any authgate setting can be
added here as ``AUTHGATE_<NAME>`` (or set in the environment).
"""

import os
from pathlib import Path

SECRET_KEY = os.environ.get("SECRET_KEY", "change-me-in-production-use-32-random-bytes")
DEBUG = os.environ.get("DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = ["authgate.django"]
MIDDLEWARE = [
    "django.middleware.csrf.CsrfViewMiddleware",
    "authgate.django.middleware.AuthGateMiddleware",
]
ROOT_URLCONF = "urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DATABASE_PATH", Path(__file__).parent / "db.sqlite3"),
    }
}
AUTHGATE_DEBUG = DEBUG  # session cookies without Secure on http://localhost
# Where emailed links (confirmation, reset) point: the address users open the site at.
AUTHGATE_BASE_URL = os.environ.get("AUTHGATE_BASE_URL", "http://localhost:8000")
