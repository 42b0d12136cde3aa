"""Names of the per-run server databases, shared by ``conftest.py`` and the Django project."""

from __future__ import annotations

import os

#: The variable a test run is namespaced by, and where it is kept during the run.
#: authgate reads every ``AUTHGATE_*`` environment variable as a setting (and
#: refuses unknown ones), so the test suite moves its own variable out of that
#: prefix at start-up (:func:`hide_namespace_variable`); subprocesses inherit the copy.
NAMESPACE_VARIABLE = "AUTHGATE_TEST_NAMESPACE"
_KEPT_AS = "_AUTHGATE_TEST_NAMESPACE"


def hide_namespace_variable() -> None:
    """Move ``AUTHGATE_TEST_NAMESPACE`` to a name authgate does not read as a setting."""
    value = os.environ.pop(NAMESPACE_VARIABLE, None)
    if value is not None:
        os.environ[_KEPT_AS] = value


def worker_database(suffix: str = "") -> str:
    """This pytest worker's database name on the PostgreSQL and MariaDB servers.

    ``AUTHGATE_TEST_NAMESPACE`` (letters and digits) keeps two test runs on one
    machine (two checkouts, say) out of each other's databases.
    """
    namespace = os.environ.get(NAMESPACE_VARIABLE) or os.environ.get(_KEPT_AS, "")
    if namespace and not namespace.isalnum():
        raise ValueError("AUTHGATE_TEST_NAMESPACE must be letters and digits")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"authgate_test_{namespace}{worker}{suffix}"
