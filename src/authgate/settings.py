"""Settings: one frozen, typed object, validated once at construction.

``Auth(secret, **settings)`` builds a :class:`Settings`; integrations build it
from ``AUTHGATE_<NAME>`` keys with :meth:`Settings.from_mapping`. An unknown
keyword is a :class:`TypeError` naming the closest valid setting, and an
invalid value is a :class:`ValueError` that says what to do instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from authgate.i18n import LOCALES, normalize_locale

__all__ = ["InsecureSettingWarning", "Settings", "closest_name", "webauthn_relying_party"]

MINUTE = 60
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
HOUR = 60 * MINUTE
DAY = 24 * HOUR

#: A password validator gets the (normalised) password and the user's
#: identifiers and returns ``None`` when the password is acceptable or a reason
#: string (``"too_common"``, ``"invalid"``...) when it is not.
PasswordValidator = Callable[[str, Sequence[str]], str | None]


class InsecureSettingWarning(UserWarning):
    """A setting works but is unsafe for production (e.g. a short secret)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every authgate setting, with its safe default.

    Lifetimes are in seconds. Feature switches follow SPEC §3.
    """

    #: Signing secret for email-link tokens and CSRF. A string, or a list of
    #: strings newest first: older ones still verify, so secrets rotate
    #: without signing everyone out. Use 32 bytes or more.
    secret: str | tuple[str, ...]
    #: ``None`` keeps everything in memory (tests, demos); otherwise an
    #: SQLAlchemy URL such as ``sqlite:///auth.db`` or ``postgresql+psycopg://...``.
    database_url: str | None = None
    #: Development mode: session cookies are not ``Secure``.
    debug: bool = False

    # -- features -----------------------------------------------------------
    #: Users may sign themselves up.
    registerable: bool = True
    #: New users must confirm their email address.
    confirmable: bool = False
    #: With ``confirmable``, unconfirmed users may still sign in.
    login_without_confirmation: bool = False
    #: Forgot / reset password by email.
    recoverable: bool = True
    #: Signed-in users may change their password.
    changeable: bool = True
    #: Signed-in users may change their email (confirmed before it takes effect).
    change_email: bool = True
    #: Every user has a unique username and may sign in with it or the email.
    usernames: bool = False
    #: Users may hold several email addresses.
    multiple_emails: bool = False
    #: Sign-up only through an invitation.
    invite_only: bool = False
    #: Sign in by a link sent by email.
    passwordless: bool = False
    #: Record sign-in times, IPs and counts on the user.
    trackable: bool = True
    #: Second factor (SPEC §9): TOTP authenticator apps with recovery codes, and
    #: one-time codes by email (``two_factor_methods``). A user who enrolled
    #: gets ``TWO_FACTOR_REQUIRED`` after a right password (or an emailed sign-in
    #: link) and no session until ``POST /two-factor/verify`` completes.
    #: Needs ``pip install "authgate[mfa]"``.
    two_factor: bool = False
    #: WebAuthn passkeys (``pip install "authgate[mfa]"``): users register
    #: passkeys on their account, sign in with one instead of a password
    #: (discoverable credentials, offered by the browser on the login page), and
    #: may use one as a second factor. Needs a relying-party id and origin
    #: (``webauthn_rp_id`` / ``webauthn_origins``, or ``base_url``) outside debug.
    passkeys: bool = False

    # -- second factor (two_factor) ----------------------------------------
    #: Every user must use a second factor (after ``two_factor_grace_period``).
    two_factor_required: bool = False
    #: Users holding any of these roles must use a second factor (after
    #: ``two_factor_grace_period``).
    two_factor_required_roles: tuple[str, ...] = ()
    #: Seconds a user who must use a second factor but has none may still sign
    #: in with the password alone, counted from the first such sign-in; their
    #: session then says ``two_factor_setup_required`` and the pages send them
    #: to the set-up page. After it, the password leads to ``TWO_FACTOR_REQUIRED``
    #: with ``setup_required``: a session comes only with an emailed code (when
    #: ``email`` is a method) or once an authenticator app is set up through the
    #: challenge. 0: no grace at all.
    two_factor_grace_period: int = 7 * DAY
    #: The second factors offered besides recovery codes: ``totp`` (an
    #: authenticator app) and ``email`` (a six-digit code mailed at sign-in;
    #: weaker, AAL1: the mailbox is often reached with the same password).
    two_factor_methods: tuple[str, ...] = ("totp", "email")
    #: The issuer an authenticator app shows next to the account; ``None`` is ``site_name``.
    totp_issuer: str | None = None
    #: TOTP steps (of 30 s) accepted before and after the server's current one.
    totp_skew: int = 1
    #: Seconds a browser stays trusted after "trust this device" at the second
    #: step (a signed cookie bound to the user, their security stamp and their
    #: factors): a password sign-in from it skips the code. 0: never offered.
    trusted_device_lifetime: int = 30 * DAY
    #: Seconds the second step of a sign-in may take (the challenge and any
    #: emailed code expire then). At most 600.
    two_factor_challenge_within: int = 5 * MINUTE
    #: Wrong codes for one account (whatever the client address) within
    #: ``sign_in_failure_window`` before ``RATE_LIMITED``; asking for a new
    #: emailed code does not reset the count, a right code does.
    two_factor_max_failures: int = 5

    # -- lifetimes (seconds) ------------------------------------------------
    #: Absolute lifetime of a session: valid strictly before ``created + lifetime``,
    #: expired from that instant on.
    session_lifetime: int = 7 * DAY
    #: A session unused for this long expires (``None``: never idle-expires):
    #: once its last *recorded* activity is this many seconds old, it has expired.
    #: Activity is recorded at most every ``session_idle_timeout / 20`` seconds
    #: (5 minutes at most), so a session may expire up to that much earlier than
    #: its last request plus this. Remember-me sessions are exempt.
    session_idle_timeout: int | None = DAY
    #: Absolute lifetime of a remember-me session.
    remember_lifetime: int = 30 * DAY
    #: Seconds a session the store confirmed is answered from this process's
    #: memory (0: every request asks the store). Changes made through authgate
    #: in this process, by any ``Auth`` over the same database (sign-out,
    #: revocation, password or role changes, deactivation...), take effect at
    #: once whatever the value. Changes made through authgate in other
    #: processes take effect at once too with ``redis_url`` (the change returns
    #: once every process confirmed it), and within this many seconds without
    #: it. With Redis the ttl only bounds what cannot be announced: your own
    #: SQL, and a process that missed an announcement (it did not confirm in
    #: time, or publishing failed; both are logged).
    session_cache_ttl: int = 2
    #: Lifetime of an email confirmation link. Every link lifetime counts whole
    #: seconds from issue and includes its end: a link issued at ``t`` works up to
    #: and including ``t + lifetime`` and is refused from one second later.
    confirm_email_within: int = 3 * DAY
    #: Lifetime of a password reset link.
    reset_password_within: int = HOUR
    #: Lifetime of a magic sign-in link.
    login_link_within: int = 10 * MINUTE
    #: Lifetime of an invitation.
    invite_within: int = 7 * DAY
    #: How recently a credential must have been proven *in this session* for
    #: sensitive changes: email, username, extra addresses, revoking the other
    #: sessions, deleting the account, and a password change without the
    #: current password (a session signed in by an emailed link, or an account
    #: without a password). Signing in, ``POST /reauthenticate`` and a password
    #: change restart the clock; an older session gets ``REAUTH_REQUIRED``.
    #: Calls from Python without a session token (the app vouches) and HTTP
    #: Basic requests (the password was proven in the request) are fresh.
    freshness: int = 15 * MINUTE

    # -- email flows ----------------------------------------------------------
    #: Sign the user in when they confirm their email address.
    login_after_confirm: bool = True
    #: Sign the user in after a password reset (off: OWASP Forgot Password sheet).
    login_after_reset: bool = False
    #: At most this many emails of one kind to one address per hour (confirmation,
    #: reset, magic link...); further requests get the same answer and no email.
    email_send_limit: int = 5
    #: Email the user when they sign up (when confirmation is off).
    notify_registered: bool = True
    #: Email the user when their password is changed.
    notify_password_changed: bool = True
    #: Email the user when their password is reset.
    notify_password_reset: bool = True
    #: Email the user when their username is changed.
    notify_username_changed: bool = True
    #: Email the OLD address when the email address is changed.
    notify_email_changed: bool = True
    #: Email the user when they delete their own account.
    notify_account_deleted: bool = True
    #: Email the user when a passkey is added to or removed from their account.
    notify_passkeys: bool = True
    #: Seconds a notice (the emails above and "someone tried to sign up with
    #: your address": emails without a link to use) stays in the outbox
    #: before it is sent again: it is stored with the change it reports and
    #: sent at once; if that fails, or the process stops first, it is resent
    #: this long after, then after twice as long each time, up to an hour
    #: between attempts (:mod:`authgate.outbox`).
    outbox_retry_delay: int = MINUTE
    #: Deliveries of one notice (the first included) before it is given up
    #: (logged at ERROR on ``authgate.mail``). 10 spans about four hours.
    outbox_max_attempts: int = 10
    #: Role a signed-in user needs to send invitations through the JSON API.
    inviter_role: str | None = "admin"
    #: The app's own user columns a visitor may set at sign-up: an allow-list,
    #: empty by default, so an anonymous body can never set ``is_admin`` or
    #: ``plan`` (SPEC §4). The user model may declare it instead:
    #: ``__authgate_signup_fields__ = ("first_name",)``. Names must be app
    #: columns of the model (never authgate's own, never private ones).
    signup_fields: tuple[str, ...] = ()

    # -- password policy ----------------------------------------------------
    #: Minimum length in characters (code points, after NFKC normalisation).
    password_min_length: int = 8
    #: Maximum length in characters; checked before any hashing.
    password_max_length: int = 1024
    #: Extra validator ``(password, identifiers) -> reason | None``.
    password_validator: PasswordValidator | None = None
    #: Reject passwords found in the shipped offline list of 20,000 common
    #: passwords (whole-password match, after normalisation; NIST SP 800-63B
    #: requires a blocklist, so it is on by default).
    check_common_passwords: bool = True
    #: Check new passwords against Have I Been Pwned's k-anonymity range API
    #: (only a 5-character SHA-1 prefix leaves the process). ``"strict"``
    #: rejects when the service is unreachable, ``True`` / ``"best-effort"``
    #: accepts and logs.
    check_breached_passwords: bool | Literal["strict", "best-effort"] = False
    #: Range API used by ``check_breached_passwords``.
    breached_passwords_url: str = "https://api.pwnedpasswords.com/range/"
    #: Scheme for new hashes: ``argon2`` (default), ``bcrypt``, ``scrypt`` or ``pbkdf2``.
    password_scheme: Literal["argon2", "bcrypt", "scrypt", "pbkdf2"] = "argon2"
    #: argon2id memory in KiB (OWASP: 19456 with time cost 2).
    argon2_memory_cost: int = 19456
    #: argon2id iterations.
    argon2_time_cost: int = 2
    #: argon2id lanes.
    argon2_parallelism: int = 1
    #: bcrypt cost factor.
    bcrypt_rounds: int = 12
    #: PBKDF2-HMAC-SHA256 iterations.
    pbkdf2_iterations: int = 600_000
    #: scrypt CPU/memory cost as a power of two (N = 2**scrypt_log_n).
    scrypt_log_n: int = 17
    #: Flask-Security's ``SECURITY_PASSWORD_SALT``: hashes imported from it are
    #: verified in its HMAC pre-hash mode and rehashed on the next sign-in.
    legacy_hmac_salt: str | None = None
    #: At most this many password hashes are computed at once per process (memory
    #: is roughly this times the argon2 memory cost). Default: one core fewer
    #: than the machine has, so a burst of sign-ins never takes every core from
    #: the requests that do not hash.
    hash_concurrency: int = max(1, (os.cpu_count() or 2) - 1)

    # -- throttling ---------------------------------------------------------
    #: Throttle sign-in attempts per identity and per client IP.
    throttle_sign_in: bool = True
    #: Consecutive failures for one identity before ``RATE_LIMITED``.
    sign_in_max_failures: int = 10
    #: Failed attempts from one client IP before ``RATE_LIMITED``.
    sign_in_ip_max_failures: int = 100
    #: Window of both counters, in seconds.
    sign_in_failure_window: int = 15 * MINUTE
    #: Storage for throttling counters, a ``limits`` URI: ``memory://`` or
    #: ``redis://host:port``. ``None``: the Redis of ``redis_url`` when it is
    #: set, else ``memory://`` (this process only).
    rate_limit_storage: str | None = None
    #: Number of reverse proxies in front of the app whose ``X-Forwarded-For``
    #: entries are trusted; 0 trusts none.
    trusted_proxies: int = 0

    # -- tokens for APIs (SPEC §10) -------------------------------------------
    #: Every sign-in (password, emailed link, sign-up, reset with
    #: ``login_after_reset``) also answers a short-lived JWT access token as
    #: ``token`` and a refresh token: ``{user, token, refresh_token, expires_in,
    #: token_type: "Bearer"}``. The access token is accepted as a bearer
    #: credential everywhere, checked without a database read; the refresh
    #: token (``POST /token/refresh``) gets a new pair. The sign-in's
    #: server-side session (listed, revocable, its cookie still set) is the
    #: refresh tokens' family: ending it ends them. Needs
    #: ``pip install "authgate[jwt]"`` and a signing key (``jwt_keys``).
    jwt_access_tokens: bool = False
    #: Lifetime of an access token, in seconds. It cannot be revoked before
    #: then (unless ``jwt_check_stamp``): keep it short.
    access_token_lifetime: int = 5 * MINUTE
    #: Lifetime of each refresh token, in seconds: a client that does not
    #: refresh within it signs in again. A refresh token never outlives its
    #: session (``session_lifetime``, or ``remember_lifetime`` with remember;
    #: ``session_idle_timeout`` unless remember, a refresh counting as use).
    refresh_token_lifetime: int = 30 * DAY
    #: Seconds after a refresh during which the refresh token it replaced, presented
    #: again, is only refused (``INVALID_TOKEN``) instead of ending its whole
    #: family: for clients that refresh from two tabs at once. 0 (the default):
    #: any second use ends the family, except a refresh that raced the winner
    #: (both read the token before either retired it), which is refused alone.
    refresh_reuse_grace: int = 0
    #: Signature algorithm of access tokens: ``EdDSA`` (Ed25519, the default),
    #: ``ES256`` or ``HS256`` (``HS256`` with ``auth101_compat``). Tokens signed
    #: with any other algorithm, ``none`` included, are refused.
    jwt_algorithm: Literal["EdDSA", "ES256", "HS256"] | None = None
    #: Signing keys, newest first: the first signs, every one verifies (rotate by
    #: putting a new key first, and remove the old one once its tokens expired).
    #: Each is a PEM or JWK text, or the path of a file holding one; an old key
    #: may be public only. ``AUTHGATE_JWT_KEYS``: a JWK set (``{"keys": [...]}``),
    #: PEM blocks, or comma-separated paths. Make one with ``authgate keys
    #: generate``. ``HS256`` keys default to keys derived from ``secret``.
    jwt_keys: tuple[str, ...] = ()
    #: The ``iss`` claim: default ``base_url``, else the ``site_name``.
    jwt_issuer: str | None = None
    #: The ``aud`` claim tokens carry and must carry: default the issuer.
    jwt_audience: str | None = None
    #: Check every access token against the store too (through the session
    #: cache): its session must be live and the user's security stamp unchanged,
    #: so a sign-out, a revoked session, a password change or a deactivation
    #: refuses it at once, and the user is the stored one. Off: access tokens are
    #: checked without any read and live until they expire.
    jwt_check_stamp: bool = False
    #: Serve clients written for auth101 (turns ``jwt_access_tokens`` on): the
    #: sign-in answer also has ``access_token``, ``POST /refresh`` and ``POST
    #: /revoke`` exist, access tokens are HS256 with the raw ``secret`` (or
    #: ``jwt_keys``) and carry auth101's ``email`` and ``type`` claims and no
    #: ``aud``, and access tokens auth101 signed are accepted until they expire.
    auth101_compat: bool = False
    #: Personal API keys (``POST /api-keys``...): ``ag_...`` keys a user makes for
    #: scripts, with scopes, an expiry and an optional IP allowlist, accepted as
    #: ``Authorization: Bearer`` or ``X-API-Key`` by the guards (not by the
    #: account routes of the JSON API).
    api_keys: bool = True

    # -- passkeys (WebAuthn) --------------------------------------------------
    #: The relying-party id passkeys are bound to: a registrable domain such as
    #: ``example.com`` (no scheme, no port). ``None``: the host of ``base_url``.
    #: It comes from settings, never from a request's ``Host`` header.
    webauthn_rp_id: str | None = None
    #: The name browsers show when a passkey is made. ``None``: ``site_name``.
    webauthn_rp_name: str | None = None
    #: The origins (``https://app.example.com``, with a port if not the default)
    #: a passkey ceremony may come from; any other is refused. Empty: the origin
    #: of ``base_url``.
    webauthn_origins: tuple[str, ...] = ()
    #: Whether the authenticator must verify the user (PIN, biometrics):
    #: ``"required"`` refuses passkeys used without it, ``"preferred"`` asks for it,
    #: ``"discouraged"`` does not. A passkey sign-in counts as two factors only
    #: when the user was verified; otherwise an account with a second factor is
    #: asked for it (``TWO_FACTOR_REQUIRED``).
    webauthn_user_verification: Literal["required", "preferred", "discouraged"] = "preferred"

    # -- audit trail --------------------------------------------------------
    #: Seconds security events are kept in the store (``auth.audit``); older
    #: ones are deleted by ``authgate audit purge`` and, at most once an hour
    #: per process, in the background. ``None`` keeps them forever.
    audit_retention: int | None = 90 * DAY

    # -- storage ------------------------------------------------------------
    #: Create missing tables (and apply the shipped migrations to the default
    #: models) when ``Auth`` starts.
    create_tables: bool = True
    #: Redis for several app processes or hosts (``redis://host:6379/0``,
    #: ``rediss://...``; needs ``pip install "authgate[redis]"``). It holds the
    #: sessions (an allowlist: a flush or restart signs people out, never lets a
    #: revoked token back), the throttling counters (unless
    #: ``rate_limit_storage`` names another storage), and carries every
    #: session-cache invalidation to the other processes, so a revocation in
    #: one is refused by all at once. Users, roles and used links stay in the
    #: database. Configure Redis with ``maxmemory-policy noeviction`` (or a
    #: ``volatile-*`` policy).
    redis_url: str | None = None
    #: Prefix of authgate's Redis keys and channel (``<prefix>:session:...``):
    #: one per user database sharing a Redis server.
    redis_prefix: str = "authgate"

    # -- web ----------------------------------------------------------------
    #: Public base URL used to build links in emails (never the request's Host).
    base_url: str | None = None
    #: Mount point of the JSON API and pages.
    url_prefix: str = "/auth"
    #: Name of the session cookie.
    cookie_name: str = "authgate_session"
    #: ``Secure`` flag of the cookie; ``None`` means "unless debug".
    cookie_secure: bool | None = None
    #: ``SameSite`` of the session cookie.
    cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    #: Cookie domain; ``None`` is host-only (recommended).
    cookie_domain: str | None = None
    #: Where page requests go after sign-in when no safe ``next`` is given.
    post_login_url: str = "/"
    #: Where page requests go after sign-out.
    post_logout_url: str = "/"
    #: Name of the site, used in emails and pages and as a context word for passwords.
    site_name: str = "authgate"

    # -- pages and languages ------------------------------------------------
    #: Serve the HTML pages (login, register, account...) under ``url_prefix``.
    #: Flask, Django and Bottle serve them unless this is ``False`` (or
    #: ``setup_for_flask(..., pages=False)``); FastAPI only with
    #: ``setup_for_fastapi(..., pages=True)``.
    pages: bool = True
    #: Where browsers are sent to sign in when a page needs a user (the
    #: decorators' redirect, with ``?next=``): ``None`` is authgate's own page,
    #: ``<url_prefix>/login``; a path or URL of your app's page otherwise.
    login_url: str | None = None
    #: The language when neither the visitor's choice nor ``Accept-Language``
    #: names a shipped one (``en``, ``de``, ``es``, ``fr``, ``nl``, ``it``,
    #: ``pt_BR``, ``ru``, ``tr``, ``zh_Hans``, ``ja``, ``fa``).
    default_locale: str = "en"
    #: ``(request) -> locale or None``: your app's choice of language (e.g. from
    #: the user's profile), asked first on every page, API answer and email;
    #: ``None`` (or an unknown locale) falls back to the visitor's choice,
    #: ``Accept-Language``, then ``default_locale``. It gets the neutral
    #: :class:`~authgate.web.http.ApiRequest` (``cookies``, ``headers``).
    locale_selector: Callable[[Any], object] | None = None
    #: The app's own user columns a signed-in user may change on the profile
    #: page and with ``POST /update-user``. Empty: the model's
    #: ``__authgate_profile_fields__``, else ``signup_fields``. Names must be app
    #: columns of the model, as for ``signup_fields``.
    profile_fields: tuple[str, ...] = ()

    # -----------------------------------------------------------------------
    def __post_init__(self) -> None:
        _validate(self)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The signing secrets, newest first."""
        return (self.secret,) if isinstance(self.secret, str) else tuple(self.secret)

    @property
    def jwt_enabled(self) -> bool:
        """Whether sign-ins answer access tokens (``jwt_access_tokens``, ``auth101_compat``)."""
        return self.jwt_access_tokens or self.auth101_compat

    @property
    def jwt_signing_algorithm(self) -> str:
        """The access tokens' algorithm: ``jwt_algorithm``, else EdDSA (HS256 for auth101)."""
        if self.jwt_algorithm is not None:
            return self.jwt_algorithm
        return "HS256" if self.auth101_compat else "EdDSA"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the ``Secure`` attribute."""
        return (not self.debug) if self.cookie_secure is None else self.cookie_secure

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of every setting."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Any],
        prefix: str = "AUTHGATE_",
        **overrides: Any,
    ) -> Settings:
        """Build settings from ``AUTHGATE_<NAME>`` keys of a mapping.

        Keys without the prefix are ignored; an unknown key with the prefix is a
        :class:`TypeError` naming the closest valid one. String values (from
        the environment) are converted to the setting's type.

        Args:
            mapping: e.g. Flask ``app.config``, Django settings as a dict, ``os.environ``.
            prefix: the key prefix.
            **overrides: settings given directly; they win over the mapping.

        Examples:
            >>> Settings.from_mapping({"AUTHGATE_SECRET": "x" * 32, "AUTHGATE_DEBUG": "1"}).debug
            True
        """
        values: dict[str, Any] = {}
        names = cls.names()
        for key, raw in mapping.items():
            if not isinstance(key, str) or not key.startswith(prefix):
                continue
            name = key[len(prefix) :].lower()
            if name not in names:
                hint = closest_name(name, names)
                suggestion = f"; did you mean {prefix}{hint.upper()}?" if hint else ""
                raise TypeError(f"unknown authgate setting {key!r}{suggestion}")
            values[name] = _coerce(name, raw)
        values.update(overrides)
        return build_settings(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``AUTHGATE_*`` environment variables."""
        return cls.from_mapping(os.environ if environ is None else environ, **overrides)


def closest_name(name: str, names: Sequence[str]) -> str | None:
    """The valid name closest to ``name``, for "did you mean" messages."""
    matches = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return matches[0] if matches else None


def build_settings(**values: Any) -> Settings:
    """``Settings(**values)`` with an unknown keyword reported helpfully."""
    names = Settings.names()
    for key in values:
        if key not in names:
            hint = closest_name(key, names)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise TypeError(f"unknown authgate setting {key!r}{suggestion}")
    if "secret" not in values:
        raise TypeError("Auth() needs a secret: Auth(secret=..., ...) with 32 or more bytes")
    if isinstance(values.get("jwt_keys"), str):  # one key
        values["jwt_keys"] = (values["jwt_keys"],)
    if isinstance(values.get("webauthn_origins"), str):  # one origin
        values["webauthn_origins"] = (values["webauthn_origins"],)
    for name in (
        "secret",
        "signup_fields",
        "profile_fields",
        "jwt_keys",
        "two_factor_required_roles",
        "two_factor_methods",
        "webauthn_origins",
    ):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    return Settings(**values)


@functools.cache
def _hints() -> dict[str, Any]:
    return get_type_hints(Settings)


def _coerce(name: str, raw: Any) -> Any:
    """Convert a string from the environment or a config file to the setting's type."""
    if not isinstance(raw, str):
        return raw
    hint = _hints()[name]
    args = set(get_args(hint)) or {hint}
    text = raw.strip()
    if type(None) in args and text.lower() in {"", "none", "null"}:
        return None
    if name == "jwt_keys":
        return split_keys(text)
    if name == "secret" and "," in text:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if get_origin(hint) is tuple:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if bool in args:
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        if get_origin(hint) is Union and any(get_origin(a) is Literal for a in args):
            return text
        raise ValueError(f"setting {name!r} expects true or false, got {raw!r}")
    if int in args:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"setting {name!r} expects a whole number, got {raw!r}") from None
    return text


def split_keys(text: str) -> tuple[str, ...]:
    """``AUTHGATE_JWT_KEYS`` as keys: a JWK set or a JSON list, PEM blocks, or paths.

    Examples:
        >>> split_keys("a.pem, b.pem")
        ('a.pem', 'b.pem')
    """
    text = text.strip()
    if not text:
        return ()
    if text.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError(
                "AUTHGATE_JWT_KEYS is not valid JSON (a JWK, a JWK set or a list)"
            ) from None
        items = value.get("keys", [value]) if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise ValueError("AUTHGATE_JWT_KEYS: a JWK set's keys must be a list")
        return tuple(i if isinstance(i, str) else json.dumps(i) for i in items)
    if "-----BEGIN" in text:
        blocks = re.findall(r"-----BEGIN [^-]+-----.+?-----END [^-]+-----", text, re.DOTALL)
        return tuple(blocks)
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _literal_choices(hint: Any) -> tuple[Any, ...]:
    for arg in (hint, *get_args(hint)):
        if get_origin(arg) is Literal:
            return get_args(arg)
    return ()


def _validate(s: Settings) -> None:
    secrets = s.secret if isinstance(s.secret, tuple) else (s.secret,)
    if not secrets or not all(isinstance(x, str) and x for x in secrets):
        raise ValueError(
            "secret must be a non-empty string (or a list of them, newest first); "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    if len(secrets[0].encode()) < 32:
        warnings.warn(
            "the authgate secret is shorter than 32 bytes; fine for a demo, unsafe in "
            'production. Generate one with: python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"',
            InsecureSettingWarning,
            stacklevel=4,
        )
    hints = _hints()
    for field in dataclasses.fields(s):
        value = getattr(s, field.name)
        hint = hints[field.name]
        choices = _literal_choices(hint)
        if choices and isinstance(value, str) and value not in choices:
            raise ValueError(
                f"setting {field.name!r} must be one of {', '.join(map(repr, choices))}, "
                f"got {value!r}"
            )
        args = set(get_args(hint)) or {hint}
        is_whole = isinstance(value, int) and not isinstance(value, bool)
        if int in args and bool not in args and value is not None and not is_whole:
            raise ValueError(f"setting {field.name!r} must be a whole number, got {value!r}")
        optional = value is None and type(None) in args
        if bool in args and not choices and not isinstance(value, bool) and not optional:
            raise ValueError(f"setting {field.name!r} must be True or False, got {value!r}")
    positive = [
        "session_lifetime", "remember_lifetime", "confirm_email_within",
        "reset_password_within", "login_link_within", "invite_within", "freshness",
        "password_min_length", "password_max_length", "argon2_memory_cost",
        "argon2_time_cost", "argon2_parallelism", "pbkdf2_iterations", "hash_concurrency",
        "sign_in_max_failures", "sign_in_ip_max_failures", "sign_in_failure_window",
        "email_send_limit", "outbox_retry_delay", "outbox_max_attempts",
        "access_token_lifetime", "refresh_token_lifetime",
    ]  # fmt: skip
    for name in positive:
        if getattr(s, name) <= 0:
            raise ValueError(f"setting {name!r} must be greater than 0, got {getattr(s, name)}")
    if s.session_idle_timeout is not None and s.session_idle_timeout <= 0:
        raise ValueError("session_idle_timeout must be a positive number of seconds, or None")
    if s.audit_retention is not None and s.audit_retention <= 0:
        raise ValueError("audit_retention must be a positive number of seconds, or None")
    if s.trusted_proxies < 0:
        raise ValueError("trusted_proxies must be 0 or more")
    if s.session_cache_ttl < 0:
        raise ValueError("session_cache_ttl must be 0 (no cache) or a number of seconds")
    if s.password_min_length < 1 or s.password_max_length < 64:
        raise ValueError(
            "password_max_length must allow at least 64 characters (NIST SP 800-63B); "
            f"got {s.password_max_length}"
        )
    if s.password_min_length > s.password_max_length:
        raise ValueError("password_min_length must not exceed password_max_length")
    if not 4 <= s.bcrypt_rounds <= 31:
        raise ValueError(f"bcrypt_rounds must be between 4 and 31, got {s.bcrypt_rounds}")
    if not 1 <= s.scrypt_log_n <= 30:
        raise ValueError(f"scrypt_log_n must be between 1 and 30, got {s.scrypt_log_n}")
    if s.password_validator is not None and not callable(s.password_validator):
        raise ValueError("password_validator must be a callable (password, identifiers) -> reason")
    _validate_two_factor(s)
    for setting in ("signup_fields", "profile_fields"):
        fields: object = getattr(s, setting)
        if not isinstance(fields, tuple) or not all(
            isinstance(name, str) and name.isidentifier() for name in fields
        ):
            raise ValueError(
                f"{setting} must be a list of column names, e.g. {setting}=['first_name'], "
                f"got {fields!r}"
            )
    locale = normalize_locale(s.default_locale)
    if locale is None:
        raise ValueError(
            f"default_locale must be one of {', '.join(LOCALES)}, got {s.default_locale!r}"
        )
    object.__setattr__(s, "default_locale", locale)  # "pt-BR" is pt_BR
    if s.locale_selector is not None and not callable(s.locale_selector):
        raise ValueError("locale_selector must be a callable (request) -> locale or None")
    if s.login_url is not None and not s.login_url.startswith(("/", "http://", "https://")):
        raise ValueError(f"login_url must be a path or an http(s) URL, got {s.login_url!r}")
    if s.cookie_samesite == "none" and not s.secure_cookies:
        raise ValueError("cookie_samesite='none' requires secure cookies (browsers reject it)")
    if not s.url_prefix.startswith("/") or (s.url_prefix.endswith("/") and s.url_prefix != "/"):
        raise ValueError(
            f"url_prefix must start with '/' and not end with one, got {s.url_prefix!r}"
        )
    if s.redis_url is not None and not s.redis_url.startswith(_REDIS_SCHEMES):
        raise ValueError(
            "redis_url must be a redis://, rediss:// or unix:// URL, got a "
            f"{s.redis_url.partition(':')[0]!r} URL"
        )
    if not s.redis_prefix or any(c.isspace() for c in s.redis_prefix):
        raise ValueError("redis_prefix must be a non-empty name without spaces")
    _validate_tokens(s)
    if s.base_url is not None and not s.base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an absolute http(s) URL, got {s.base_url!r}")
    _validate_webauthn(s)


#: The relying party used in debug when neither ``webauthn_rp_id`` nor ``base_url`` is set.
DEBUG_RP = ("localhost", ("http://localhost:8000",))


def webauthn_relying_party(s: Settings) -> tuple[str, tuple[str, ...]]:
    """The passkeys' relying-party id and accepted origins, from settings only.

    ``webauthn_rp_id`` (else the host of ``base_url``) and ``webauthn_origins``
    (else the origin of ``base_url``); in debug, without either,
    ``localhost`` and ``http://localhost:8000``.

    Raises:
        ValueError: neither is resolvable (outside debug).

    Examples:
        >>> webauthn_relying_party(Settings(secret="s" * 32, base_url="https://a.example/app"))
        ('a.example', ('https://a.example',))
    """
    base = urlsplit(s.base_url) if s.base_url else None
    rp_id = s.webauthn_rp_id or (base.hostname if base is not None else None)
    origins = s.webauthn_origins
    if not origins and base is not None and base.hostname:
        origins = (f"{base.scheme}://{base.netloc.rpartition('@')[2]}".lower(),)
    if not rp_id and not origins and s.debug:
        return DEBUG_RP
    if not rp_id or not origins:
        raise ValueError(
            "passkeys=True needs to know the site passkeys belong to: set base_url="
            "'https://your.app' (or AUTHGATE_BASE_URL), or webauthn_rp_id='your.app' and "
            "webauthn_origins=['https://your.app']; it is never taken from a request's Host"
        )
    return rp_id, tuple(origins)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _validate_webauthn(s: Settings) -> None:
    rp_id: object = s.webauthn_rp_id
    if rp_id is not None and (
        not isinstance(rp_id, str)
        or not rp_id
        or rp_id != rp_id.strip().lower()
        or any(c in rp_id for c in "/:@ ")
    ):
        raise ValueError(
            f"webauthn_rp_id must be a lower-case domain such as 'example.com' (no scheme, "
            f"no port), got {rp_id!r}"
        )
    origins: object = s.webauthn_origins
    if not isinstance(origins, tuple) or not all(
        isinstance(o, str)
        and o.startswith(("https://", "http://"))
        and urlsplit(o).hostname
        and urlsplit(o).path in ("", "/")
        for o in origins
    ):
        raise ValueError(
            "webauthn_origins must be a list of origins such as 'https://app.example.com' "
            f"(scheme, host and port only), got {origins!r}"
        )
    object.__setattr__(s, "webauthn_origins", tuple(o.rstrip("/").lower() for o in origins))
    if s.passkeys:
        rp, allowed = webauthn_relying_party(s)
        if _is_ip(rp):
            raise ValueError(
                f"passkeys need a domain name as relying-party id, not the address {rp!r} "
                "(browsers refuse it): use a name such as localhost in base_url, or set "
                "webauthn_rp_id and webauthn_origins"
            )
        for origin in allowed:
            host = urlsplit(origin).hostname or ""
            if host != rp and not host.endswith("." + rp):
                raise ValueError(
                    f"webauthn origin {origin!r} is not on the relying party {rp!r}: an "
                    "origin's host must be the rp id or one of its subdomains"
                )


#: The second factors ``two_factor_methods`` may list.
TWO_FACTOR_METHODS = ("totp", "email")


def _validate_two_factor(s: Settings) -> None:
    """The second-factor settings."""
    for name in ("two_factor_required_roles", "two_factor_methods"):
        value: object = getattr(s, name)
        if isinstance(value, str):
            value = (value,)
            object.__setattr__(s, name, value)
        if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{name} must be a list of names, got {value!r}")
    unknown = [m for m in s.two_factor_methods if m not in TWO_FACTOR_METHODS]
    if unknown or not s.two_factor_methods:
        raise ValueError(
            f"two_factor_methods must list some of {', '.join(TWO_FACTOR_METHODS)}, "
            f"got {s.two_factor_methods!r}"
        )
    if not 0 <= s.totp_skew <= 10:
        raise ValueError(f"totp_skew must be between 0 and 10 steps, got {s.totp_skew}")
    if not 30 <= s.two_factor_challenge_within <= 10 * MINUTE:
        raise ValueError(
            "two_factor_challenge_within must be between 30 and 600 seconds, "
            f"got {s.two_factor_challenge_within}"
        )
    if not 1 <= s.two_factor_max_failures <= 100:
        raise ValueError(
            f"two_factor_max_failures must be between 1 and 100, got {s.two_factor_max_failures}"
        )
    for name in ("two_factor_grace_period", "trusted_device_lifetime"):
        if getattr(s, name) < 0:
            raise ValueError(f"{name} must be 0 or more seconds, got {getattr(s, name)}")
    if s.totp_issuer is not None and (not s.totp_issuer.strip() or ":" in s.totp_issuer):
        raise ValueError("totp_issuer must be a non-empty name without ':'")
    if s.two_factor:
        try:
            import pyotp  # noqa: F401
            import segno  # noqa: F401
            from cryptography.fernet import Fernet  # noqa: F401
        except ImportError:
            raise ImportError(
                'two_factor=True needs pyotp, segno and cryptography: pip install "authgate[mfa]"'
            ) from None


def _validate_tokens(s: Settings) -> None:
    """The JWT and API-key settings (the keys themselves are parsed when ``Auth`` starts)."""
    if s.refresh_reuse_grace < 0 or s.refresh_reuse_grace > 5 * MINUTE:
        raise ValueError("refresh_reuse_grace must be between 0 and 300 seconds")
    keys: object = s.jwt_keys
    if not isinstance(keys, tuple) or not all(isinstance(k, str) and k.strip() for k in keys):
        raise ValueError(
            "jwt_keys must be a list of keys (PEM or JWK text, or file paths), newest first"
        )
    for name in ("jwt_issuer", "jwt_audience"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{name} must be a non-empty string (or None for the default)")
    if not s.jwt_enabled:
        return
    if s.access_token_lifetime > DAY:
        raise ValueError(
            "access_token_lifetime must be at most a day (86400 s): an access token cannot "
            "be revoked before it expires, so keep it short (default 300 s)"
        )
    if s.jwt_signing_algorithm != "HS256" and not s.jwt_keys and not s.debug:
        raise ValueError(
            f"jwt_access_tokens=True with {s.jwt_signing_algorithm} needs a signing key: run "
            "`authgate keys generate --output jwt-key.pem` and set jwt_keys=['jwt-key.pem'] "
            "(or AUTHGATE_JWT_KEYS=jwt-key.pem); with debug=True a temporary key is made"
        )
