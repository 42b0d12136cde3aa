"""Names of the per-run server databases, shared by ``conftest.py`` and the Django project."""

from __future__ import annotations

import os


def worker_database(suffix: str = "") -> str:
    """This pytest worker's database name on the PostgreSQL and MariaDB servers.

    ``AUTHGATE_TEST_NAMESPACE`` (letters and digits) keeps two test runs on one
    machine (two checkouts, say) out of each other's databases.
    """
    namespace = os.environ.get("AUTHGATE_TEST_NAMESPACE", "")
    if namespace and not namespace.isalnum():
        raise ValueError("AUTHGATE_TEST_NAMESPACE must be letters and digits")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"authgate_test_{namespace}{worker}{suffix}"
