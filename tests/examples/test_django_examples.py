"""The Django quick start works as its README says, each run in its own process.

Django's settings are global to a process, so the example runs in a fresh
interpreter (``DJANGO_SETTINGS_MODULE=settings`` in its folder, a temporary
SQLite database, cheap hashing from the environment), bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_quickstart"
TIMEOUT = 120
PASSWORD = "correct horse battery"

# Runs inside the example's process: the flows of the README through Django's test
# client (with CSRF checks enforced), printing one JSON line of results.
FLOW = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
call_command("migrate", verbosity=0)
client = Client(enforce_csrf_checks=True)
results = {}
signed_up = client.post(
    "/auth/sign-up/email",
    {"email": "alice@example.com", "password": "correct horse battery"},
    content_type="application/json",
)
token = signed_up.json()["token"]
results["sign_up"] = [signed_up.status_code, signed_up.json()["user"]["email"]]
bearer = {"HTTP_AUTHORIZATION": "Bearer " + token}
results["me_bearer"] = [client.get("/me", **bearer).status_code,
                        client.get("/me", **bearer).json()["user"]["email"]]
results["me_cookie"] = client.get("/me").status_code
results["sign_out_without_csrf"] = client.post("/auth/sign-out").json()["error"]["code"]
results["sign_out"] = client.post(
    "/auth/sign-out", HTTP_X_CSRF_TOKEN=signed_up.headers["X-CSRF-Token"]
).json()
client.cookies.clear()
results["me_after"] = [client.get("/me").status_code, client.get("/me", **bearer).status_code]
print(json.dumps(results))
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "settings",
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "AUTHGATE_ARGON2_MEMORY_COST": "1024",
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "PYTHONPATH": str(EXAMPLE),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_quickstart_sign_up_protected_view_sign_out(tmp_path: Path) -> None:
    done = run(tmp_path, "-W", "error", "-c", FLOW)
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])

    assert results == {
        "sign_up": [200, "alice@example.com"],
        "me_bearer": [200, "alice@example.com"],
        "me_cookie": 200,
        "sign_out_without_csrf": "CSRF_FAILED",
        "sign_out": {"success": True},
        "me_after": [401, 401],
    }


def test_quickstart_manage_py_commands(tmp_path: Path) -> None:
    assert run(tmp_path, "manage.py", "migrate", "-v", "0").returncode == 0
    assert run(tmp_path, "manage.py", "check").returncode == 0

    created = run(
        tmp_path, "manage.py", "authgate", "users", "create", "admin@example.com",
        "--password", PASSWORD,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "created user admin@example.com" in created.stdout
    listed = run(tmp_path, "manage.py", "authgate", "users", "list")
    assert "admin@example.com" in listed.stdout

    again = run(
        tmp_path, "manage.py", "authgate", "users", "create", "admin@example.com",
        "--password", PASSWORD,
    )  # fmt: skip
    assert again.returncode == 1
    assert again.stderr.startswith("error: USER_EXISTS") and again.stderr.count("\n") == 1
