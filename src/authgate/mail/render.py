"""Render emails from Jinja2 templates that the application can override.

Each kind of email is three templates under ``authgate/email/``:
``<kind>_subject.txt``, ``<kind>.txt`` and ``<kind>.html`` (which extends
``authgate/email/base.html``). The app overrides any of them by putting a file
with the same name in one of its own template folders, e.g.
``templates/authgate/email/reset_password.html``.

Every template gets ``site_name``, ``base_url`` (from the settings), ``user``
(may be ``None``), ``to`` (the recipient) and the flow's own values (see
:data:`EMAIL_KINDS`); the text and HTML templates also get ``subject``.
Filters: ``duration`` (minutes → "10 minutes", "1 hour", "3 days"),
``mask_email`` (``jane@example.com`` → ``j***@e***.com``) and
``display_name`` (a user → username or email; a string as is).

Links are built by the flows from ``settings.base_url`` — never from a
request's Host header — and the renderer refuses a ``link`` that points
anywhere else, so a Host-header injection cannot reach a mailbox.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from authgate.i18n import current_locale, html_lang, is_rtl, jinja_callables, ngettext, use_locale
from authgate.mail.message import EmailMessage
from authgate.settings import Settings

__all__ = ["EMAIL_KINDS", "EmailKind", "EmailRenderer", "EmailTemplateNotFound"]

_KIND = re.compile(r"[a-z][a-z0-9_]*")
# Values the renderer supplies; a flow passing them would be a bug (or an
# attempt to point links at another site through base_url).
_RESERVED = frozenset(
    {"site_name", "base_url", "to", "subject", "kind", "gettext", "ngettext", "_", "lang", "dir"}
)
# RFC 3834: an automatic message; Exchange/Outlook: no out-of-office replies.
_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclasses.dataclass(frozen=True)
class EmailKind:
    """The context a built-in email kind needs.

    Attributes:
        required: names that :meth:`EmailRenderer.render` must receive.
        optional: names that default to ``None`` (the templates then leave
            out the sentence that uses them).
    """

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


#: The built-in emails and their context (besides ``site_name``, ``base_url``,
#: ``user`` and ``to``). Kinds not listed here (an app's own) are rendered
#: with whatever context they are given.
EMAIL_KINDS: Mapping[str, EmailKind] = {
    "confirm_email": EmailKind(("link",), ("expires_in_minutes",)),
    "registration_attempt": EmailKind((), ("link",)),
    "welcome": EmailKind((), ("link",)),
    "reset_password": EmailKind(("link",), ("expires_in_minutes",)),
    "password_changed": EmailKind((), ("link",)),
    "password_reset": EmailKind((), ("link",)),
    "username_changed": EmailKind(("old_username", "new_username"), ("link",)),
    "email_change_confirm": EmailKind(("link",), ("expires_in_minutes", "new_email", "old_email")),
    "email_changed": EmailKind(("new_email",), ("old_email", "link")),
    "email_add_confirm": EmailKind(("link",), ("expires_in_minutes", "new_email")),
    "login_link": EmailKind(("link",), ("expires_in_minutes",)),
    "invitation": EmailKind(("link",), ("expires_in_minutes", "invited_by")),
    "account_deleted": EmailKind(),
    "two_factor_code": EmailKind(("code", "expires_in_minutes")),
    "two_factor_changed": EmailKind(("change",), ("left", "few")),
}

# The kinds sent to an address that is not (yet) the account's: ``new_email``
# defaults to the recipient there.
_TO_NEW_ADDRESS = frozenset({"email_change_confirm", "email_add_confirm"})


class EmailTemplateNotFound(jinja2.TemplateNotFound):
    """An email template is missing from the app's folders and the package."""


def duration(minutes: int | float | None) -> str:
    """Minutes as words in the current language: ``10 minutes``, ``1 hour``, ``3 days``.

    ``""`` for ``None``.
    """
    if minutes is None:
        return ""
    value = int(minutes)
    if value >= 1440 and value % 1440 == 0:
        return ngettext("%(num)d day", "%(num)d days", value // 1440)
    if value >= 60 and value % 60 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", value // 60)
    return ngettext("%(num)d minute", "%(num)d minutes", value)


def mask_email(address: object) -> str:
    """``jane@example.com`` → ``j***@e***.com``: recognisable, not readable."""
    text = str(address or "")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return "***"
    labels = domain.split(".")
    masked_domain = f"{labels[0][:1]}***" + (f".{labels[-1]}" if len(labels) > 1 else "")
    return f"{local[:1]}***@{masked_domain}"


def display_name(value: object) -> str:
    """A user's username (or email); a string as is; ``""`` for ``None``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    for attribute in ("username", "name", "email"):
        found = getattr(value, attribute, None)
        if isinstance(found, str) and found:
            return found
    return str(value)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class EmailRenderer:
    """Renders :class:`~authgate.mail.message.EmailMessage` objects from templates.

    Args:
        template_dirs: the app's template folders, searched in order before
            the package's own templates.
        settings: the settings (``site_name``, ``base_url``).

    Attributes:
        environment: the Jinja2 environment, for adding filters or globals.

    Examples:
        >>> from authgate.settings import Settings
        >>> renderer = EmailRenderer(settings=Settings(secret="x" * 32,
        ...                          base_url="https://example.com"))
        >>> m = renderer.render("reset_password", "a@example.com", None,
        ...                     link="https://example.com/auth/reset?token=t",
        ...                     expires_in_minutes=60)
        >>> m.subject, m.kind
        ('Reset your authgate password', 'reset_password')
    """

    def __init__(self, template_dirs: Sequence[str | Path] = (), *, settings: Settings) -> None:
        if isinstance(template_dirs, (str, Path)):
            # A lone "templates" would be read as the folders "t", "e", "m"...
            template_dirs = (template_dirs,)
        self.template_dirs = tuple(Path(d) for d in template_dirs)
        self.settings = settings
        loaders: list[jinja2.BaseLoader] = []
        if self.template_dirs:
            loaders.append(jinja2.FileSystemLoader(self.template_dirs))
        loaders.append(jinja2.PackageLoader("authgate", "templates"))
        self.environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html"]),
            # A value the flow forgot is an error, not a silently empty link.
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        # {% trans %} and _() take keywords and are escaped in HTML (new style); the
        # callables of the email's language come with each render.
        self.environment.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        self.environment.filters.update(
            duration=duration, mask_email=mask_email, display_name=display_name
        )

    def render(
        self, kind: str, to: str, user: Any, *, locale: str | None = None, **context: Any
    ) -> EmailMessage:
        """Render the subject, text and HTML of ``kind`` for ``to``.

        Args:
            kind: the email kind, e.g. ``"reset_password"`` (see :data:`EMAIL_KINDS`).
            to: the recipient address.
            user: the user the email is about, or ``None``.
            locale: the language (default: the current one, that of the request
                that caused the email; see :mod:`authgate.i18n`).
            **context: the flow's values: ``link``, ``expires_in_minutes``...

        Returns:
            The message, with ``Auto-Submitted: auto-generated`` among its headers.

        Raises:
            EmailTemplateNotFound: a template of ``kind`` exists neither in the
                app's folders nor in the package (the message names the file).
            TypeError: a required value is missing, or ``context`` sets a value
                the renderer owns (``site_name``, ``base_url``...).
            ValueError: ``kind`` is not a lowercase name, or ``link`` is not an
                absolute http(s) URL on the origin of ``settings.base_url``.
        """
        if not _KIND.fullmatch(kind):
            raise ValueError(f"email kind must be a lowercase name like 'reset_password': {kind!r}")
        clash = sorted(_RESERVED & context.keys())
        if clash:
            raise TypeError(f"render() sets {', '.join(clash)} itself; do not pass it")
        spec = EMAIL_KINDS.get(kind, EmailKind())
        missing = [name for name in spec.required if context.get(name) in (None, "")]
        if missing:
            needed = ", ".join(f"{name}=..." for name in missing)
            raise TypeError(f"the {kind!r} email needs {needed}")
        if context.get("link") is not None:
            self._check_link(context["link"])
        values: dict[str, Any] = dict.fromkeys(spec.optional)
        if kind in _TO_NEW_ADDRESS:
            values["new_email"] = to
        values.update({k: v for k, v in context.items() if v is not None or k not in values})
        language = locale or current_locale()
        values.update(
            site_name=self.settings.site_name,
            base_url=self.settings.base_url,
            user=user,
            to=to,
            lang=html_lang(language),
            dir="rtl" if is_rtl(language) else "ltr",
            **jinja_callables(language),
        )
        with use_locale(language):  # the filters (duration) speak it too
            # Collapsed to one line: a value with a newline must not break the header.
            subject = " ".join(self._render(kind, f"{kind}_subject.txt", values).split())
            values["subject"] = subject
            text = self._render(kind, f"{kind}.txt", values).strip() + "\n"
            html = self._render(kind, f"{kind}.html", values).strip() + "\n"
        return EmailMessage(
            to=to,
            subject=subject,
            text=text,
            html=html,
            kind=kind,
            user=user,
            headers=dict(_HEADERS),
        )

    def _render(self, kind: str, filename: str, values: Mapping[str, Any]) -> str:
        name = f"authgate/email/{filename}"
        try:
            template = self.environment.get_template(name)
            return template.render(values)
        except jinja2.TemplateNotFound as exc:
            searched = [str(d) for d in self.template_dirs] + ["the authgate package"]
            missing = exc.name if isinstance(exc.name, str) else name
            raise EmailTemplateNotFound(
                missing,
                f"email template {missing!r} not found for the {kind!r} email "
                f"(searched {', '.join(searched)})",
            ) from exc
        except jinja2.UndefinedError as exc:
            raise TypeError(f"email template {name!r}: {exc.message}; pass it to render()") from exc

    def _check_link(self, link: object) -> None:
        if not isinstance(link, str):
            raise TypeError(f"email link must be a string, got {type(link).__name__}")
        scheme, host, _ = _origin(link)
        if scheme not in _DEFAULT_PORTS or not host:
            raise ValueError("email links must be absolute http(s) URLs built from base_url")
        base_url = self.settings.base_url
        if base_url is not None and _origin(link) != _origin(base_url):
            raise ValueError(
                f"email link points at {scheme}://{host}, not at base_url {base_url}; "
                "build links from settings.base_url, never from the request's Host"
            )
