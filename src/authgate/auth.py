"""The :class:`Auth` facade: builds everything once, then one thin method per SPEC call."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from authgate.audit import AuditTrail
from authgate.context import Client, Context
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
from authgate.flows.decoys import Decoys
from authgate.flows.links import DEFAULT_BASE_URL
from authgate.flows.notify import MailService
from authgate.flows.validation import profile_fields, signup_fields
from authgate.models import ApiKeyRecord, PasskeyRecord, utcnow
from authgate.outbox import Outbox
from authgate.passwords import PasswordHasher
from authgate.passwords.policy import PasswordPolicy
from authgate.ratelimit import SignInThrottle
from authgate.results import AuthResult, SessionEntry, SessionInfo
from authgate.session_cache import CacheGroup, CoherentStore, SessionCache, group_for
from authgate.settings import InsecureSettingWarning, Settings, build_settings, closest_name
from authgate.stores import make_store
from authgate.stores.base import Store
from authgate.tokens import EmailTokens, derive_key
from authgate.users import UserAdmin

__all__ = ["Auth"]

_F = TypeVar("_F", bound=Callable[..., Any])

_COMPONENTS = (
    "send_email", "db", "user_model", "role_model", "store", "clock", "template_dirs", "redis",
)  # fmt: skip


class Auth:
    """User authentication and account management, configured once.

    Args:
        secret: signing secret (32+ bytes), or a list of secrets newest first.
        send_email: a mailer object with ``send(message)`` or a callable.
        db: a Flask-SQLAlchemy ``db``, an SQLAlchemy engine or a session factory
            holding your own models (see ``user_model``/``role_model``).
        user_model: your user model built on :class:`authgate.UserMixin`.
        role_model: your role model built on :class:`authgate.RoleMixin`.
        store: a ready store object (overrides ``database_url`` and ``db``).
        clock: returns the current aware UTC time; injectable for tests.
        template_dirs: folders whose ``authgate/email/...`` templates override the package's.
        redis: a ready ``redis.Redis`` client, instead of the ``redis_url`` setting
            (yours to close).
        **settings: any :class:`~authgate.settings.Settings` field.

    Raises:
        TypeError: an unknown keyword (the message names the closest setting),
            or both ``redis`` and ``redis_url``.
        ValueError: an invalid setting value.
        ImportError: ``redis_url`` without the redis package
            (``pip install "authgate[redis]"``).

    With Redis (``redis_url`` or ``redis``), sessions live there, throttling
    counts there, and the session caches of every process are told of each
    other's changes (:mod:`authgate.session_bus`). :meth:`close` stops that.

    Examples:
        >>> auth = Auth(secret="s" * 32)
        >>> r = auth.sign_up("alice@example.com", "correct horse battery")
        >>> auth.get_session(r.token).user.email
        'alice@example.com'
    """

    def __init__(
        self,
        secret: str | Sequence[str] | None = None,
        *,
        send_email: Any = None,
        db: Any = None,
        user_model: type[Any] | None = None,
        role_model: type[Any] | None = None,
        store: Store | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        template_dirs: Sequence[str] = (),
        redis: Any = None,
        **settings: Any,
    ) -> None:
        valid = set(Settings.names())
        for key in settings:
            if key not in valid:
                hint = closest_name(key, [*valid, *_COMPONENTS])
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                raise TypeError(f"Auth() got an unknown setting {key!r}{suggestion}")
        if secret is not None:
            settings["secret"] = secret
        self.settings: Settings = build_settings(**settings)
        if redis is not None and self.settings.redis_url is not None:
            raise TypeError("give either redis_url or redis (a client), not both")
        self._owned: list[Any] = []  # what close() releases
        if store is None:
            store = make_store(
                self.settings.database_url, db=db, user_model=user_model, role_model=role_model
            )
            # A Flask-SQLAlchemy ``db`` needs an app context: setup_for_flask creates
            # the tables inside one instead.
            flask_db = db is not None and hasattr(db, "Model")
            if self.settings.create_tables and not flask_db:
                ensure = getattr(store, "ensure_schema", None)
                if ensure is not None:
                    ensure()
            self._owned.append(store)
        self.clock: Callable[[], dt.datetime] = clock or utcnow
        # Writes reach the session caches of every Auth of this process over the
        # same database, this one's included (if it caches at all).
        group = group_for(store)
        cache = None
        if self.settings.session_cache_ttl > 0:
            cache = SessionCache(self.settings.session_cache_ttl)
            group.join(cache)
        self._bus: Any = None
        if redis is not None or self.settings.redis_url is not None:
            redis, store = self._use_redis(redis, store, group, cache)
        self.store: Store = store
        flows_store = cast(Store, CoherentStore(store, group))
        access_tokens = None
        if self.settings.jwt_enabled:
            from authgate.access_tokens import AccessTokens

            access_tokens = AccessTokens(self.settings, store.user_model, self.clock)
        hasher = PasswordHasher(self.settings)
        #: The stored audit trail: ``auth.audit.events(...)``, ``auth.audit.purge()``.
        self.audit = AuditTrail(store, self.settings, self.clock)
        mail = MailService(self.settings, send_email, tuple(template_dirs), sender=self)
        #: The notice outbox: ``auth.outbox.pending()``, ``auth.outbox.flush()``.
        self.outbox = Outbox(store, mail, self.settings, self.clock)
        self.ctx = Context(
            settings=self.settings,
            users=flows_store,
            roles=flows_store,
            sessions=flows_store,
            tokens=store,
            emails=flows_store,
            hasher=hasher,
            policy=PasswordPolicy(self.settings),
            throttle=SignInThrottle(self.settings, redis=redis),
            email_tokens=EmailTokens(self.settings.secrets, self.clock),
            clock=self.clock,
            sender=self,
            mail=mail,
            outbox=self.outbox,
            decoys=Decoys(store, hasher.current_prefix, derive_key(self.settings, "decoys")),
            audit=self.audit,
            url_prefix=self.settings.url_prefix,
            session_cache=cache,
            access_tokens=access_tokens,
            refresh_tokens=flows_store if access_tokens is not None else None,
            api_keys=flows_store if hasattr(store, "create_api_key") else None,
            passkeys=flows_store if hasattr(store, "create_passkey") else None,
            two_factor=flows_store if hasattr(store, "get_two_factor") else None,
        )
        signup_fields(self.settings, store.user_model)  # a wrong name fails now, not at sign-up
        profile_fields(self.settings, store.user_model)
        if self.settings.base_url is None and not self.settings.debug:
            warnings.warn(
                f"base_url is not set, so emailed links (confirmation, reset, sign-in) point "
                f"at {DEFAULT_BASE_URL}; set base_url='https://your.app' (or "
                "AUTHGATE_BASE_URL) to the address users open the app at.",
                InsecureSettingWarning,
                stacklevel=2,
            )
        if self.settings.confirmable and getattr(store, "reuses_reserved_ids", False):
            warnings.warn(
                f"{store.user_model.__name__} has an integer key on SQLite without "
                "sqlite_autoincrement: a sign-up with a taken address answers a look-alike "
                "whose id the next real user also gets, so the two can be told apart. Add "
                "__table_args__ = {'sqlite_autoincrement': True} to the model, or use a "
                "UUID key (authgate's default).",
                InsecureSettingWarning,
                stacklevel=2,
            )
        #: User and role administration with Flask-Security's names.
        self.users = UserAdmin(self.ctx)
        if not (db is not None and hasattr(db, "Model")):
            # Notices a stopped process left behind are sent again from here (a
            # Flask-SQLAlchemy store needs the app context: setup_for_flask does it).
            self.outbox.start()

    def _use_redis(
        self, client: Any, store: Store, group: CacheGroup, cache: SessionCache | None
    ) -> tuple[Any, Store]:
        """Sessions in Redis, and this process's caches told of the other processes' changes."""
        from authgate.session_bus import RedisCacheBus
        from authgate.stores.redis import RedisRefreshTokenStore, RedisSessionStore, connect
        from authgate.stores.split import SplitStore

        if client is None:
            assert self.settings.redis_url is not None
            client = connect(self.settings.redis_url)
            self._owned.insert(0, client)
        prefix = self.settings.redis_prefix
        sessions = RedisSessionStore(client, store, prefix=prefix, clock=self.clock)
        refresh_tokens = RedisRefreshTokenStore(client, prefix=prefix, clock=self.clock)
        self._bus = RedisCacheBus(client, prefix, group, cache)
        # An Auth that is dropped without close() stops its thread when collected.
        weakref.finalize(self, self._bus.close)
        return client, cast(Store, SplitStore(store, sessions, refresh_tokens))

    def close(self) -> None:
        """Stop the Redis subscriber and the outbox dispatcher, and release what this
        ``Auth`` opened.

        Closes the Redis client made from ``redis_url`` and the store made from
        ``database_url`` (not a ``store``, ``db`` or ``redis`` you passed in).
        """
        if self._bus is not None:
            self._bus.close()
        self.outbox.close()
        for resource in self._owned:
            resource.close()
        self._owned.clear()

    @classmethod
    def from_config(
        cls,
        mapping: Mapping[str, Any],
        *,
        prefix: str = "AUTHGATE_",
        environ: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        **components: Any,
    ) -> Auth:
        """Build an ``Auth`` from ``AUTHGATE_<NAME>`` keys (Flask ``app.config``, Django settings).

        Precedence, lowest first: ``defaults`` (e.g. ``{"secret": SECRET_KEY}``),
        the environment's ``AUTHGATE_*`` variables, then ``mapping``. An unknown
        ``AUTHGATE_*`` key is a :class:`TypeError` naming the closest setting.

        Args:
            mapping: the framework's configuration.
            prefix: the key prefix.
            environ: the environment (default ``os.environ``).
            defaults: settings used when neither the environment nor the mapping has them.
            **components: ``send_email``, ``db``, ``user_model``, ``role_model``, ``store``,
                ``clock``.
        """
        env = os.environ if environ is None else environ
        merged: dict[str, Any] = {k: v for k, v in env.items() if k.startswith(prefix)}
        merged.update(
            {k: v for k, v in mapping.items() if isinstance(k, str) and k.startswith(prefix)}
        )
        given = {key[len(prefix) :].lower() for key in merged}
        # Defaults are values, not configuration text: they are not parsed (a
        # SECRET_KEY with a comma is one secret, not a list).
        fallback = {k: v for k, v in (defaults or {}).items() if k not in given}
        settings = Settings.from_mapping(merged, prefix, **fallback)
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        return cls(**values, **components)

    def __repr__(self) -> str:
        backend = type(self.store).__name__
        return f"<Auth store={backend}>"

    @property
    def User(self) -> type[Any]:
        """The user model in use (generated, or yours)."""
        return self.store.user_model

    @property
    def Role(self) -> type[Any]:
        """The role model in use (generated, or yours)."""
        return self.store.role_model

    # -- sign-up and sign-in ---------------------------------------------------
    def sign_up(
        self,
        email: str,
        password: str,
        username: str | None = None,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        invite_token: str | None = None,
        **fields: Any,
    ) -> AuthResult:
        """Register a user; signs them in unless email confirmation comes first.

        Extra keywords set the app's own user columns. ``invite_token`` (required
        when ``invite_only`` is on) confirms the invited address.

        Raises:
            ValidationError, UserExists, FeatureDisabled, InvalidToken.
        """
        return signup.sign_up(
            self.ctx, email, password, username=username, fields=fields,
            invite_token=invite_token, client=Client(ip, user_agent),
        )  # fmt: skip

    def sign_in(
        self,
        identifier: str,
        password: str,
        *,
        remember: bool = False,
        by: signin.IdentifierKind = "any",
        ip: str | None = None,
        user_agent: str | None = None,
        trusted_device: str | None = None,
    ) -> AuthResult:
        """Sign in with an email (or username, when enabled) and password.

        With ``two_factor`` on, a user with a second factor gets
        :class:`~authgate.errors.TwoFactorRequired` (``.challenge``, ``.methods``)
        and no session: finish with :meth:`verify_two_factor`. ``trusted_device``
        is the value a trusted sign-in answered (its cookie): it skips the code.

        Raises:
            InvalidCredentials, RateLimited, AccountDisabled, EmailNotConfirmed,
            ValidationError, TwoFactorRequired.
        """
        return signin.sign_in(
            self.ctx, identifier, password, remember=remember, by=by,
            client=Client(ip, user_agent), trusted_device=trusted_device,
        )  # fmt: skip

    # -- second factor (SPEC §9) -----------------------------------------------------
    def verify_two_factor(
        self,
        challenge: str,
        code: str | None = None,
        *,
        method: str = "totp",
        trust_device: bool = False,
        ip: str | None = None,
        user_agent: str | None = None,
        **body: Any,
    ) -> AuthResult:
        """Finish a sign-in that answered ``TWO_FACTOR_REQUIRED``: a new session.

        ``method`` is ``totp``, ``recovery_code``, ``email`` or a registered one
        (``passkey``: its fields come as keywords). With ``trust_device`` the
        result's ``trusted_device`` is a cookie value that skips the code next time.

        Raises:
            InvalidCode, InvalidToken, RateLimited, ValidationError.

        Examples:
            >>> auth.verify_two_factor(err.challenge, "123456")  # doctest: +SKIP
        """
        data = {**body, "challenge": challenge, "code": code, "method": method}
        return two_factor.verify(
            self.ctx, challenge, code, method=method, trust_device=trust_device, body=data,
            client=Client(ip, user_agent),
        )  # fmt: skip

    def send_two_factor_code(
        self, challenge: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Email a six-digit code that completes ``challenge`` (method ``email``).

        Raises:
            InvalidToken, RateLimited, ValidationError.
        """
        two_factor.send_email_code(self.ctx, challenge, Client(ip, user_agent))

    def totp_setup(
        self, user: Any = None, *, token: str | None = None, challenge: str | None = None
    ) -> dict[str, str]:
        """Start setting up an authenticator app: ``{"secret", "uri", "qr_svg"}``.

        Not active until :meth:`totp_enable`. With ``token`` (the caller's session)
        it must be fresh; ``challenge`` (``setup_required``) stands in for a session.

        Raises:
            ReauthRequired, InvalidToken, FeatureDisabled.
        """
        return two_factor.totp_setup(self.ctx, user, token=token, challenge=challenge)

    def totp_enable(self, user: Any, code: str, *, token: str | None = None) -> list[str]:
        """Activate the app set up by :meth:`totp_setup` with its first code; returns ten
        recovery codes (shown once).

        Raises:
            InvalidCode, RateLimited, ReauthRequired, ValidationError.
        """
        return two_factor.totp_enable(self.ctx, user, code, token=token)[0]

    def enroll_two_factor(self, challenge: str, code: str) -> tuple[list[str], AuthResult]:
        """For a ``setup_required`` challenge: activate the app set up with
        ``totp_setup(challenge=...)`` and finish the sign-in.

        Returns:
            The recovery codes and the sign-in.
        """
        codes, result = two_factor.totp_enable(self.ctx, None, code, challenge=challenge)
        assert result is not None
        return codes, result

    def enable_email_codes(self, user: Any, *, token: str | None = None) -> list[str]:
        """Turn on six-digit codes sent by email as the user's second factor (for users
        without an authenticator app). With ``token`` (the caller's session) it must
        be fresh.

        Returns:
            Ten new recovery codes when the user had none, else ``[]``.

        Raises:
            ReauthRequired, FeatureDisabled (``email`` is not in ``two_factor_methods``),
            EmailNotConfirmed (with ``confirmable``, the address is not confirmed yet).
        """
        return two_factor.enable_email_codes(self.ctx, user, token=token)

    def disable_two_factor(self, user: Any, password: str, *, token: str | None = None) -> None:
        """Turn every second factor off: the authenticator app and emailed codes (recovery
        codes and trusted devices go too).

        Raises:
            ReauthRequired, InvalidCredentials, RateLimited.
        """
        two_factor.totp_disable(self.ctx, user, password, token=token)

    def regenerate_recovery_codes(self, user: Any, *, token: str | None = None) -> list[str]:
        """Ten new recovery codes; the old set is void.

        Raises:
            ReauthRequired, ValidationError (no second factor).
        """
        return two_factor.regenerate_recovery_codes(self.ctx, user, token=token)

    def two_factor_status(self, user: Any) -> dict[str, Any]:
        """The user's second factors: ``{"enabled", "totp", "methods", "recovery_codes_left",
        "setup_required", "setup_by", "trusted_devices"}``."""
        return two_factor.status(self.ctx, user)

    def forget_trusted_devices(self, user: Any) -> None:
        """Every trusted device of ``user`` asks for the second factor again."""
        two_factor.forget_trusted_devices(self.ctx, user)

    def reset_two_factor(self, user: Any, *, keep_passkeys: bool = False) -> int:
        """An administrator's rescue: remove the user's authenticator app, recovery codes,
        trusted devices and (unless ``keep_passkeys``) passkeys; the user is emailed and
        enforcement gives a new grace period. Returns how many passkeys were removed."""
        return passkeys.reset_second_factors(
            self.ctx, user, keep_passkeys=keep_passkeys, actor="admin"
        )

    def login_user(
        self,
        user: Any,
        *,
        remember: bool = False,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> AuthResult:
        """Start a session for a user the application authenticated itself (no password).

        Flask-Login's and Flask-Security's ``login_user``, without a framework:
        for an SSO callback, a sign-in form of the app's own, a test. The user
        is read again from the store; the session is fresh and recorded as a
        sign-in (``user_logged_in`` with ``method="app"``). The web
        integrations' ``login_user`` helpers also set the session cookie.

        Raises:
            AccountDisabled: the user is deactivated.
            UserNotFound: the user does not exist.
        """
        return signin.sign_in_user(self.ctx, user, remember=remember, client=Client(ip, user_agent))

    def protected(
        self,
        *tests: Callable[..., Any],
        role: str | None = None,
        roles: Sequence[str] | None = None,
        csrf: bool | None = None,
    ) -> Callable[[_F], _F]:
        """Authcode's view decorator, for Flask and Bottle apps: always called.

        ``@auth.protected()`` requires a signed-in user (bearer token or
        session cookie); ``role="admin"`` that role; ``roles=["a", "b"]`` any
        of them (with ``role`` too: any of all). Each test is called as
        ``test(user, *view_args, **view_kwargs)`` and must return true, else
        ``403 FORBIDDEN``. ``csrf=False`` skips the CSRF check of
        cookie-authenticated unsafe requests on this view; ``csrf=True``
        checks every method, GET included. A refusal is what the framework
        decorators answer: a page request is redirected to the login page,
        an API request gets the JSON 401/403.

        The framework is chosen when the view runs, among the integrations
        imported (``authgate.flask``, ``authgate.bottle``); the app must be set
        up with this ``Auth``.

        Raises:
            TypeError: used bare (``@auth.protected``), a test that is not
                callable, or a bad role name.

        Examples:
            >>> @auth.protected(roles=["editor", "admin"])  # doctest: +SKIP
            ... def edit():
            ...     ...
        """
        from authgate.web.protect import protected

        return protected(self, tests, role=role, roles=roles, csrf=csrf)

    def sign_out(self, token: str) -> bool:
        """Revoke the session behind ``token`` server-side; ``True`` if one was live."""
        return sessions.sign_out(self.ctx, token)

    def get_session(self, token: str) -> SessionInfo:
        """The session behind ``token``.

        Raises:
            InvalidToken: malformed, expired, revoked or stale token.
            UserNotFound: the token's user no longer exists.
        """
        return sessions.get_session(self.ctx, token)

    def verify_token(self, token: str) -> Any | None:
        """The user behind ``token``, or ``None``; never raises for a bad token."""
        return sessions.verify_token(self.ctx, token)

    # -- tokens for APIs (SPEC §10) -------------------------------------------------
    def refresh(
        self, refresh_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> AuthResult:
        """Exchange a refresh token for a new access and refresh token (``jwt_access_tokens``).

        The presented refresh token is retired; presenting it again ends its
        whole family (its session and every refresh token of it).

        Raises:
            InvalidToken, UserNotFound, AccountDisabled, FeatureDisabled.
        """
        return refresh.refresh(self.ctx, refresh_token, Client(ip, user_agent))

    def revoke_refresh_token(
        self, refresh_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """End the session (and refresh-token family) of a refresh token.

        Raises:
            InvalidToken, FeatureDisabled.
        """
        refresh.revoke_refresh_token(self.ctx, refresh_token, Client(ip, user_agent))

    def jwks(self) -> dict[str, Any]:
        """The JWK set of the access tokens' public keys (``{"keys": []}`` for HS256).

        Raises:
            FeatureDisabled: ``jwt_access_tokens`` is off.
        """
        from authgate.errors import FeatureDisabled

        if self.ctx.access_tokens is None:
            raise FeatureDisabled("Access tokens are not enabled.")
        from authgate.keys import jwks

        return jwks(self.ctx.access_tokens.keys)

    def create_api_key(
        self,
        user: Any,
        name: str,
        *,
        scopes: Sequence[str] = (),
        expires_in: int | None = None,
        allowed_ips: Sequence[str] = (),
        token: str | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """Make a personal API key for ``user``; returns its record and the key (shown once).

        With ``token`` (the caller's session or access token) the session must be fresh.

        Raises:
            ValidationError, ReauthRequired, FeatureDisabled.

        Examples:
            >>> record, key = auth.create_api_key(user, "ci", scopes=["read:x"])  # doctest: +SKIP
        """
        return api_keys.create_api_key(
            self.ctx, user, name, scopes=list(scopes), expires_in=expires_in,
            allowed_ips=list(allowed_ips), token=token, actor="admin" if token is None else "user",
        )  # fmt: skip

    def list_api_keys(self, user: Any) -> list[ApiKeyRecord]:
        """The user's API keys, newest first (``record.to_dict()`` for JSON)."""
        return api_keys.list_api_keys(self.ctx, user)

    def revoke_api_key(self, user: Any | None, key_id: str) -> None:
        """Revoke one of ``user``'s API keys (``user=None``: any key, as an administrator).

        Raises:
            NotFound: no such key of this user.
        """
        api_keys.revoke_api_key(self.ctx, user, key_id, actor="admin")

    def verify_api_key(self, key: str, *, ip: str | None = None) -> Any | None:
        """The user of a valid API key presented from ``ip``, or ``None``.

        Raises:
            RateLimited: too many wrong keys from ``ip``.
        """
        from authgate.errors import AccountDisabled, InvalidToken, UserNotFound

        try:
            return api_keys.verify_api_key(self.ctx, key, Client(ip))[1]
        except (InvalidToken, UserNotFound, AccountDisabled):
            return None

    # -- passkeys (WebAuthn) -----------------------------------------------------
    def passkey_registration_options(
        self, user: Any, *, token: str | None = None, ip: str | None = None,
        user_agent: str | None = None,
    ) -> passkeys.Options:  # fmt: skip
        """Options for ``navigator.credentials.create()`` to add a passkey to ``user``.

        With ``token`` (the caller's session) the session must be fresh, and the
        answer must come back in the same session. ``options.to_dict()`` is the
        JSON to hand to the browser (with ``state``, to send back).

        Raises:
            ReauthRequired, FeatureDisabled, ValidationError.
        """
        return passkeys.registration_options(
            self.ctx, user, token=token, client=Client(ip, user_agent)
        )

    def register_passkey(
        self, user: Any, credential: Any, state: str, *, name: str | None = None,
        token: str | None = None, ip: str | None = None, user_agent: str | None = None,
    ) -> PasskeyRecord:  # fmt: skip
        """Verify the browser's answer to :meth:`passkey_registration_options` and keep it.

        Raises:
            InvalidToken (state expired, used or of another session),
            ValidationError (the attestation does not verify), ReauthRequired.
        """
        return passkeys.register_passkey(
            self.ctx, user, credential, state, name=name, token=token,
            client=Client(ip, user_agent),
        )  # fmt: skip

    def list_passkeys(self, user: Any) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first (``record.to_dict()`` for JSON)."""
        return passkeys.list_passkeys(self.ctx, user)

    def rename_passkey(self, user: Any, passkey_id: str, name: str) -> PasskeyRecord:
        """Rename one of the user's passkeys.

        Raises:
            NotFound: no such passkey of this user.
        """
        return passkeys.rename_passkey(self.ctx, user, passkey_id, name)

    def delete_passkey(self, user: Any, passkey_id: str, *, token: str | None = None) -> None:
        """Remove one of the user's passkeys (with ``token``, its session must be fresh).

        Raises:
            NotFound, ReauthRequired.
        """
        passkeys.delete_passkey(self.ctx, user, passkey_id, token=token)

    def passkey_sign_in_options(self, email: str | None = None) -> passkeys.Options:
        """Options for ``navigator.credentials.get()``; with ``email``, that account's passkeys.

        An unknown address gets options of the same shape.
        """
        return passkeys.sign_in_options(self.ctx, email)

    def sign_in_with_passkey(
        self, credential: Any, state: str, *, remember: bool = False, ip: str | None = None,
        user_agent: str | None = None,
    ) -> AuthResult:  # fmt: skip
        """Sign in with a passkey: the browser's answer to :meth:`passkey_sign_in_options`.

        Raises:
            InvalidToken, InvalidCredentials, AccountDisabled.
        """
        return passkeys.sign_in_with_passkey(
            self.ctx, credential, state, remember=remember, client=Client(ip, user_agent)
        )

    # -- sessions --------------------------------------------------------------
    def list_sessions(self, user: Any, current: str | None = None) -> list[SessionEntry]:
        """The user's live sessions, newest first; ``current`` (a token) is flagged."""
        return sessions.list_sessions(self.ctx, user, current)

    def revoke_session(self, user: Any, session_id: str) -> None:
        """Revoke one of the user's sessions by id."""
        sessions.revoke_session(self.ctx, user, session_id)

    def revoke_other_sessions(self, user: Any, keep_token: str) -> int:
        """Revoke all of the user's sessions but the one behind ``keep_token``.

        ``keep_token``'s session must be fresh.

        Raises:
            ReauthRequired, InvalidToken.
        """
        return sessions.revoke_other_sessions(self.ctx, user, keep_token)

    # -- freshness -------------------------------------------------------------
    def reauthenticate(
        self,
        token: str,
        password: str,
        *,
        rotate: bool = False,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> str:
        """Prove the session user's password again: the session behind ``token`` is fresh.

        Only the password of the session's own user counts. With ``rotate``
        the session gets a new token (the old one stops working).

        Returns:
            The token to use from now on (``token`` itself unless ``rotate``).

        Raises:
            InvalidToken, InvalidCredentials, RateLimited, ValidationError.

        Examples:
            >>> token = auth.reauthenticate(token, "correct horse battery")  # doctest: +SKIP
        """
        return reauth.reauthenticate(
            self.ctx, token, password, rotate=rotate, client=Client(ip, user_agent)
        )

    def reauthenticate_with_passkey(
        self, token: str, credential: Any, state: str, *, rotate: bool = False,
        ip: str | None = None, user_agent: str | None = None,
    ) -> str:  # fmt: skip
        """Make the session behind ``token`` fresh with a passkey of its own user.

        ``credential`` answers :meth:`passkey_sign_in_options` (``state`` is theirs).
        Another user's passkey is ``INVALID_CREDENTIALS`` and changes nothing.

        Raises:
            InvalidToken, InvalidCredentials.
        """
        return passkeys.reauthenticate_with_passkey(
            self.ctx, token, credential, state, rotate=rotate, client=Client(ip, user_agent)
        )

    # -- account changes -------------------------------------------------------
    def change_password(
        self,
        user: Any,
        current_password: str,
        new_password: str,
        *,
        revoke_other_sessions: bool = True,
        current_token: str | None = None,
    ) -> Any:
        """Change the password; every session ends but ``current_token``'s.

        ``current_password`` is not needed when ``current_token``'s session was
        signed in by an emailed link or the user has no password; that session
        must then be fresh.

        Raises:
            InvalidCredentials, ValidationError, FeatureDisabled, RateLimited,
            ReauthRequired.
        """
        return account.change_password(
            self.ctx, user, current_password, new_password,
            revoke_other_sessions=revoke_other_sessions, current_token=current_token,
        )  # fmt: skip

    def change_username(
        self, user: Any, new_username: str, password: str, *, token: str | None = None
    ) -> Any:
        """Change the username (needs ``usernames=True``) after checking the password.

        With ``token`` (the caller's session) the session must be fresh.

        Raises:
            InvalidCredentials, ValidationError, UserExists, FeatureDisabled,
            RateLimited, ReauthRequired.
        """
        return account.change_username(self.ctx, user, new_username, password, token=token)

    def update_user(
        self, user: Any, *, ip: str | None = None, user_agent: str | None = None, **fields: Any
    ) -> Any:
        """Change the user's own app fields that the app allows (``profile_fields``).

        Returns the updated user. Any other name is a ``VALIDATION_ERROR``.

        Raises:
            ValidationError, UserNotFound.

        Examples:
            >>> auth.update_user(user, first_name="Ada")  # doctest: +SKIP
        """
        return account.update_profile(self.ctx, user, fields, Client(ip, user_agent))

    def delete_account(self, user: Any, password: str | None, *, token: str | None = None) -> None:
        """Delete the user's own account (freshness first, then the password).

        The user, their sessions, role links and extra addresses go; the user
        is emailed and :data:`~authgate.signals.user_deleted` is sent. The
        password is not asked of an account without one. With ``token`` (the
        caller's session) the session must be fresh. Administrators use
        ``auth.users.delete_user`` instead.

        Raises:
            ReauthRequired, InvalidCredentials, RateLimited, ValidationError.
        """
        account.delete_account(self.ctx, user, password, token=token)

    # -- email flows -----------------------------------------------------------
    @property
    def mail(self) -> MailService:
        """The mail service (``auth.mail.flush()`` waits for background deliveries)."""
        return self.ctx.mail

    def send_confirmation(self, email: str) -> None:
        """(Re)send the confirmation link; the same answer for unknown addresses."""
        confirmation.send_confirmation(self.ctx, email)

    def confirm_email(
        self, token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> AuthResult:
        """Confirm an address (a new account, an email change or an added address).

        Returns the user and, with ``login_after_confirm``, a new session token.

        Raises:
            InvalidToken: malformed, expired, used, or of another purpose.
        """
        return confirmation.confirm_email(self.ctx, token, Client(ip, user_agent))

    def forgot_password(
        self, email: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Email a reset link if the address has an account; the same answer otherwise."""
        recovery.forgot_password(self.ctx, email, Client(ip, user_agent))

    def reset_password(
        self, token: str, new_password: str, *, ip: str | None = None,
        user_agent: str | None = None,
    ) -> AuthResult:  # fmt: skip
        """Set a new password with a reset token; every session ends.

        Raises:
            InvalidToken, ValidationError, AccountDisabled.
        """
        return recovery.reset_password(self.ctx, token, new_password, Client(ip, user_agent))

    def change_email(
        self, user: Any, new_email: str, password: str, *, token: str | None = None
    ) -> None:
        """Ask to change the address; it takes effect once the link sent to it is used.

        With ``token`` (the caller's session) the session must be fresh.
        """
        email_change.change_email(self.ctx, user, new_email, password, token=token)

    def send_login_link(
        self, email: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Email a sign-in link (``passwordless``); the same answer for unknown addresses."""
        magic_link.send_login_link(self.ctx, email, Client(ip, user_agent))

    def sign_in_with_link(
        self, token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> AuthResult:
        """Redeem a sign-in link once and start a session."""
        return magic_link.sign_in_with_link(self.ctx, token, Client(ip, user_agent))

    def invite(self, email: str, invited_by: Any = None) -> str:
        """Invite ``email`` to sign up; returns the token (also emailed)."""
        return invitations.invite(self.ctx, email, invited_by)

    # -- several addresses (multiple_emails) ---------------------------------------
    def list_emails(self, user: Any) -> list[dict[str, Any]]:
        """The user's addresses, primary first: ``[{"id", "email", "confirmed", "primary"}]``."""
        return emails.list_emails(self.ctx, user)

    def add_email(self, user: Any, email: str, password: str, *, token: str | None = None) -> None:
        """Add an address; it is usable once the link mailed to it is opened.

        With ``token`` (the caller's session) the session must be fresh.
        """
        emails.add_email(self.ctx, user, email, password, token=token)

    def remove_email(self, user: Any, email_id: str, *, token: str | None = None) -> None:
        """Remove one of the user's extra addresses (a fresh session with ``token``)."""
        emails.remove_email(self.ctx, user, email_id, token=token)

    def make_primary_email(
        self, user: Any, email_id: str, password: str, *, token: str | None = None
    ) -> Any:
        """Make a confirmed extra address the primary one (every session ends).

        With ``token`` (the caller's session) the session must be fresh.
        """
        return emails.make_primary(self.ctx, user, email_id, password, token=token)
