"""Names of the per-run server databases, shared by ``conftest.py`` and the Django project."""

from __future__ import annotations

import os

#: ``AUTHGATE_TEST_NAMESPACE`` is moved out of the ``AUTHGATE_*`` names on import:
#: authgate reads every ``AUTHGATE_*`` environment variable as a setting, and an
#: unknown one is refused. Subprocesses (pytest-xdist workers, ``manage.py``) inherit
#: the new name.
_NAMESPACE_VARIABLE = "PYTEST_AUTHGATE_NAMESPACE"
if "AUTHGATE_TEST_NAMESPACE" in os.environ:
    os.environ[_NAMESPACE_VARIABLE] = os.environ.pop("AUTHGATE_TEST_NAMESPACE")


def worker_database(suffix: str = "") -> str:
    """This pytest worker's database name on the PostgreSQL and MariaDB servers.

    ``AUTHGATE_TEST_NAMESPACE`` (letters and digits) keeps two test runs on one
    machine (two checkouts, say) out of each other's databases.
    """
    namespace = os.environ.get(_NAMESPACE_VARIABLE, "")
    if namespace and not namespace.isalnum():
        raise ValueError("AUTHGATE_TEST_NAMESPACE must be letters and digits")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"authgate_test_{namespace}{worker}{suffix}"
