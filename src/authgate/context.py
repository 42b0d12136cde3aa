"""The explicit context every flow receives: settings, stores, hashing, tokens, clock.

Flows never see a request or return a response; integrations build a
:class:`Client` from the request and pass it in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authgate.audit import AuditTrail
from authgate.flows.decoys import Decoys
from authgate.flows.notify import MailService
from authgate.outbox import Outbox
from authgate.passwords import PasswordHasher
from authgate.passwords.policy import PasswordPolicy
from authgate.ratelimit import SignInThrottle
from authgate.session_cache import SessionCache
from authgate.settings import Settings
from authgate.stores.base import (
    ApiKeyStore,
    EmailStore,
    PasskeyStore,
    RefreshTokenStore,
    RoleStore,
    SessionStore,
    TokenStore,
    TwoFactorStore,
    UserStore,
)
from authgate.tokens import EmailTokens

if TYPE_CHECKING:  # PyJWT is an extra: imported only when jwt_access_tokens is on
    from authgate.access_tokens import AccessTokens

__all__ = ["Client", "Context"]


@dataclass(frozen=True)
class Client:
    """Who is asking: the client IP (already resolved through trusted proxies) and user agent."""

    ip: str | None = None
    user_agent: str | None = None


NO_CLIENT = Client()


@dataclass
class Context:
    """Dependencies of the flows, built once by :class:`~authgate.Auth`."""

    settings: Settings
    users: UserStore
    roles: RoleStore
    sessions: SessionStore
    tokens: TokenStore
    emails: EmailStore
    hasher: PasswordHasher
    policy: PasswordPolicy
    throttle: SignInThrottle
    email_tokens: EmailTokens
    clock: Callable[[], dt.datetime]
    #: The sender of signals (the Auth instance).
    sender: Any
    #: Renders and delivers the flows' emails.
    mail: MailService
    #: Stores notices with the change they report and sends them until delivered.
    outbox: Outbox
    #: The decoy hashes unknown identifiers are verified against at sign-in.
    decoys: Decoys
    #: Stores security events (:mod:`authgate.flows.audit` writes them).
    audit: AuditTrail
    #: Where the JSON API is mounted (emailed links point below it); integrations
    #: set it to the prefix they mount at.
    url_prefix: str = "/auth"
    #: Verified sessions kept in memory (``None`` when ``session_cache_ttl`` is 0);
    #: the stores above are then wrapped so that every write keeps it coherent.
    session_cache: SessionCache | None = None
    #: Issues and verifies JWT access tokens (``None`` unless ``jwt_access_tokens``).
    access_tokens: AccessTokens | None = None
    #: Where refresh tokens live: with the sessions (``None`` unless ``jwt_access_tokens``).
    refresh_tokens: RefreshTokenStore | None = None
    #: Personal API keys (the main store; ``None`` when it keeps none).
    api_keys: ApiKeyStore | None = None
    #: Passkeys (the main store; ``None`` when it keeps none).
    passkeys: PasskeyStore | None = None
    #: Second factors (the main store; ``None`` when it keeps none).
    two_factor: TwoFactorStore | None = None

    @property
    def user_model(self) -> type[Any]:
        """The user model in use."""
        return self.users.user_model

    def now(self) -> dt.datetime:
        """The current aware UTC time from the injectable clock."""
        return self.clock()
