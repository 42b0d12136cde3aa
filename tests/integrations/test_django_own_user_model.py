"""A project that keeps its own ``AUTH_USER_MODEL`` mounts authgate as before.

Django's settings are global to a process, so this project (``django.contrib.auth``'s
own ``User``, the admin, authgate's app and middleware) runs in a fresh
interpreter: ``request.user`` stays Django's user, ``request.auth_user`` is
authgate's, Django's ``login()`` of its own users starts no authgate session,
and the system checks are quiet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="own-user-model-secret-key-0123456789-abcdefghij",
    ALLOWED_HOSTS=["*"], USE_TZ=True, ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "django.contrib.sessions", "django.contrib.messages",
                    "django.contrib.admin", "authgate.django"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
                "authgate.django.middleware.AuthGateMiddleware"],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                "OPTIONS": {"context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages"]}}],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    AUTHGATE_ARGON2_MEMORY_COST=1024, AUTHGATE_ARGON2_TIME_COST=1, AUTHGATE_COOKIE_SECURE=False,
)
django.setup()
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import JsonResponse
from django.test import Client
from django.urls import include, path
import io

def whoami(request):
    return JsonResponse({
        "user": request.user.__class__.__name__,
        "user_name": getattr(request.user, "username", None),
        "auth_user": request.auth_user.email if request.auth_user else None,
    })

urlpatterns = [path("auth/", include("authgate.django.urls")), path("whoami", whoami),
               path("admin/", admin.site.urls)]

call_command("migrate", verbosity=0)
checks = io.StringIO()
call_command("check", stdout=checks)
from authgate.django import get_auth
auth = get_auth()
results = {"check": checks.getvalue().strip()}
User.objects.create_superuser("django-admin", "admin@example.com", "django password 1")
auth.users.create_user(email="member@example.com", password="correct horse battery")
token = auth.sign_in("member@example.com", "correct horse battery").token
client = Client()
results["anonymous"] = client.get("/whoami").json()
results["bearer"] = client.get("/whoami", HTTP_AUTHORIZATION="Bearer " + token).json()
client.login(username="django-admin", password="django password 1")
results["django_login"] = client.get("/whoami").json()
results["authgate_sessions"] = len(auth.list_sessions(auth.users.get_user("member@example.com")))
page = client.get("/admin/authgate/user/")
results["admin"] = [page.status_code, "member@example.com" in page.content.decode()]
print(json.dumps(results))
"""


def test_a_project_with_its_own_user_model(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "DJANGO_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "db.sqlite3")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results == {
        "check": "System check identified no issues (0 silenced).",
        "anonymous": {"user": "AnonymousUser", "user_name": "", "auth_user": None},
        "bearer": {"user": "AnonymousUser", "user_name": "", "auth_user": "member@example.com"},
        "django_login": {"user": "User", "user_name": "django-admin", "auth_user": None},
        "authgate_sessions": 1,
        "admin": [200, True],
    }
