"""Flask-Security's ``fsqla_v3`` names for authgate's model mixins.

``FsUserMixin`` is :class:`authgate.UserMixin` with Flask-Security's ``active``
and ``password`` names; ``FsRoleMixin`` is :class:`authgate.RoleMixin`;
``FsWebAuthnMixin`` maps the table an fsqla_v3 app declares for WebAuthn
credentials (authgate keeps passkeys itself: it stays empty).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from authgate.models import RoleMixin, UserMixin

__all__ = ["FsModels", "FsRoleMixin", "FsUserMixin", "FsWebAuthnMixin"]


class FsModels:
    """``FsModels.set_db_info(db)``: nothing to set up (authgate adds its tables itself)."""

    db: Any = None

    @classmethod
    def set_db_info(cls, appdb: Any, **names: Any) -> None:
        """Remember the ``db`` (authgate names its own link and session tables)."""
        cls.db = appdb


class FsUserMixin(UserMixin):
    """authgate's user columns, with Flask-Security's ``active`` and ``password`` names."""

    @property
    def active(self) -> bool:
        """Flask-Security's name of ``is_active``."""
        return bool(self.is_active)

    @property
    def password(self) -> str | None:
        """Flask-Security's name of ``password_hash`` (read-only: change passwords through
        ``auth.users.set_password`` or the API, which end the sessions)."""
        return self.password_hash


class FsRoleMixin(RoleMixin):
    """authgate's role columns (``name``, ``description``, ``permissions``)."""


class FsWebAuthnMixin:
    """The WebAuthn table an fsqla_v3 app declares; authgate does not use it."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
