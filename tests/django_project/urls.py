"""URLconfs of the test project: the demo views plus the JSON API at a chosen prefix.

``urlpatterns`` mounts the API at ``/auth``; :func:`urlconf_for` builds (once)
a URLconf module for any other prefix, which a test client selects per
request through :data:`tests.django_project.URLCONF_KEY`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from django.contrib import admin
from django.urls import include, path

from tests.django_project import views

_modules: dict[str, str] = {}


def patterns(prefix: str) -> list[Any]:
    """The demo views, then ``authgate.django.urls`` included at ``prefix``."""
    mount = prefix.strip("/")
    return [
        path("public", views.public),
        path("protected", views.protected),
        path("admin", views.admin),
        path("starving", views.starving),
        path("accepted", views.accepted),
        path("perm", views.perm),
        path("token-only", views.token_only),
        path("session-only", views.session_only),
        path("basic", views.basic),
        path("scoped", views.scoped),
        path("key-only", views.key_only),
        path("anon", views.anon),
        path("optional", views.optional),
        path("opt/login", views.protected),
        path("opt/admin", views.admin),
        path("opt/perm", views.perm),
        path("opt/token", views.token_only),
        path("native/protected", views.native_protected),
        path("native/perm", views.native_perm),
        path("native/page", views.native_page),
        path("native/login", views.native_login),
        path("native/logout", views.native_logout),
        path("admin/", admin.site.urls),
        path(f"{mount}/" if mount else "", include("authgate.django.urls")),
    ]


def urlconf_for(prefix: str) -> str:
    """The dotted name of a URLconf module mounting the API at ``prefix``."""
    name = _modules.get(prefix)
    if name is None:
        name = f"{__name__}_{len(_modules)}"
        module = types.ModuleType(name)
        module.urlpatterns = patterns(prefix)  # type: ignore[attr-defined]
        sys.modules[name] = module
        _modules[prefix] = name
    return name


urlpatterns = patterns("/auth")
