"""What every HTML page needs: one request's state, CSRF, flash messages, headers, errors.

:class:`PageCall` is one page request as a handler of :mod:`authgate.web.pages`
sees it; :meth:`PageCall.render` and :meth:`PageCall.redirect` are the only
two ways out. Nothing here knows a flow: handlers call the flows, this
module turns their results and :class:`~authgate.errors.AuthError` into HTML.

* **CSRF.** Every form carries ``csrf_token``. A signed-in visitor's is the
  session's own CSRF token (:meth:`Credentials.csrf_token`); an anonymous
  visitor's is an itsdangerous signature of a random nonce kept in the
  HttpOnly, ``SameSite=Lax`` flow cookie (``__Host-authgate_flow`` with secure
  cookies), a double submit: a cross-site form post carries no ``Lax``
  cookie, and a token cannot be made without the secret.
* **Flash messages** live in a signed, HttpOnly cookie for at most a minute
  between a POST and the page it redirects to; they hold message ids, so
  they are translated when shown, in that page's language.
* **Headers.** Every page is ``Cache-Control: no-store`` (forms and account
  data) with a strict ``Content-Security-Policy`` (no script at all, styles
  only from the package's stylesheet), ``X-Frame-Options: DENY``,
  ``Referrer-Policy`` and ``X-Content-Type-Options``. A page that needs one
  of the package's own scripts (``render(scripts=...)``, e.g. the copy button
  of a new API key) allows ``script-src 'self'`` on that answer only: still
  no inline script. With passkeys on, every page may run the package's
  ``passkeys.js`` and it may call this site (``connect-src 'self'``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from authgate.context import Client
from authgate.errors import (
    AuthError,
    CSRFFailed,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    UserExists,
    ValidationError,
    localized_message,
    reason_text,
)
from authgate.i18n import (
    LOCALE_NAMES,
    LOCALES,
    N_,
    gettext,
    html_lang,
    is_rtl,
)
from authgate.web.credentials import CSRF_FIELD, Principal
from authgate.web.http import ApiRequest, ApiResponse, format_cookie
from authgate.web.redirects import safe_next

if TYPE_CHECKING:
    from authgate.web.pages import AuthPages

__all__ = ["FLASH_COOKIE", "Page", "PageCall", "PageHandler", "page_headers"]

FLASH_COOKIE = "authgate_flash"
#: Seconds a flash message waits for the page that shows it.
FLASH_SECONDS = 60
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")
#: No script at all; styles from our own stylesheet only; forms post to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

PageHandler = Callable[["PageCall"], ApiResponse]


@dataclass(frozen=True)
class Page:
    """One HTML page: where it is, what it shows, who may see it.

    Attributes:
        name: the endpoint name (``url_for("authgate.<name>")`` in Flask,
            ``reverse("authgate:<name>")`` in Django, a named route in Bottle).
        path: below the prefix, e.g. ``/login``.
        template: the template rendered by :meth:`PageCall.render`.
        handler: serves GET (and HEAD) and POST.
        member: only for signed-in users (others are sent to sign in first).
        feature: the settings switch the page needs (off: the path is not served).
        nav: the label of the page in the account menu (a message id), if listed there.
        shared: the path is also a JSON route (an emailed link's landing page): the
            page serves GETs that do not ask for JSON and urlencoded form posts.
        guest: signed-in visitors are sent on (to ``next``) instead of seeing it.
    """

    name: str
    path: str
    template: str
    handler: PageHandler
    member: bool = False
    feature: str | None = None
    nav: str | None = None
    shared: bool = False
    guest: bool = False


def page_headers(
    referrer: str = "same-origin", scripts: bool = False, connect: bool = False
) -> list[tuple[str, str]]:
    """The headers of every page (see the module docstring).

    Args:
        referrer: the ``Referrer-Policy``.
        scripts: the page loads scripts of ours (``script-src 'self'``, never inline).
        connect: those scripts call this site's JSON API (``connect-src 'self'``: passkeys).
    """
    policy = CONTENT_SECURITY_POLICY + ("; script-src 'self'" if scripts else "")
    policy += "; connect-src 'self'" if connect else ""
    return [
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", policy),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", referrer),
    ]


@dataclass
class PageCall:
    """One page request: the handler reads ``form`` and ``principal``, then renders or redirects."""

    pages: AuthPages
    page: Page
    request: ApiRequest
    locale: str
    principal: Principal | None
    form: dict[str, str] = field(default_factory=dict)
    #: ``Set-Cookie`` values to send with the answer, whichever it is.
    cookies: list[str] = field(default_factory=list)
    #: No referrer at all (pages whose URL holds a token).
    private_url: bool = False
    #: A refusal of the posted form (a bad CSRF token): the page is shown again with it,
    #: as if not posted.
    pending_error: AuthError | None = None

    # -- what handlers read --------------------------------------------------------
    @property
    def is_post(self) -> bool:
        """Whether the form was sent and is to be acted on (else the page is shown)."""
        return self.request.method == "POST" and self.pending_error is None

    @property
    def user(self) -> Any:
        """The signed-in user (member pages always have one)."""
        assert self.principal is not None
        return self.principal.user

    @property
    def token(self) -> str | None:
        """The session token of the signed-in user, if any."""
        return None if self.principal is None else self.principal.token

    @property
    def client(self) -> Client:
        """The client's IP and user agent, for the flows."""
        return self.pages.api.credentials.client(self.request)

    def url(self, name: str, **query: str) -> str:
        """The path of the page ``name`` (with ``query``)."""
        return self.pages.url(name, **query)

    def next_url(self, default: str | None = None) -> str:
        """The safe ``next`` of the form or query, else ``default`` (the ``post_login_url``)."""
        value = self.form.get("next") or self.request.query.get("next")
        fallback = self.pages.auth.settings.post_login_url if default is None else default
        return safe_next(value, default=fallback)

    # -- answers -------------------------------------------------------------------
    def redirect(
        self, location: str, message: str | None = None, category: str = "success", **params: Any
    ) -> ApiResponse:
        """303 to ``location`` (already safe), with a flash message (a message id) to show there."""
        response = ApiResponse.redirect(location)
        if message is not None:
            self.flash(message, category, **params)
        self._finish(response)
        return response

    def flash(self, message: str, category: str = "success", **params: Any) -> None:
        """Show ``message`` (a message id, ``%(name)s`` filled from ``params``) on the next page."""
        value = self.pages.flash_serializer.dumps([[category, message, params]])
        name = self.pages.flash_cookie_name
        self.cookies.append(
            format_cookie(name, value, max_age=FLASH_SECONDS, secure=self.pages.secure)
        )

    def render(
        self,
        status: int = 200,
        *,
        error: AuthError | None = None,
        field_names: Mapping[str, str] | None = None,
        template: str | None = None,
        scripts: tuple[str, ...] = (),
        **context: Any,
    ) -> ApiResponse:
        """The page's template as the answer.

        Args:
            status: the HTTP status (an ``error`` brings its own).
            error: what the flow raised: shown next to its fields (and summed up at
                the top, announced to screen readers), with the form's values kept
                except passwords.
            field_names: where an error without a field of its own goes, e.g.
                ``{"credentials": "password"}`` (see :meth:`errors_of`).
            template: another template than the page's.
            scripts: static scripts of the package (names in
                :data:`~authgate.web.pages.STATIC_FILES`) the page loads; the
                answer's policy then allows ``script-src 'self'``.
            **context: the template's own values.
        """
        error = error or self.pending_error
        errors, summary = self.errors_of(error, field_names or {})
        if error is not None:
            status = 400 if status == 200 and error.status < 400 else error.status
        body = self.pages.templates.render(
            template or self.page.template,
            self.locale,
            {
                **self._base_context(),
                "errors": errors,
                "error": summary,
                "error_code": None if error is None else error.code,
                "scripts": scripts,
                **context,
            },
        )
        passkeys = self.pages.auth.settings.passkeys  # passkeys.js on every page
        response = ApiResponse(
            status=status, body=body.encode(), content_type="text/html; charset=utf-8",
            headers=page_headers("no-referrer" if self.private_url else "same-origin",
                                 scripts=bool(scripts) or passkeys, connect=passkeys),
        )  # fmt: skip
        self._finish(response)
        return response

    def _finish(self, response: ApiResponse) -> None:
        for cookie in self.cookies:
            response.set_cookie(cookie)
        self.cookies = []

    # -- errors ----------------------------------------------------------------------
    def errors_of(
        self, error: AuthError | None, field_names: Mapping[str, str]
    ) -> tuple[dict[str, str], str | None]:
        """``(field -> sentence, message for the whole form)`` for what a flow raised.

        ``field_names`` places errors that name no field: ``"credentials"``
        (wrong password), ``"exists"`` (address or username taken, else its own
        field), ``"token"`` (a bad link).
        """
        if error is None:
            return {}, None
        settings = self.pages.auth.settings
        if isinstance(error, ValidationError) and error.fields:
            errors: dict[str, str] = {}
            for name, reason in error.fields.items():
                if reason == "too_short" and "password" in name:
                    errors[name] = gettext(
                        N_("Use at least %(num)d characters."), num=settings.password_min_length
                    )
                elif reason == "too_long" and "password" in name:
                    errors[name] = gettext(
                        N_("Use at most %(num)d characters."), num=settings.password_max_length
                    )
                else:
                    errors[name] = reason_text(reason)
            return errors, gettext(N_("Please correct the highlighted fields."))
        if isinstance(error, InvalidCredentials) and field_names.get("credentials") == "":
            if settings.usernames:
                return {}, gettext(N_("The email address, username or password is not correct."))
            return {}, gettext(N_("The email address or password is not correct."))
        if isinstance(error, InvalidCredentials) and "credentials" in field_names:
            target = field_names["credentials"]
            return {target: gettext(N_("The password is not correct."))}, gettext(
                N_("The password is not correct.")
            )
        if isinstance(error, UserExists):
            target = field_names.get("exists", error.field)
            text = gettext(N_("This is already taken by another account."))
            return {target: text}, text
        if isinstance(error, InvalidToken) and "token" in field_names:
            return {}, gettext(N_("This link is invalid, has expired or was already used."))
        if isinstance(error, RateLimited):
            minutes = max(1, -(-error.retry_after // 60))
            return {}, gettext(N_("Too many attempts. Try again in %(num)d min."), num=minutes)
        if isinstance(error, CSRFFailed):
            return {}, gettext(N_("This form has expired. Please try again."))
        return {}, localized_message(error)

    def kept(self, *secret: str) -> dict[str, str]:
        """The form's values to show again, without ``csrf_token`` and the ``secret`` fields."""
        return {
            k: v for k, v in self.form.items()
            if k != CSRF_FIELD and k not in secret and "password" not in k
        }  # fmt: skip

    # -- context ---------------------------------------------------------------------
    def csrf_token(self) -> str:
        """The form token of this visitor (see the module docstring)."""
        if self.principal is not None and self.principal.token:
            return self.pages.api.credentials.csrf_token(self.principal.token)
        nonce = self.request.cookies.get(self.pages.flow_cookie_name, "")
        if not _NONCE.fullmatch(nonce):
            nonce = secrets.token_urlsafe(32)
            self.request.cookies = {**self.request.cookies, self.pages.flow_cookie_name: nonce}
            self.cookies.append(
                format_cookie(self.pages.flow_cookie_name, nonce, secure=self.pages.secure)
            )
        return self.pages.form_signer.get_signature(nonce).decode()

    def check_csrf(self) -> None:
        """Raise ``CSRF_FAILED`` unless the form carries this visitor's token."""
        sent = self.form.get(CSRF_FIELD, "")
        if not sent or not sent.isascii():
            raise CSRFFailed()
        nonce = self.request.cookies.get(self.pages.flow_cookie_name, "")
        if _NONCE.fullmatch(nonce):
            try:
                if self.pages.form_signer.verify_signature(nonce.encode(), sent.encode()):
                    return
            except BadSignature:
                pass
        if self.principal is not None and self.principal.token:
            self.pages.api.credentials.check_csrf(self.request, self.principal.token, sent)
            return
        raise CSRFFailed()

    def _flashes(self) -> list[tuple[str, str]]:
        raw = self.request.cookies.get(self.pages.flash_cookie_name)
        if not raw:
            return []
        self.cookies.append(
            format_cookie(self.pages.flash_cookie_name, "", max_age=0, secure=self.pages.secure)
        )
        try:
            entries = self.pages.flash_serializer.loads(raw, max_age=FLASH_SECONDS)
        except BadSignature:
            return []
        shown: list[tuple[str, str]] = []
        for category, message, params in entries:
            shown.append((str(category), gettext(str(message), **dict(params))))
        return shown

    def _base_context(self) -> dict[str, Any]:
        pages = self.pages
        settings = pages.auth.settings
        here = pages.api.prefix + self.request.path
        query = urlencode(self.request.query) if self.request.query else ""
        return {
            "site_name": settings.site_name,
            "locale": self.locale,
            "lang": html_lang(self.locale),
            "dir": "rtl" if is_rtl(self.locale) else "ltr",
            "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
            "page": self.page.name,
            "user": None if self.principal is None else self.principal.user,
            "url": pages.url,
            "static_url": pages.static_url,
            "csrf_token": self.csrf_token(),
            "flashes": self._flashes(),
            "next": self.form.get("next") or self.request.query.get("next") or "",
            "here": f"{here}?{query}" if query else here,
            "form": self.kept(),
            "features": pages.features(),
            "nav": pages.nav(self.page.name) if self.principal is not None else [],
            "password_min_length": settings.password_min_length,
            "password_max_length": settings.password_max_length,
            "post_login_url": settings.post_login_url,
            "api_prefix": pages.api.prefix,
        }


def flash_serializer(secrets_newest_first: tuple[str, ...]) -> URLSafeTimedSerializer:
    """The signer of flash cookies."""
    return URLSafeTimedSerializer(list(reversed(secrets_newest_first)), salt="authgate.flash")


def form_signer(secrets_newest_first: tuple[str, ...]) -> Signer:
    """The signer of anonymous form tokens."""
    return Signer(list(reversed(secrets_newest_first)), salt="authgate.page-form")
