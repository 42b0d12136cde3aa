"""URLs of authgate's JSON API; include them where the API should live::

    urlpatterns = [path("auth/", include("authgate.django.urls"))]

Every path below the mount point goes to :func:`authgate.django.views.api`
(``reverse("authgate:api", kwargs={"subpath": "sign-in/email"})``).
"""

from __future__ import annotations

from django.urls import re_path

from authgate.django import views

app_name = "authgate"

urlpatterns = [re_path(r"^(?P<subpath>.*)$", views.api, name="api")]
