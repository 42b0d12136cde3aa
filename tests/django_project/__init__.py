"""The Django project the Django tests share, configured once per process on first use.

Django's settings are global to a process, so every Django test (the HTTP
contract app, the integration tests, the store contract on Django) goes
through :func:`setup`, which configures Django only when a Django test
actually runs; other test modules in the same pytest-xdist worker never see it.

Databases:

* ``default``: a shared in-memory SQLite database, migrated at set-up;
* ``sqlite``: a SQLite file of this process (the store contract's
  concurrency tests need a real file);
* ``postgres`` / ``mysql``: this worker's ``authgate_test_<worker>_django``
  database on the servers of ``tests/conftest.py`` (created by its
  ``database_url`` fixture, migrated by the store tests).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

from tests import _names

SECRET_KEY = "django-tests-secret-key-that-is-long-enough-0123456789"
#: WSGI environ key naming the URLconf module a test client routes to.
URLCONF_KEY = "authgate.tests.urlconf"
DJANGO_DB_SUFFIX = "_django"

_lock = threading.Lock()
_ready = False


def worker_database() -> str:
    """This worker's PostgreSQL/MariaDB database name (``tests/conftest.py``'s naming)."""
    return _names.worker_database(DJANGO_DB_SUFFIX)


def _sqlite_file() -> str:
    directory = tempfile.mkdtemp(prefix="authgate-django-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return os.path.join(directory, "store.db")


def databases() -> dict[str, dict[str, Any]]:
    """The ``DATABASES`` setting of the test project."""
    server = {"NAME": worker_database(), "HOST": "127.0.0.1", "CONN_MAX_AGE": 0}
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"file:authgate_default_{os.getpid()}?mode=memory&cache=shared",
        },
        "sqlite": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_file(),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
        },
        "postgres": {
            **server,
            "ENGINE": "django.db.backends.postgresql",
            "PORT": "5432",
            "USER": "postgres",
            "OPTIONS": {"connect_timeout": 5},
        },
        "mysql": {
            **server,
            "ENGINE": "django.db.backends.mysql",
            "PORT": "3306",
            "USER": "root",
            "PASSWORD": "",
            "OPTIONS": {"charset": "utf8mb4", "connect_timeout": 5},
        },
    }


def project_settings() -> dict[str, Any]:
    """The settings passed to ``settings.configure``."""
    return {
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": False,
        "ALLOWED_HOSTS": ["*"],
        "USE_TZ": True,
        # authgate's user is Django's user: request.user, the admin, createsuperuser.
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.admin",
            "authgate.django",
        ],
        "AUTH_USER_MODEL": "authgate.User",
        "AUTHENTICATION_BACKENDS": ["authgate.django.backends.AuthGateBackend"],
        "MIDDLEWARE": [
            "tests.django_project.middleware.urlconf_from_environ",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "authgate.django.middleware.AuthGateMiddleware",
        ],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [os.path.join(os.path.dirname(__file__), "templates")],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "LOGIN_URL": "/admin/login/",
        "ROOT_URLCONF": "tests.django_project.urls",
        "DATABASES": databases(),
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "AUTHGATE_ARGON2_MEMORY_COST": 1024,
        "AUTHGATE_ARGON2_TIME_COST": 1,
        "AUTHGATE_COOKIE_SECURE": False,
    }


def setup() -> None:
    """Configure Django for this process (once) and migrate the default database."""
    global _ready
    with _lock:
        if _ready:
            return
        import django
        from django.conf import settings
        from django.core.management import call_command

        try:
            import pymysql
        except ImportError:  # the mysql alias then fails (skips) like the server being down
            pass
        else:
            pymysql.install_as_MySQLdb()
        if not settings.configured:
            settings.configure(**project_settings())
        django.setup()
        call_command("migrate", verbosity=0, database="default")
        _ready = True


def wsgi_app(auth: Any, prefix: str = "/auth") -> Callable[..., Iterable[bytes]]:
    """The project's WSGI app serving ``auth``, with the JSON API mounted at ``prefix``."""
    setup()
    from django.core.wsgi import get_wsgi_application

    from authgate.django import use_auth
    from tests.django_project.urls import urlconf_for

    application = get_wsgi_application()
    urlconf = urlconf_for(prefix)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[URLCONF_KEY] = urlconf
        with use_auth(auth):
            response = application(environ, start_response)
            try:
                body = b"".join(response)
            finally:  # as a server does: Django then sends request_finished
                response.close()
        return [body]

    return app


def empty_tables(alias: str = "default") -> None:
    """Delete every authgate row in the database ``alias``, children first."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.sessions.models import Session as DjangoSession

    from authgate.django.models import (
        OutboxNotice,
        Role,
        SecurityEvent,
        Session,
        UsedToken,
        User,
        UserEmail,
        UserRole,
    )

    for model in (
        LogEntry, DjangoSession, UserRole, Session, UserEmail, UsedToken, SecurityEvent,
        OutboxNotice, User, Role,
    ):  # fmt: skip
        model.objects.using(alias).all().delete()
