"""URLs of authgate's JSON API and pages; include them where they should live::

    urlpatterns = [path("auth/", include("authgate.django.urls"))]

Every page has a name in the ``authgate`` namespace (``reverse("authgate:login")``,
``{% url "authgate:profile" %}``; see :data:`authgate.web.pages.PAGES`), and every
path below the mount point goes to :func:`authgate.django.views.api`
(``reverse("authgate:api", kwargs={"subpath": "sign-in/email"})``).
"""

from __future__ import annotations

from django.urls import path, re_path

from authgate.django import views
from authgate.web.pages import PAGES

app_name = "authgate"

urlpatterns = [
    *(path(page.path[1:], views.api, {"subpath": page.path[1:]}, name=page.name) for page in PAGES),
    re_path(r"^(?P<subpath>.*)$", views.api, name="api"),
]
