"""The pages' Jinja2 environment: the app's templates first, authgate's second.

Every page template extends ``authgate/base.html`` through one of two
layouts, ``authgate/layout_public.html`` (sign-in, sign-up, links from
emails) and ``authgate/layout_member.html`` (the account pages, with their
menu). An app overrides any of them, or any page, by placing a file of the
same name (``authgate/login.html``...) in one of its template folders: those
are searched first (a :class:`jinja2.ChoiceLoader`), the package's last.

Autoescaping is on for every template. Undefined names are errors
(:class:`jinja2.StrictUndefined`): a typo in a template fails loudly instead
of rendering an empty link. Text is translated with ``{% trans %}`` and
``_()``, new style (keywords, filled in after translation and escaped); the
callables of the page's language come with each render (:mod:`authgate.i18n`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from authgate.i18n import jinja_callables

__all__ = ["PageTemplates"]


def _datetime(value: object) -> str:
    """A time as ``2026-12-01 14:05 UTC`` (the same in every language)."""
    if not isinstance(value, dt.datetime):
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: object) -> str:
    """A time as ISO 8601 (for ``<time datetime=...>``)."""
    return value.isoformat() if isinstance(value, dt.datetime) else ""


class PageTemplates:
    """Renders page templates, the app's folders before the package's.

    Args:
        template_dirs: the app's template folders, searched in order first.

    Attributes:
        environment: the Jinja2 environment (add filters or globals to it).
    """

    def __init__(self, template_dirs: Sequence[str | Path] = ()) -> None:
        if isinstance(template_dirs, str | Path):
            template_dirs = (template_dirs,)
        self.template_dirs = tuple(Path(d) for d in template_dirs)
        loaders: list[jinja2.BaseLoader] = []
        if self.template_dirs:
            loaders.append(jinja2.FileSystemLoader(self.template_dirs))
        loaders.append(jinja2.PackageLoader("authgate", "templates"))
        self.environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        self.environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        self.environment.filters.update(datetime=_datetime, iso=_iso)

    def render(self, name: str, locale: str, context: Mapping[str, Any]) -> str:
        """Render the template ``name`` in ``locale`` with ``context``."""
        template = self.environment.get_template(name)
        return template.render({**context, **jinja_callables(locale)})
