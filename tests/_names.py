"""Names of the per-run server databases, shared by ``conftest.py`` and the Django project."""

from __future__ import annotations

import os

#: The agreed variable starts with ``AUTHGATE_``, where authgate reads its settings
#: (``Auth.from_config``, the CLI, ``AUTHGATE_*`` in the environment): an unknown one
#: there is a configuration error. So it is moved, once, before any test runs, to a
#: name authgate does not read; subprocesses of the tests inherit the moved one.
_GIVEN, _MOVED = "AUTHGATE_TEST_NAMESPACE", "TEST_NAMESPACE_OF_AUTHGATE"
if _GIVEN in os.environ:
    os.environ[_MOVED] = os.environ.pop(_GIVEN)


def worker_database(suffix: str = "") -> str:
    """This pytest worker's database name on the PostgreSQL and MariaDB servers.

    ``AUTHGATE_TEST_NAMESPACE`` (letters and digits) keeps two test runs on one
    machine (two checkouts, say) out of each other's databases.
    """
    namespace = os.environ.get(_MOVED, "")
    if namespace and not namespace.isalnum():
        raise ValueError("AUTHGATE_TEST_NAMESPACE must be letters and digits")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"authgate_test_{namespace}{worker}{suffix}"
