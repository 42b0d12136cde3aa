"""Test-only middleware: route a request to the URLconf its test client chose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.django_project import URLCONF_KEY


def urlconf_from_environ(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Use ``environ[URLCONF_KEY]`` as the request's URLconf (set by ``wsgi_app``)."""

    def middleware(request: Any) -> Any:
        urlconf = request.META.get(URLCONF_KEY)
        if urlconf:
            request.urlconf = urlconf
        return get_response(request)

    return middleware
