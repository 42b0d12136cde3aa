"""The JSON API of SPEC §5: one route table, one dispatcher, every framework.

Each route parses its body, calls a flow and renders the result; errors are
rendered once, from :class:`~authgate.errors.AuthError`. Integrations either
register every :class:`Route` with their router (FastAPI, so the routes show
in its docs) or mount :meth:`AuthAPI.handle` under the prefix.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from authgate.errors import (
    AuthError,
    FeatureDisabled,
    Forbidden,
    InternalError,
    InvalidToken,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UserNotFound,
    ValidationError,
    localized_message,
)
from authgate.flows import (
    account,
    api_keys,
    confirmation,
    email_change,
    emails,
    invitations,
    magic_link,
    passkeys,
    reauth,
    recovery,
    refresh,
    sessions,
    signin,
    signup,
    two_factor,
)
from authgate.i18n import DEFAULT_LOCALE, choose_locale, current_locale, use_locale
from authgate.web.credentials import ACCOUNT_MECHANISMS, Credentials, Principal
from authgate.web.http import ApiRequest, ApiResponse, format_cookie
from authgate.web.links import check_form_nonce, link_page
from authgate.web.redirects import safe_next

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = ["AuthAPI", "Call", "Route", "one_prefix", "www_authenticate"]

logger = logging.getLogger("authgate.web")


@dataclass
class Call:
    """One request as a handler sees it."""

    api: AuthAPI
    request: ApiRequest
    principal: Principal | None
    data: dict[str, Any] = field(default_factory=dict)
    #: The body was an HTML form (from one of the link pages), not JSON.
    from_form: bool = False

    @property
    def user(self) -> Any:
        """The authenticated user (routes with ``auth=True`` always have one)."""
        assert self.principal is not None
        return self.principal.user


Handler = Callable[[Call], ApiResponse]


@dataclass(frozen=True)
class Route:
    """One JSON endpoint: how it is served and how it is documented."""

    name: str
    method: str
    path: str
    summary: str
    handler: Handler
    #: JSON schema properties of the body: name -> (schema, required).
    fields: Mapping[str, tuple[dict[str, Any], bool]] = field(default_factory=dict)
    #: Whether extra body fields are allowed (sign-up passes them to app columns).
    open_body: bool = False
    #: Query parameters (documented in OpenAPI).
    query: tuple[str, ...] = ()
    #: Those of ``query`` a request may leave out.
    optional_query: tuple[str, ...] = ()
    #: Name of the response schema in ``components.schemas``.
    response: str = "Success"
    auth: bool = False
    #: Also accepts the urlencoded form of a link page (with its nonce).
    form: bool = False
    #: Settings switch that must be on for the route to be listed.
    feature: str | None = None
    #: Error codes the route answers beyond the generic ones (see :mod:`authgate.web.openapi`).
    errors: tuple[str, ...] = ()
    #: A browser posting here with ``?next=`` is redirected there (303) on success.
    redirects: bool = False


#: Text with something other than white space (what ``require_text`` checks), and no
#: NUL character (which the JSON parser refuses: no database stores it).
_TEXT = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def _str(description: str = "", **extra: Any) -> dict[str, Any]:
    """A string field: some text, no NUL (see ``_TEXT``)."""
    schema = {"type": "string", "minLength": 1, "pattern": _TEXT, **extra}
    return {**schema, **({"description": description} if description else {})}


#: Field schemas; the OpenAPI builder fills in the limits that depend on settings
#: (``x-authgate-password``: ``"current"`` or ``"new"``).
_EMAIL = _str(format="email", maxLength=254)
_IDENTIFIER = _str("Email address (any text up to 320 characters is looked up)", maxLength=320)
_PASSWORD = _str("The password", format="password", **{"x-authgate-password": "current"})
_NEW_PASSWORD = _str("The new password", format="password", **{"x-authgate-password": "new"})
_USERNAME = _str("3 to 64 letters, digits, '.', '_' or '-'", pattern=r"^\s*[\w.-]{3,64}\s*$")
_TOKEN = _str("The token from the emailed link", maxLength=4096)
_ID = _str(maxLength=256)
_BOOL = {"type": "boolean"}
_CODE = _str("A code: six digits from the app or the email, or a recovery code", maxLength=64)
_REFRESH = _str("The refresh token", maxLength=4096)
_SCOPES = {
    "type": ["array", "null"],
    "maxItems": 32,
    "description": "Scopes the key grants",
    "items": {"type": "string", "pattern": r"^[A-Za-z0-9:._\-/*]{1,64}$"},
}
_EXPIRES_IN = {
    "type": ["integer", "null"],
    "minimum": 60,
    "maximum": 10 * 366 * 24 * 3600,
    "description": "Seconds until the key expires; null: never",
}
_ALLOWED_IPS = {
    "type": ["array", "null"],
    "maxItems": 32,
    "description": "Addresses or networks (CIDR) the key works from; none: any",
    "items": {"type": "string", "minLength": 1, "maxLength": 64},
}


_CREDENTIAL = {
    "type": "object",
    "description": "What navigator.credentials.create() or .get() answered, as WebAuthn JSON "
    "(PublicKeyCredential.toJSON(): binary values in base64url)",
}
_STATE = _str("The state of the options answered (default: their cookie)", maxLength=4096)


def _success() -> ApiResponse:
    return ApiResponse.json({"success": True})


# -- handlers ---------------------------------------------------------------------
def _respond(call: Call, data: Any, default_next: str) -> ApiResponse:
    """JSON for API clients; for a browser form with ``?next=``, a redirect to a *safe* target."""
    request = call.request
    if request.wants_html and "next" in request.query:
        return ApiResponse.redirect(safe_next(request.query["next"], default=default_next))
    return ApiResponse.json(data)


def _signed_in(call: Call, result: Any) -> ApiResponse:
    settings = call.api.auth.settings
    response = _respond(call, result.to_dict(), settings.post_login_url)
    _set_cookie(call, response, result)
    return response


def _set_cookie(call: Call, response: ApiResponse, result: Any) -> None:
    """The session cookie of a sign-in (its session token; never an access token)."""
    if result.session_token:
        call.api.credentials.set_session_cookie(response, result.session_token, result.session)


def _sign_up(call: Call) -> ApiResponse:
    data = dict(call.data)
    email, password = data.pop("email", None), data.pop("password", None)
    username, invite = data.pop("username", None), data.pop("invite_token", None)
    result = signup.sign_up(
        call.api.auth.ctx, email, password, username=username, fields=data,
        invite_token=invite, client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _signed_in(call, result)


def _sign_in(by: signin.IdentifierKind) -> Handler:
    def handler(call: Call) -> ApiResponse:
        result = signin.sign_in(
            call.api.auth.ctx, call.data.get(by), call.data.get("password"),
            remember=call.data.get("remember", False), by=by,
            client=call.api.credentials.client(call.request),
            trusted_device=call.request.cookies.get(trusted_device_cookie_name(call.api.auth)),
        )  # fmt: skip
        return _signed_in(call, result)

    return handler


# -- second factor (SPEC §9) ----------------------------------------------------------
def trusted_device_cookie_name(auth: Any) -> str:
    """The name of the trusted-device cookie (``__Host-`` when cookies are secure)."""
    return ("__Host-" if auth.settings.secure_cookies else "") + "authgate_trusted_device"


def set_trusted_device_cookie(auth: Any, response: ApiResponse, value: str | None) -> None:
    """Attach a trusted-device cookie (HttpOnly, for ``trusted_device_lifetime``)."""
    if value:
        response.set_cookie(format_cookie(
            trusted_device_cookie_name(auth), value,
            max_age=auth.settings.trusted_device_lifetime, secure=auth.settings.secure_cookies,
        ))  # fmt: skip


def _member_or_challenge(call: Call) -> tuple[Any, str | None, Any]:
    """``(user, session token, challenge)``: the signed-in caller, or a ``challenge`` of a
    user who must set up a second factor (``setup_required``)."""
    challenge = call.data.get("challenge")
    if challenge is not None:
        return None, None, challenge
    principal = call.api.credentials.authenticate(
        call.request, ACCOUNT_MECHANISMS, with_session=True
    )
    if principal is None:
        raise Unauthorized()
    call.principal = principal
    return principal.user, principal.token, None


def _totp_setup(call: Call) -> ApiResponse:
    user, token, challenge = _member_or_challenge(call)
    data = two_factor.totp_setup(
        call.api.auth.ctx, user, token=token, challenge=challenge,
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return ApiResponse.json(data)


def _totp_enable(call: Call) -> ApiResponse:
    user, token, challenge = _member_or_challenge(call)
    codes, result = two_factor.totp_enable(
        call.api.auth.ctx, user, call.data.get("code"), token=token, challenge=challenge,
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    if result is None:
        return ApiResponse.json({"recovery_codes": codes})
    response = ApiResponse.json({**result.to_dict(), "recovery_codes": codes})
    _set_cookie(call, response, result)
    return response


def _email_codes_enable(call: Call) -> ApiResponse:
    codes = two_factor.enable_email_codes(
        call.api.auth.ctx, call.user, token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return ApiResponse.json({"recovery_codes": codes})


def _two_factor_disable(call: Call) -> ApiResponse:
    two_factor.totp_disable(
        call.api.auth.ctx, call.user, call.data.get("password"), token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _success()


def _recovery_codes(call: Call) -> ApiResponse:
    codes = two_factor.regenerate_recovery_codes(
        call.api.auth.ctx, call.user, token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return ApiResponse.json({"recovery_codes": codes})


def _two_factor_verify(call: Call) -> ApiResponse:
    result = two_factor.verify(
        call.api.auth.ctx, call.data.get("challenge"), call.data.get("code"),
        method=call.data.get("method", two_factor.TOTP),
        trust_device=call.data.get("trust_device", False), body=call.data,
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    response = _signed_in(call, result)
    set_trusted_device_cookie(call.api.auth, response, result.trusted_device)
    return response


def _two_factor_email(call: Call) -> ApiResponse:
    two_factor.send_email_code(
        call.api.auth.ctx, call.data.get("challenge"), call.api.credentials.client(call.request)
    )
    return _success()


def _two_factor_status(call: Call) -> ApiResponse:
    return ApiResponse.json(two_factor.status(call.api.auth.ctx, call.user))


def _forget_trusted_devices(call: Call) -> ApiResponse:
    two_factor.forget_trusted_devices(
        call.api.auth.ctx, call.user, call.api.credentials.client(call.request)
    )
    response = _success()
    response.set_cookie(format_cookie(
        trusted_device_cookie_name(call.api.auth), "", max_age=0,
        secure=call.api.auth.settings.secure_cookies,
    ))  # fmt: skip
    return response


def _sign_out(call: Call) -> ApiResponse:
    assert call.principal is not None
    if call.principal.token:
        sessions.sign_out(
            call.api.auth.ctx, call.principal.token, call.api.credentials.client(call.request)
        )
    response = _respond(call, {"success": True}, call.api.auth.settings.post_logout_url)
    call.api.credentials.clear_session_cookie(response)
    return response


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _session(call: Call) -> ApiResponse:
    """``{"user": ..., "session": {"id", "expires_at", "idle_expires_at"}}``.

    The session part tells an SPA when to refresh: ``expires_at`` is the hard
    end, ``idle_expires_at`` (or ``null``) the end if the session is not used
    again before it.
    """
    assert call.principal is not None
    data: dict[str, Any] = {"user": call.user.to_dict()}
    setup = two_factor.setup_status(call.api.auth.ctx, call.user)
    if setup is not None:  # the account must set up a second factor (grace period)
        data["two_factor_setup_required"] = True
        data["two_factor_setup_by"] = _iso(setup[1])
    session = call.principal.session
    if session is not None:
        idle = sessions.idle_deadline(call.api.auth.ctx, session)
        data["session"] = {
            "id": session.id,
            "expires_at": _iso(session.expires_at),
            "idle_expires_at": _iso(idle),
        }
    return ApiResponse.json(data)


def _change_password(call: Call) -> ApiResponse:
    assert call.principal is not None
    account.change_password(
        call.api.auth.ctx, call.user, call.data.get("current_password"),
        call.data.get("new_password"),
        revoke_other_sessions=call.data.get("revoke_other_sessions", True),
        current_token=call.principal.token, client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _success()


def _token(call: Call) -> str | None:
    """The caller's session token, whose freshness sensitive changes check."""
    assert call.principal is not None
    return call.principal.token


def _change_username(call: Call) -> ApiResponse:
    user = account.change_username(
        call.api.auth.ctx, call.user, call.data.get("new_username"), call.data.get("password"),
        client=call.api.credentials.client(call.request), token=_token(call),
    )  # fmt: skip
    return ApiResponse.json({"user": user.to_dict()})


def _list_sessions(call: Call) -> ApiResponse:
    assert call.principal is not None
    session = call.principal.session
    current = session.id if session is not None else call.principal.token
    entries = sessions.list_sessions(call.api.auth.ctx, call.user, current)
    return ApiResponse.json({"sessions": [e.to_dict() for e in entries]})


def _revoke_session(call: Call) -> ApiResponse:
    sessions.revoke_session(
        call.api.auth.ctx, call.user, call.data.get("session_id"),
        call.api.credentials.client(call.request),
    )  # fmt: skip
    return _success()


def _revoke_other_sessions(call: Call) -> ApiResponse:
    sessions.revoke_other_sessions(
        call.api.auth.ctx, call.user, _token(call), call.api.credentials.client(call.request)
    )
    return _success()


def _reauthenticate(call: Call) -> ApiResponse:
    principal = call.principal
    assert principal is not None
    # A cookie session gets a new token (its cookie and CSRF token come with the
    # answer); a bearer token stays the caller's (see flows/reauth.py).
    rotate = principal.mechanism == "session"
    client = call.api.credentials.client(call.request)
    passkey = call.data.get("credential") is not None and call.data.get("password") is None
    if passkey and call.api.auth.settings.passkeys:
        token = passkeys.reauthenticate_with_passkey(
            call.api.auth.ctx, principal.token, call.data.get("credential"),
            _state_of(call, "sign_in"), rotate=rotate, client=client,
        )  # fmt: skip
    else:
        token = reauth.reauthenticate(
            call.api.auth.ctx, principal.token, call.data.get("password"), rotate=rotate,
            client=client,
        )  # fmt: skip
    response = _success()
    if rotate:
        call.api.credentials.set_session_cookie(response, token, principal.session)
    return response


def _delete_user(call: Call) -> ApiResponse:
    account.delete_account(
        call.api.auth.ctx, call.user, call.data.get("password"), token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    response = _success()
    call.api.credentials.clear_session_cookie(response)
    return response


def _update_user(call: Call) -> ApiResponse:
    user = account.update_profile(
        call.api.auth.ctx, call.user, call.data, call.api.credentials.client(call.request)
    )
    return ApiResponse.json({"user": user.to_dict()})


#: ``GET /security-events``: events per page by default, and at most.
EVENTS_PAGE, EVENTS_MAX = 50, 100


def _security_events(call: Call) -> ApiResponse:
    query = call.request.query
    limit = EVENTS_PAGE
    if "limit" in query:
        text = query["limit"].strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= EVENTS_MAX:
            raise ValidationError(
                f"limit must be a whole number from 1 to {EVENTS_MAX}.", fields={"limit": "invalid"}
            )
        limit = int(text)
    before = None
    if "before" in query:
        before = _timestamp(query["before"], "before")
    # The signed-in user's own events, whatever else the query says.
    events = call.api.auth.audit.events(call.user, before=before, limit=limit)
    return ApiResponse.json({"events": [
        {"kind": e.kind, "at": e.at.isoformat(), "ip": e.ip, "user_agent": e.user_agent,
         "outcome": e.outcome}
        for e in events
    ]})  # fmt: skip


def _timestamp(text: str, field: str) -> dt.datetime:
    """An ISO 8601 time from a query string (UTC unless it says otherwise)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{field} must be an ISO 8601 time, e.g. 2026-12-01T12:00:00Z.",
            fields={field: "invalid"},
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


# -- email flows ----------------------------------------------------------------------
def _token_of(call: Call) -> Any:
    if call.request.method == "GET":
        return call.request.query.get("token")
    return call.data.get("token")


def _link_result(call: Call, result: Any) -> ApiResponse:
    """A redeemed link: JSON for API clients, a redirect (with the cookie) for link pages."""
    if call.from_form:
        response = ApiResponse.redirect(call.api.auth.settings.post_login_url)
        _set_cookie(call, response, result)
        return response
    return _signed_in(call, result)


def _link_page(
    title: str, button: str, *, feature: str | None = None, password: bool = False
) -> Callable[[Call], ApiResponse | None]:
    """The confirm page of an emailed link, for every GET that does not ask for JSON.

    ``None`` for the requests that redeem the link: POSTs, and GETs that ask
    for JSON by name (SPEC §5). A password page (reset) is always the page.
    """

    def page(call: Call) -> ApiResponse | None:
        request = call.request
        if request.method not in ("GET", "HEAD"):
            return None
        if request.method == "GET" and request.wants_json and not password:
            return None
        settings = call.api.auth.settings
        if feature is not None and not getattr(settings, feature):
            raise FeatureDisabled()
        action = call.api.prefix + request.path
        limits = (settings.password_min_length, settings.password_max_length) if password else None
        return link_page(request, action, title, button, secure=settings.secure_cookies,
                         cookie_name=call.api.credentials.flow_cookie_name,
                         password=limits)  # fmt: skip

    return page


_confirm_page = _link_page("Confirm your email address", "Confirm")
_magic_page = _link_page("Sign in", "Sign in", feature="passwordless")
_reset_page = _link_page(
    "Choose a new password", "Set password", feature="recoverable", password=True
)


def _send_verification(call: Call) -> ApiResponse:
    confirmation.send_confirmation(call.api.auth.ctx, call.data.get("email"))
    return _success()


def _verify_email(call: Call) -> ApiResponse:
    page = _confirm_page(call)
    if page is not None:
        return page
    result = confirmation.confirm_email(
        call.api.auth.ctx, _token_of(call), call.api.credentials.client(call.request)
    )
    return _link_result(call, result)


def _forgot_password(call: Call) -> ApiResponse:
    recovery.forgot_password(
        call.api.auth.ctx, call.data.get("email"), call.api.credentials.client(call.request)
    )
    return _success()


def _reset_password_page(call: Call) -> ApiResponse:
    page = _reset_page(call)
    assert page is not None  # a GET (or HEAD): always the page
    return page


def _reset_password(call: Call) -> ApiResponse:
    result = recovery.reset_password(
        call.api.auth.ctx, _token_of(call), call.data.get("new_password"),
        call.api.credentials.client(call.request),
    )  # fmt: skip
    if call.from_form:
        return _link_result(call, result)
    response = _success()
    _set_cookie(call, response, result)
    return response


def _change_email(call: Call) -> ApiResponse:
    email_change.change_email(
        call.api.auth.ctx, call.user, call.data.get("new_email"), call.data.get("password"),
        call.api.credentials.client(call.request), token=_token(call),
    )  # fmt: skip
    return _success()


def _send_magic_link(call: Call) -> ApiResponse:
    magic_link.send_login_link(
        call.api.auth.ctx, call.data.get("email"), call.api.credentials.client(call.request)
    )
    return _success()


def _verify_magic_link(call: Call) -> ApiResponse:
    page = _magic_page(call)
    if page is not None:
        return page
    result = magic_link.sign_in_with_link(
        call.api.auth.ctx, _token_of(call), call.api.credentials.client(call.request)
    )
    return _link_result(call, result)


def _invite(call: Call) -> ApiResponse:
    role = call.api.auth.settings.inviter_role
    if role is not None and not call.user.has_role(role):
        raise Forbidden()
    invitations.invite(
        call.api.auth.ctx, call.data.get("email"), invited_by=call.user,
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _success()


def _list_emails(call: Call) -> ApiResponse:
    return ApiResponse.json({"emails": emails.list_emails(call.api.auth.ctx, call.user)})


def _add_email(call: Call) -> ApiResponse:
    emails.add_email(
        call.api.auth.ctx, call.user, call.data.get("email"), call.data.get("password"),
        call.api.credentials.client(call.request), token=_token(call),
    )  # fmt: skip
    return _success()


def _remove_email(call: Call) -> ApiResponse:
    emails.remove_email(
        call.api.auth.ctx, call.user, call.data.get("email_id"),
        call.api.credentials.client(call.request), token=_token(call),
    )  # fmt: skip
    return _success()


def _make_primary(call: Call) -> ApiResponse:
    user = emails.make_primary(
        call.api.auth.ctx, call.user, call.data.get("email_id"), call.data.get("password"),
        call.api.credentials.client(call.request), token=_token(call),
    )  # fmt: skip
    return ApiResponse.json({"user": user.to_dict()})


# -- tokens for APIs (SPEC §10) ---------------------------------------------------------
def _auth101(call: Call) -> None:
    if not call.api.auth.settings.auth101_compat:
        raise FeatureDisabled()


def _auth101_refresh(call: Call) -> ApiResponse:
    _auth101(call)
    return _refresh(call)


def _refresh(call: Call) -> ApiResponse:
    result = refresh.refresh(
        call.api.auth.ctx, call.data.get("refresh_token"), call.api.credentials.client(call.request)
    )
    return ApiResponse.json(result.to_dict())


def _revoke_refresh(call: Call) -> ApiResponse:
    _auth101(call)
    refresh.revoke_refresh_token(
        call.api.auth.ctx, call.data.get("refresh_token"), call.api.credentials.client(call.request)
    )
    return _success()


def _jwks(call: Call) -> ApiResponse:
    """The public keys: public data, cached for 5 minutes (a new key is added before it signs)."""
    response = ApiResponse.json(call.api.auth.jwks())
    response.headers = [(k, v) for k, v in response.headers if k.lower() != "cache-control"]
    response.headers.append(("Cache-Control", "public, max-age=300"))
    return response


def _create_api_key(call: Call) -> ApiResponse:
    record, key = api_keys.create_api_key(
        call.api.auth.ctx, call.user, call.data.get("name"), scopes=call.data.get("scopes"),
        expires_in=call.data.get("expires_in"), allowed_ips=call.data.get("allowed_ips"),
        token=_token(call), client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return ApiResponse.json({"api_key": record.to_dict(), "key": key})


def _list_api_keys(call: Call) -> ApiResponse:
    keys = api_keys.list_api_keys(call.api.auth.ctx, call.user)
    return ApiResponse.json({"api_keys": [k.to_dict() for k in keys]})


def _revoke_api_key(call: Call) -> ApiResponse:
    api_keys.revoke_api_key(
        call.api.auth.ctx, call.user, call.data.get("id"),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _success()


# -- passkeys (SPEC §9) -----------------------------------------------------------------
#: The cookies that keep a ceremony's state for browsers (the JSON answer carries it too).
PASSKEY_STATE_COOKIES = {"register": "authgate_passkey_register",
                         "sign_in": "authgate_passkey_sign_in"}  # fmt: skip


def _state_cookie(call: Call, kind: str) -> str:
    secure = call.api.auth.settings.secure_cookies
    return ("__Host-" if secure else "") + PASSKEY_STATE_COOKIES[kind]


def _with_state(call: Call, options: passkeys.Options, kind: str) -> ApiResponse:
    """The options as JSON, their state also in an HttpOnly cookie that lives as long."""
    response = ApiResponse.json(options.to_dict())
    response.set_cookie(format_cookie(
        _state_cookie(call, kind), options.state, max_age=passkeys.CHALLENGE_LIFETIME,
        secure=call.api.auth.settings.secure_cookies, httponly=True, samesite="Strict",
    ))  # fmt: skip
    return response


def _state_of(call: Call, kind: str) -> Any:
    """The ceremony's state: the body's ``state``, else the cookie the options set."""
    state = call.data.get("state")
    return state if state is not None else call.request.cookies.get(_state_cookie(call, kind))


def _forget_state(call: Call, response: ApiResponse, kind: str) -> None:
    secure = call.api.auth.settings.secure_cookies
    response.set_cookie(format_cookie(_state_cookie(call, kind), "", max_age=0, secure=secure,
                                      httponly=True, samesite="Strict"))  # fmt: skip


def _passkey_register_options(call: Call) -> ApiResponse:
    options = passkeys.registration_options(
        call.api.auth.ctx, call.user, token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _with_state(call, options, "register")


def _passkey_register(call: Call) -> ApiResponse:
    record = passkeys.register_passkey(
        call.api.auth.ctx, call.user, call.data.get("credential"), _state_of(call, "register"),
        name=call.data.get("name"), token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    response = ApiResponse.json({"passkey": record.to_dict()})
    _forget_state(call, response, "register")
    return response


def _passkey_sign_in_options(call: Call) -> ApiResponse:
    options = passkeys.sign_in_options(call.api.auth.ctx, call.data.get("email"))
    return _with_state(call, options, "sign_in")


def _passkey_sign_in(call: Call) -> ApiResponse:
    result = passkeys.sign_in_with_passkey(
        call.api.auth.ctx, call.data.get("credential"), _state_of(call, "sign_in"),
        remember=call.data.get("remember", False),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    response = _signed_in(call, result)
    _forget_state(call, response, "sign_in")
    return response


def _list_passkeys(call: Call) -> ApiResponse:
    records = passkeys.list_passkeys(call.api.auth.ctx, call.user)
    return ApiResponse.json({"passkeys": [r.to_dict() for r in records]})


def _rename_passkey(call: Call) -> ApiResponse:
    record = passkeys.rename_passkey(
        call.api.auth.ctx, call.user, call.data.get("id"), call.data.get("name"),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return ApiResponse.json({"passkey": record.to_dict()})


def _delete_passkey(call: Call) -> ApiResponse:
    passkeys.delete_passkey(
        call.api.auth.ctx, call.user, call.data.get("id"), token=_token(call),
        client=call.api.credentials.client(call.request),
    )  # fmt: skip
    return _success()


def _openapi(call: Call) -> ApiResponse:
    return ApiResponse.json(call.api.openapi())


#: A sensitive change: a fresh session, then (mostly) the password.
_FRESH = ("REAUTH_REQUIRED", "INVALID_CREDENTIALS", "RATE_LIMITED")

ROUTES: tuple[Route, ...] = (
    Route(
        "signUpEmail", "POST", "/sign-up/email", "Create an account with email and password",
        _sign_up,
        fields={"email": (_EMAIL, True), "password": (_NEW_PASSWORD, True),
                "username": (_USERNAME, False),
                "invite_token": (_str("An invitation; required when invite-only",
                                      maxLength=4096), False)},
        open_body=True, response="AuthResult", feature="registerable", redirects=True,
        errors=("USER_EXISTS", "INVALID_TOKEN", "FEATURE_DISABLED"),
    ),
    Route(
        "signInEmail", "POST", "/sign-in/email", "Sign in with email and password",
        _sign_in("email"),
        fields={"email": (_IDENTIFIER, True), "password": (_PASSWORD, True),
                "remember": (_BOOL, False)},
        response="AuthResult", redirects=True,
        errors=("INVALID_CREDENTIALS", "ACCOUNT_DISABLED", "EMAIL_NOT_CONFIRMED",
                "RATE_LIMITED", "TWO_FACTOR_REQUIRED"),
    ),
    Route(
        "signInUsername", "POST", "/sign-in/username", "Sign in with username and password",
        _sign_in("username"),
        fields={"username": (_str(maxLength=320), True), "password": (_PASSWORD, True),
                "remember": (_BOOL, False)},
        response="AuthResult", feature="usernames", redirects=True,
        errors=("INVALID_CREDENTIALS", "ACCOUNT_DISABLED", "EMAIL_NOT_CONFIRMED",
                "RATE_LIMITED", "FEATURE_DISABLED", "TWO_FACTOR_REQUIRED"),
    ),
    Route("signOut", "POST", "/sign-out", "Sign out (revoke this session)", _sign_out,
          auth=True, redirects=True),
    Route("getSession", "GET", "/session", "The signed-in user and when the session ends",
          _session, auth=True, response="SessionResult"),
    Route(
        "changePassword", "POST", "/change-password", "Change the password", _change_password,
        fields={"current_password": (_str("The current password; not asked (and the session "
                                          "must be fresh) when signed in by an emailed link or "
                                          "without a password", format="password",
                                          maxLength=1024), False),
                "new_password": (_NEW_PASSWORD, True), "revoke_other_sessions": (_BOOL, False)},
        auth=True, feature="changeable",
        errors=(*_FRESH, "FEATURE_DISABLED"),
    ),
    Route(
        "changeUsername", "POST", "/change-username", "Change the username", _change_username,
        fields={"new_username": (_USERNAME, True), "password": (_PASSWORD, True)},
        auth=True, feature="usernames", response="UserResult",
        errors=(*_FRESH, "USER_EXISTS", "FEATURE_DISABLED"),
    ),
    Route("listSessions", "GET", "/sessions", "The user's active sessions", _list_sessions,
          auth=True, response="SessionList"),
    Route("revokeSession", "POST", "/revoke-session",
          "Revoke one of the user's sessions (another id is a VALIDATION_ERROR)",
          _revoke_session, fields={"session_id": (_ID, True)}, auth=True),
    Route("revokeOtherSessions", "POST", "/revoke-other-sessions",
          "Revoke every session but this one (fresh session)", _revoke_other_sessions,
          auth=True, errors=("REAUTH_REQUIRED",)),
    Route("reauthenticate", "POST", "/reauthenticate",
          "Prove the password of the signed-in user again (or, with passkeys, one of their "
          "passkeys: credential and state): the session is fresh again",
          _reauthenticate,
          fields={"password": (_PASSWORD, False), "credential": (_CREDENTIAL, False),
                  "state": (_STATE, False)},
          auth=True, errors=("INVALID_CREDENTIALS", "RATE_LIMITED", "INVALID_TOKEN")),
    Route("deleteUser", "POST", "/delete-user",
          "Delete the account (fresh session; the password unless the account has none)",
          _delete_user, fields={"password": (_PASSWORD, False)}, auth=True, errors=_FRESH),
    Route("updateUser", "POST", "/update-user",
          "Change the user's own profile fields (those the app allows: profile_fields)",
          _update_user, open_body=True, auth=True, response="UserResult",
          errors=("VALIDATION_ERROR",)),
    Route("securityEvents", "GET", "/security-events",
          "The signed-in user's own security events, newest first", _security_events,
          query=("limit", "before"), optional_query=("limit", "before"), auth=True,
          response="SecurityEventList", errors=("VALIDATION_ERROR", "FEATURE_DISABLED")),
    Route("openapi", "GET", "/openapi.json", "This OpenAPI document", _openapi,
          response="OpenAPI"),
    Route("sendVerificationEmail", "POST", "/send-verification-email",
          "Resend the confirmation link (same answer for unknown addresses)", _send_verification,
          fields={"email": (_EMAIL, True)}, feature="confirmable",
          errors=("FEATURE_DISABLED",)),
    Route("verifyEmailLink", "GET", "/verify-email",
          "Confirm an address from the emailed link; only a client asking for JSON "
          "(Accept: application/json) uses it, any other gets the confirm page",
          _verify_email, query=("token",), response="AuthResult",
          errors=("VALIDATION_ERROR", "INVALID_TOKEN", "ACCOUNT_DISABLED")),
    Route("verifyEmail", "POST", "/verify-email", "Confirm an address with its token",
          _verify_email, fields={"token": (_TOKEN, True)}, form=True, response="AuthResult",
          redirects=True, errors=("INVALID_TOKEN", "ACCOUNT_DISABLED")),
    Route("forgotPassword", "POST", "/forgot-password",
          "Email a reset link (same answer for unknown addresses)", _forgot_password,
          fields={"email": (_EMAIL, True)}, feature="recoverable",
          errors=("FEATURE_DISABLED",)),
    Route("resetPasswordPage", "GET", "/reset-password",
          "The page an emailed reset link opens (it uses nothing: the page posts the token)",
          _reset_password_page, query=("token",), response="Html", feature="recoverable"),
    Route("resetPassword", "POST", "/reset-password", "Set a new password with a reset token",
          _reset_password,
          fields={"token": (_TOKEN, True), "new_password": (_NEW_PASSWORD, True)},
          form=True, feature="recoverable", redirects=True,
          errors=("INVALID_TOKEN", "ACCOUNT_DISABLED", "FEATURE_DISABLED")),
    Route("changeEmail", "POST", "/change-email",
          "Ask to change the address (confirmed before it takes effect)", _change_email,
          fields={"new_email": (_EMAIL, True), "password": (_PASSWORD, True)},
          auth=True, feature="change_email",
          errors=(*_FRESH, "FEATURE_DISABLED")),
    Route("sendMagicLink", "POST", "/sign-in/magic-link",
          "Email a sign-in link (same answer for unknown addresses)", _send_magic_link,
          fields={"email": (_EMAIL, True)}, feature="passwordless",
          errors=("FEATURE_DISABLED",)),
    Route("verifyMagicLinkGet", "GET", "/magic-link/verify",
          "Sign in with the emailed link; only a client asking for JSON "
          "(Accept: application/json) uses it, any other gets the confirm page",
          _verify_magic_link, query=("token",), response="AuthResult", feature="passwordless",
          errors=("VALIDATION_ERROR", "INVALID_TOKEN", "ACCOUNT_DISABLED", "FEATURE_DISABLED",
                  "TWO_FACTOR_REQUIRED")),
    Route("verifyMagicLink", "POST", "/magic-link/verify", "Sign in with a link's token",
          _verify_magic_link, fields={"token": (_TOKEN, True)}, form=True,
          response="AuthResult", feature="passwordless", redirects=True,
          errors=("INVALID_TOKEN", "ACCOUNT_DISABLED", "FEATURE_DISABLED",
                  "TWO_FACTOR_REQUIRED")),
    Route("listEmails", "GET", "/emails", "The user's email addresses", _list_emails,
          auth=True, feature="multiple_emails", response="EmailList",
          errors=("FEATURE_DISABLED",)),
    Route("addEmail", "POST", "/emails/add", "Add an address (confirmed by a mailed link)",
          _add_email, fields={"email": (_EMAIL, True), "password": (_PASSWORD, True)},
          auth=True, feature="multiple_emails",
          errors=(*_FRESH, "FEATURE_DISABLED")),
    Route("removeEmail", "POST", "/emails/remove",
          "Remove an extra address (fresh session; an id not of this user is a VALIDATION_ERROR)",
          _remove_email, fields={"email_id": (_ID, True)}, auth=True, feature="multiple_emails",
          errors=("REAUTH_REQUIRED", "FEATURE_DISABLED")),
    Route("makePrimaryEmail", "POST", "/emails/make-primary",
          "Make a confirmed address the primary one", _make_primary,
          fields={"email_id": (_ID, True), "password": (_PASSWORD, True)}, auth=True,
          feature="multiple_emails", response="UserResult",
          errors=(*_FRESH, "USER_EXISTS", "FEATURE_DISABLED")),
    Route("refreshToken", "POST", "/token/refresh",
          "A new access and refresh token for a refresh token (which is retired; presenting "
          "it again ends its whole family)", _refresh,
          fields={"refresh_token": (_REFRESH, True)}, response="AuthResult",
          feature="jwt_enabled",
          errors=("INVALID_TOKEN", "USER_NOT_FOUND", "ACCOUNT_DISABLED", "FEATURE_DISABLED")),
    Route("jwks", "GET", "/jwks.json",
          "The public keys of the access tokens (a JWK set; empty for HS256)", _jwks,
          response="JWKS", feature="jwt_enabled", errors=("FEATURE_DISABLED",)),
    Route("auth101Refresh", "POST", "/refresh",
          "auth101's name for /token/refresh", _auth101_refresh,
          fields={"refresh_token": (_REFRESH, True)}, response="AuthResult",
          feature="auth101_compat",
          errors=("INVALID_TOKEN", "USER_NOT_FOUND", "ACCOUNT_DISABLED", "FEATURE_DISABLED")),
    Route("auth101Revoke", "POST", "/revoke",
          "End the session of a refresh token (auth101's sign-out)", _revoke_refresh,
          fields={"refresh_token": (_REFRESH, True)}, feature="auth101_compat",
          errors=("INVALID_TOKEN", "FEATURE_DISABLED")),
    Route("createApiKey", "POST", "/api-keys",
          "Make a personal API key (fresh session); the key is in this answer only",
          _create_api_key,
          fields={"name": (_str("What the key is for", maxLength=100), True),
                  "scopes": (_SCOPES, False), "expires_in": (_EXPIRES_IN, False),
                  "allowed_ips": (_ALLOWED_IPS, False)},
          auth=True, response="ApiKeyCreated", feature="api_keys",
          errors=("REAUTH_REQUIRED", "FEATURE_DISABLED")),
    Route("listApiKeys", "GET", "/api-keys", "The signed-in user's API keys", _list_api_keys,
          auth=True, response="ApiKeyList", feature="api_keys", errors=("FEATURE_DISABLED",)),
    Route("revokeApiKey", "POST", "/api-keys/revoke",
          "Revoke one of the user's API keys (another id is NOT_FOUND)", _revoke_api_key,
          fields={"id": (_str(maxLength=64), True)}, auth=True, feature="api_keys",
          errors=("NOT_FOUND", "FEATURE_DISABLED")),
    Route("passkeyRegisterOptions", "POST", "/passkey/register/options",
          "WebAuthn creation options to add a passkey (fresh session); the state comes back "
          "with the answer (or stays in its cookie)", _passkey_register_options, auth=True,
          response="PasskeyOptions", feature="passkeys",
          errors=("REAUTH_REQUIRED", "FEATURE_DISABLED")),
    Route("passkeyRegister", "POST", "/passkey/register",
          "Add a passkey: the browser's answer to the creation options (fresh session)",
          _passkey_register,
          fields={"credential": (_CREDENTIAL, True),
                  "name": (_str("A name for the passkey", maxLength=100), False),
                  "state": (_STATE, False)},
          auth=True, response="PasskeyResult", feature="passkeys",
          errors=("REAUTH_REQUIRED", "INVALID_TOKEN", "FEATURE_DISABLED")),
    Route("passkeySignInOptions", "POST", "/passkey/sign-in/options",
          "WebAuthn request options: the browser's passkeys for this site, or with an email "
          "that account's (the same shape for any address)", _passkey_sign_in_options,
          fields={"email": (_IDENTIFIER, False)}, response="PasskeyOptions",
          feature="passkeys", errors=("FEATURE_DISABLED",)),
    Route("passkeySignIn", "POST", "/passkey/sign-in",
          "Sign in with a passkey: the browser's answer to the request options",
          _passkey_sign_in,
          fields={"credential": (_CREDENTIAL, True), "state": (_STATE, False),
                  "remember": (_BOOL, False)},
          response="AuthResult", feature="passkeys", redirects=True,
          errors=("INVALID_TOKEN", "INVALID_CREDENTIALS", "ACCOUNT_DISABLED",
                  "FEATURE_DISABLED")),
    Route("listPasskeys", "GET", "/passkeys", "The signed-in user's passkeys", _list_passkeys,
          auth=True, response="PasskeyList", feature="passkeys", errors=("FEATURE_DISABLED",)),
    Route("renamePasskey", "POST", "/passkey/rename",
          "Rename one of the user's passkeys (another id is NOT_FOUND)", _rename_passkey,
          fields={"id": (_str(maxLength=64), True),
                  "name": (_str("The new name", maxLength=100), True)},
          auth=True, response="PasskeyResult", feature="passkeys",
          errors=("NOT_FOUND", "FEATURE_DISABLED")),
    Route("deletePasskey", "POST", "/passkey/delete",
          "Remove one of the user's passkeys (fresh session; another id is NOT_FOUND)",
          _delete_passkey, fields={"id": (_str(maxLength=64), True)}, auth=True,
          feature="passkeys", errors=("NOT_FOUND", "REAUTH_REQUIRED", "FEATURE_DISABLED")),
    Route("totpSetup", "POST", "/two-factor/totp/setup",
          "Start setting up an authenticator app (fresh session, or the challenge of an "
          "account that must set one up): the secret, its otpauth:// URI and a QR code (SVG); "
          "not active until /two-factor/totp/enable", _totp_setup,
          fields={"challenge": (_str("A setup_required challenge, instead of a session",
                                     maxLength=4096), False)},
          response="TotpSetup", feature="two_factor",
          errors=("REAUTH_REQUIRED", "INVALID_TOKEN", "UNAUTHORIZED", "USER_NOT_FOUND",
                  "CSRF_FAILED", "FEATURE_DISABLED")),
    Route("totpEnable", "POST", "/two-factor/totp/enable",
          "Activate the authenticator app with its first code; answers ten recovery codes "
          "(and, with a challenge, the sign-in it completes)", _totp_enable,
          fields={"code": (_CODE, True),
                  "challenge": (_str("A setup_required challenge, instead of a session",
                                     maxLength=4096), False)},
          response="RecoveryCodes", feature="two_factor",
          errors=("INVALID_CODE", "REAUTH_REQUIRED", "INVALID_TOKEN", "RATE_LIMITED",
                  "UNAUTHORIZED", "USER_NOT_FOUND", "CSRF_FAILED", "FEATURE_DISABLED")),
    Route("emailCodesEnable", "POST", "/two-factor/email/enable",
          "Turn on codes sent by email as the user's second factor, for users without an "
          "authenticator app (fresh session); answers ten recovery codes when the user had "
          "none, else an empty list", _email_codes_enable, auth=True,
          response="RecoveryCodes", feature="two_factor",
          errors=("REAUTH_REQUIRED", "EMAIL_NOT_CONFIRMED", "FEATURE_DISABLED")),
    Route("twoFactorDisable", "POST", "/two-factor/disable",
          "Turn every second factor off: the authenticator app and emailed codes (fresh "
          "session and the password)", _two_factor_disable,
          fields={"password": (_PASSWORD, True)}, auth=True, feature="two_factor",
          errors=(*_FRESH, "FEATURE_DISABLED")),
    Route("recoveryCodes", "POST", "/two-factor/recovery-codes",
          "A new set of ten recovery codes (fresh session); the old set is void",
          _recovery_codes, auth=True, response="RecoveryCodes", feature="two_factor",
          errors=("REAUTH_REQUIRED", "FEATURE_DISABLED")),
    Route("twoFactorVerify", "POST", "/two-factor/verify",
          "Finish a sign-in with the second factor: a new session", _two_factor_verify,
          fields={"challenge": (_str("The challenge of TWO_FACTOR_REQUIRED", maxLength=4096),
                                True),
                  "code": (_CODE, False),
                  "method": (_str("totp (default), recovery_code, email, or a registered "
                                  "method such as passkey", maxLength=32), False),
                  "trust_device": (_BOOL, False),
                  "credential": (_CREDENTIAL, False), "state": (_STATE, False)},
          open_body=True, response="AuthResult", feature="two_factor", redirects=True,
          errors=("INVALID_CODE", "INVALID_TOKEN", "RATE_LIMITED", "ACCOUNT_DISABLED",
                  "FEATURE_DISABLED")),
    Route("twoFactorEmailSend", "POST", "/two-factor/email/send",
          "Email a six-digit code that completes the challenge", _two_factor_email,
          fields={"challenge": (_str("The challenge of TWO_FACTOR_REQUIRED", maxLength=4096),
                                True)},
          feature="two_factor", errors=("INVALID_TOKEN", "RATE_LIMITED", "FEATURE_DISABLED")),
    Route("twoFactorStatus", "GET", "/two-factor",
          "The signed-in user's second factors", _two_factor_status, auth=True,
          response="TwoFactorStatus", feature="two_factor", errors=("FEATURE_DISABLED",)),
    Route("forgetTrustedDevices", "POST", "/two-factor/trusted-devices/forget",
          "Forget every trusted device: each asks for the second factor again",
          _forget_trusted_devices, auth=True, feature="two_factor",
          errors=("FEATURE_DISABLED",)),
    Route("invite", "POST", "/invite", "Invite someone to sign up", _invite,
          fields={"email": (_EMAIL, True)}, auth=True,
          errors=("FORBIDDEN", "USER_EXISTS")),
)  # fmt: skip


#: The realm of every ``WWW-Authenticate`` challenge.
REALM = "authgate"


def www_authenticate(error: AuthError, *, basic: bool = False) -> str:
    """The ``WWW-Authenticate`` value for a 401 (RFC 9110 §11.6.1, RFC 6750 §3).

    ``Bearer`` always; ``Basic`` only where the route accepts HTTP Basic
    (never on the JSON API, where a browser would pop up a login dialog).
    A bad bearer token says ``error="invalid_token"``.
    """
    bearer = f'Bearer realm="{REALM}"'
    if isinstance(error, InvalidToken | UserNotFound):
        bearer += ', error="invalid_token"'
    if basic:
        return f'{bearer}, Basic realm="{REALM}", charset="UTF-8"'
    return bearer


def one_prefix(prefix: str | None, url_prefix: str | None) -> str | None:
    """The mount point from ``prefix=`` or its older name ``url_prefix=`` (not both, differing).

    Raises:
        TypeError: both are given and disagree.
    """
    if prefix is not None and url_prefix is not None and prefix != url_prefix:
        raise TypeError(f"give prefix= or url_prefix= (the same thing), not both: "
                        f"{prefix!r} and {url_prefix!r}")  # fmt: skip
    return prefix if prefix is not None else url_prefix


class AuthAPI:
    """The JSON API of one :class:`~authgate.Auth`, ready to be mounted at ``prefix``."""

    def __init__(self, auth: Auth, prefix: str | None = None) -> None:
        self.auth = auth
        self.prefix = (auth.settings.url_prefix if prefix is None else prefix).rstrip("/")
        # Emailed links must point where the API is actually served.
        auth.ctx.url_prefix = self.prefix
        # Being served is the set-up moment: a production app without a mailer
        # would lose every confirmation and reset (the integration applied its
        # send_email before getting here).
        auth.mail.warn_if_console()
        self.credentials = Credentials(auth)
        self.routes: tuple[Route, ...] = ROUTES
        self._by_path: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            self._by_path.setdefault(route.path, {})[route.method] = route
        #: The ``Allow`` header of each path: its methods, HEAD where GET is served, OPTIONS.
        self._allow: dict[str, tuple[str, ...]] = {
            path: allowed_methods(methods) for path, methods in self._by_path.items()
        }

    def enabled(self, route: Route) -> bool:
        """Whether the route's feature is switched on."""
        return route.feature is None or bool(getattr(self.auth.settings, route.feature))

    def allowed(self, path: str) -> tuple[str, ...]:
        """The methods served at ``path`` (below the prefix); empty for an unknown path."""
        return self._allow.get(path.rstrip("/") or "/", ())

    def match(self, method: str, path: str) -> Route | bool | None:
        """The route for ``method path``; ``False`` when the path exists with other methods.

        ``HEAD`` matches the ``GET`` route of the path.
        """
        methods = self._by_path.get(path.rstrip("/") or "/")
        if methods is None:
            return None
        method = method.upper()
        return methods.get("GET" if method == "HEAD" else method, False)

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Serve ``request`` (path relative to the prefix), whatever its path and method.

        An unknown path is a JSON 404 ``NOT_FOUND``; a known path with another
        method a 405 ``METHOD_NOT_ALLOWED`` with a true ``Allow``; ``OPTIONS``
        a 204 with that ``Allow`` (an app's CORS layer adds its headers to it);
        ``HEAD`` the answer to ``GET`` (the integration or the server drops the
        body).
        """
        route = self.match(request.method, request.path)
        if isinstance(route, Route):
            return self.dispatch(route, request)
        with use_locale(self.locale(request)):
            return self._not_served(request, route)

    def _not_served(self, request: ApiRequest, route: bool | None) -> ApiResponse:
        if route is None:
            return self.error(NotFound())
        allowed = self.allowed(request.path)
        if request.method.upper() == "OPTIONS":
            return ApiResponse(status=204, headers=[("Allow", ", ".join(allowed))])
        return self.error(MethodNotAllowed(allowed=allowed))

    def locale(self, request: ApiRequest) -> str:
        """The language of the answer and of any email sent meanwhile (:mod:`authgate.i18n`)."""
        settings = self.auth.settings
        return choose_locale(request, settings.default_locale, settings.locale_selector)

    def dispatch(self, route: Route, request: ApiRequest) -> ApiResponse:
        """Run one route: authenticate, parse, call the flow, render any error.

        Error messages, and the emails the flow sends, are in the request's
        language (:meth:`locale`).
        """
        with use_locale(self.locale(request)):
            return self._dispatch(route, request)

    def _dispatch(self, route: Route, request: ApiRequest) -> ApiResponse:
        try:
            principal = None
            if route.auth:
                principal = self.credentials.authenticate(
                    request, ACCOUNT_MECHANISMS, with_session=True
                )
                if principal is None:
                    raise Unauthorized()
            takes_body = bool(route.fields or route.open_body or route.form)
            if takes_body and request.body_too_large:
                raise PayloadTooLarge()  # refused unparsed
            from_form = route.form and request.is_form
            if from_form:
                data: dict[str, Any] = dict(request.form())
                check_form_nonce(request, data, self.credentials.flow_cookie_name)
                data.pop("nonce", None)
            else:
                data = request.json() if takes_body else {}
            if not route.open_body:
                unknown = {k: "unknown_field" for k in data if k not in route.fields}
                if unknown:
                    raise ValidationError(fields=unknown)
            return route.handler(Call(self, request, principal, data, from_form))
        except AuthError as exc:
            return self.error(exc)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            logger.exception("unhandled error in %s (ref %s)", route.name, ref)
            return self.error(InternalError(ref))

    @staticmethod
    def error(exc: AuthError, *, basic: bool = False) -> ApiResponse:
        """The JSON response for an :class:`AuthError`.

        A 401 carries ``WWW-Authenticate`` (with ``Basic`` when ``basic``: the
        route accepts HTTP Basic). The message is in the current language
        (:func:`~authgate.i18n.use_locale`).
        """
        body = exc.to_dict()
        if current_locale() != DEFAULT_LOCALE:
            body["error"]["message"] = localized_message(exc)
        response = ApiResponse.json(body, exc.status, exc.headers().items())
        if exc.status == 401:
            response.headers.append(("WWW-Authenticate", www_authenticate(exc, basic=basic)))
        return response

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the enabled routes, paths as served."""
        from authgate.web.openapi import build_openapi

        return build_openapi(self)


def allowed_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """The ``Allow`` list of a path served with ``methods``: plus HEAD for GET, and OPTIONS."""
    allowed = set(methods) | {"OPTIONS"}
    if "GET" in allowed:
        allowed.add("HEAD")
    return tuple(sorted(allowed))
