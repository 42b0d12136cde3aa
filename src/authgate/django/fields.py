"""Model fields that keep authgate's storage rules on every Django database backend.

* :class:`UTCDateTimeField` always hands aware UTC datetimes to Python and
  accepts them whatever the project's ``USE_TZ``, as the SQLAlchemy store's
  ``UTCDateTime`` does.
* :class:`CanonicalField` stores the canonical (case-folded) email or username
  with a binary collation on MySQL/MariaDB, whose default collations are case-
  *and accent*-insensitive and would make ``jose@`` and ``josé@`` collide there only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models

__all__ = ["CanonicalField", "UTCDateTimeField"]

UTC = dt.timezone.utc


class UTCDateTimeField(models.DateTimeField):  # type: ignore[misc]
    """A ``DateTimeField`` that reads and writes aware UTC datetimes.

    With ``USE_TZ = False`` an aware value is stored as naive UTC (Django
    refuses aware values then); a naive value read back is UTC.
    """

    def get_prep_value(self, value: Any) -> Any:
        """Normalise ``value`` to what Django expects under the current ``USE_TZ``."""
        if isinstance(value, dt.datetime):
            if settings.USE_TZ and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            elif not settings.USE_TZ and value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
        return super().get_prep_value(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        """An aware UTC datetime (or ``None``)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class CanonicalField(models.CharField):  # type: ignore[misc]
    """A ``CharField`` compared byte-wise: binary collation on MySQL/MariaDB.

    The canonical form is computed in Python, so the database must not fold
    case or accents a second time.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        """Add ``utf8mb4_bin`` on MySQL/MariaDB; other backends compare bytes already."""
        params: dict[str, Any] = super().db_parameters(connection)
        if connection.vendor == "mysql" and not params.get("collation"):
            params["collation"] = "utf8mb4_bin"
        return params
