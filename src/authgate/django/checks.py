"""The Django system check that reports bad ``AUTHGATE_*`` settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from authgate.django.apps import check_settings

__all__ = ["check_authgate_settings"]


def check_authgate_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``authgate.E001`` for an unknown ``AUTHGATE_*`` name or an invalid value."""
    try:
        check_settings()
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                str(exc),
                hint="See authgate.settings.Settings for every setting and its type.",
                id="authgate.E001",
            )
        ]
    return []


checks.register(check_authgate_settings, checks.Tags.compatibility)
