"""The Django app of the HTTP contract suite: authgate's Django integration serving ``auth``."""

from __future__ import annotations

from authgate import Auth
from tests.web.clients import ContractClient, WSGIClient


def build(auth: Auth, prefix: str = "/auth") -> ContractClient:
    """A client of the test project serving ``auth``, with the JSON API at ``prefix``.

    Django is configured once per process (``tests.django_project``); each
    request of this client is served by ``auth`` through
    :func:`authgate.django.use_auth` and routed to a URLconf that mounts the
    API at ``prefix`` next to the demo views.
    """
    from tests.django_project import wsgi_app

    return WSGIClient(wsgi_app(auth, prefix), "django")
