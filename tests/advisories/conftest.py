"""The advisory suite runs on the framework matrix of the HTTP contract suite."""

from ..web.conftest import client, framework, make_client  # noqa: F401  (fixtures)
