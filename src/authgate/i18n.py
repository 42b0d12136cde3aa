"""Translations: the shipped catalogs, choosing a locale, and the current locale.

authgate's pages, the JSON API's error messages and every email are
translated with one set of gettext catalogs (``authgate/locale/<locale>/
LC_MESSAGES/authgate.mo``, compiled by Babel from the ``.po`` sources next to
them: ``make catalogs``). Reading them needs only the standard library's
:mod:`gettext`, so Babel is a development tool, not a run-time dependency.

Shipped locales: English (the source language) and the eleven of
:data:`LOCALES`. Simplified Chinese is ``zh_Hans`` rather than ``zh_CN``:
what a reader needs is the script, and Simplified script is read in
mainland China and Singapore alike (``zh-CN``, ``zh-SG`` and ``zh`` all pick
it; ``zh-TW``/``zh-HK``, Traditional script, do not).

A request's locale is, in order (:func:`choose_locale`): the app's
``locale_selector`` hook when it returns a shipped locale, the visitor's own
choice (the ``authgate_locale`` cookie the language picker sets), the
``Accept-Language`` header, then the ``default_locale`` setting. The web
layer sets it for the duration of a request (:func:`use_locale`); emails
sent meanwhile are rendered in it.
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from markupsafe import Markup

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "LOCALE_COOKIE",
    "LOCALE_NAMES",
    "N_",
    "RTL_LOCALES",
    "Formatted",
    "choose_locale",
    "current_locale",
    "gettext",
    "html_lang",
    "is_rtl",
    "jinja_callables",
    "negotiate",
    "ngettext",
    "normalize_locale",
    "translations",
    "use_locale",
]

#: The source language of every message.
DEFAULT_LOCALE = "en"
#: Every shipped locale, English first.
LOCALES: tuple[str, ...] = (
    "en", "de", "es", "fr", "nl", "it", "pt_BR", "ru", "tr", "zh_Hans", "ja", "fa",
)  # fmt: skip
#: Each locale's name in its own language (the language picker shows these).
LOCALE_NAMES: Mapping[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "fr": "Français",
    "nl": "Nederlands",
    "it": "Italiano",
    "pt_BR": "Português (Brasil)",
    "ru": "Русский",
    "tr": "Türkçe",
    "zh_Hans": "简体中文",
    "ja": "日本語",
    "fa": "فارسی",
}
#: Locales written right to left (pages get ``dir="rtl"``).
RTL_LOCALES = frozenset({"fa"})
#: The cookie holding the visitor's own choice of language.
LOCALE_COOKIE = "authgate_locale"
#: The gettext domain of the catalogs.
DOMAIN = "authgate"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: ContextVar[str] = ContextVar("authgate_locale", default=DEFAULT_LOCALE)
#: Lower-case spellings (``pt-br``, ``zh-hans``...) -> shipped locale.
_BY_KEY = {code.lower().replace("_", "-"): code for code in LOCALES}
#: Chinese tags that are read in Simplified script.
_SIMPLIFIED = frozenset({"zh", "zh-cn", "zh-sg", "zh-hans", "zh-hans-cn", "zh-hans-sg"})


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (it is translated when shown)."""
    return message


class Formatted(str):
    """A message with values in it: the English text, and what to translate it from.

    ``Formatted(N_("Use at least %(min)s characters."), min=8)`` *is* the string
    ``"Use at least 8 characters."`` (so it works wherever a message does), and
    keeps its ``template`` and ``params`` so that
    :func:`authgate.errors.localized_message` can translate the template and
    fill the values in again.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Formatted:
        text = super().__new__(cls, template % params if params else template)
        text.template = template
        text.params = params
        return text


def normalize_locale(value: object) -> str | None:
    """The shipped locale ``value`` names (``"pt-BR"``, ``"pt_br"``, ``"zh-CN"``...), or ``None``.

    Exact names first, then the language alone (``de-AT`` is ``de``;
    ``pt`` is ``pt_BR``, the only Portuguese shipped); Chinese only when
    it is written in Simplified script.
    """
    if not isinstance(value, str) or not value or len(value) > 35:
        return None
    key = value.strip().lower().replace("_", "-")
    found = _BY_KEY.get(key)
    if found is not None:
        return found
    language = key.split("-", 1)[0]
    if language == "zh":
        return "zh_Hans" if key in _SIMPLIFIED or key.startswith("zh-hans") else None
    if language == "pt":
        return "pt_BR"
    return _BY_KEY.get(language)


@functools.lru_cache(maxsize=512)
def negotiate(accept_language: str) -> str | None:
    """The best shipped locale for an ``Accept-Language`` header, or ``None``.

    Ranges are tried by decreasing ``q`` (the order they came in breaks ties);
    ``q=0`` refuses a language; ``*`` says nothing about which one.

    Examples:
        >>> negotiate("fr-CH, fr;q=0.9, en;q=0.8")
        'fr'
        >>> negotiate("zh-TW, ja;q=0.5")
        'ja'
    """
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:32]):
        tag, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and tag != "*" and weight > 0:
            ranked.append((-weight, index, tag))
    for _, _, tag in sorted(ranked):
        locale = normalize_locale(tag)
        if locale is not None:
            return locale
    return None


#: ``locale_selector(request) -> locale or None``: the app's own choice, e.g. from the
#: user's profile. It gets the neutral :class:`~authgate.web.http.ApiRequest`.
LocaleSelector = Callable[[Any], object]


def choose_locale(
    request: Any,
    default: str = DEFAULT_LOCALE,
    selector: LocaleSelector | None = None,
) -> str:
    """The locale of a request (see the module docstring for the order).

    Args:
        request: an :class:`~authgate.web.http.ApiRequest` (``cookies`` and ``headers``).
        default: the ``default_locale`` setting.
        selector: the ``locale_selector`` setting.
    """
    if selector is not None:
        chosen = normalize_locale(selector(request))
        if chosen is not None:
            return chosen
    chosen = normalize_locale(request.cookies.get(LOCALE_COOKIE))
    if chosen is not None:
        return chosen
    header = request.headers.get("accept-language")
    if header:
        chosen = negotiate(header[:512])
        if chosen is not None:
            return chosen
    return default


@functools.lru_cache(maxsize=len(LOCALES) + 1)
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``locale`` (English and unknown locales translate nothing)."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, [locale], fallback=True)


def current_locale() -> str:
    """The locale of the request being handled (``en`` outside one)."""
    return _current.get()


@contextlib.contextmanager
def use_locale(locale: str) -> Iterator[str]:
    """Make ``locale`` current inside the block (pages, API answers, emails sent meanwhile)."""
    token = _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def gettext(message: str, locale: str | None = None, **variables: Any) -> str:
    """``message`` in ``locale`` (default: the current one), with ``%(name)s`` filled in."""
    text = translations(locale or _current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(
    singular: str, plural: str, n: int, locale: str | None = None, **variables: Any
) -> str:
    """The singular or plural form for ``n`` in ``locale``; ``%(num)d`` is ``n``."""
    text = translations(locale or _current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def is_rtl(locale: str) -> bool:
    """Whether ``locale`` is written right to left."""
    return locale in RTL_LOCALES


def html_lang(locale: str) -> str:
    """``locale`` as an HTML ``lang`` value (``pt-BR``, ``zh-Hans``)."""
    return locale.replace("_", "-")


@functools.lru_cache(maxsize=len(LOCALES) + 1)
def jinja_callables(locale: str) -> dict[str, Any]:
    """``gettext``/``ngettext``/``_`` for a Jinja2 render in ``locale``, new-style.

    New-style (as :mod:`jinja2.ext`'s ``newstyle_gettext``): variables are
    given as keywords and filled in after translation, escaped when the
    template autoescapes (a translation is trusted, a value is not).
    """
    from jinja2 import pass_context

    catalog = translations(locale)

    def _fill(context: Any, text: str, variables: dict[str, Any]) -> str:
        if context.eval_ctx.autoescape:
            # A catalog's text is ours (trusted); the values filled in are escaped.
            text = Markup(text)  # noqa: S704
        # Always formatted, as Jinja2's own new-style gettext: ``%%`` is a percent sign.
        return text % variables

    @pass_context
    def jinja_gettext(context: Any, message: str, **variables: Any) -> str:
        return _fill(context, catalog.gettext(message), variables)

    @pass_context
    def jinja_ngettext(context: Any, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        return _fill(context, catalog.ngettext(singular, plural, num), variables)

    return {"gettext": jinja_gettext, "ngettext": jinja_ngettext, "_": jinja_gettext}
