"""authgate: user authentication and account management for any Python web app.

Configure once, mount anywhere::

    from authgate import Auth, AuthError

    auth = Auth(secret="...", database_url="sqlite:///auth.db")
    r = auth.sign_up("alice@example.com", "correct horse battery")
    auth.get_session(r.token).user.email
"""

import logging as _logging

from authgate import signals as signals
from authgate.auth import (
    Auth as Auth,
)
from authgate.context import (
    Client as Client,
)
from authgate.errors import (
    AccountDisabled as AccountDisabled,
    AuthError as AuthError,
    CSRFFailed as CSRFFailed,
    EmailNotConfirmed as EmailNotConfirmed,
    ErrorCode as ErrorCode,
    FeatureDisabled as FeatureDisabled,
    Forbidden as Forbidden,
    InternalError as InternalError,
    InvalidCode as InvalidCode,
    InvalidCredentials as InvalidCredentials,
    InvalidToken as InvalidToken,
    MethodNotAllowed as MethodNotAllowed,
    NotFound as NotFound,
    PayloadTooLarge as PayloadTooLarge,
    RateLimited as RateLimited,
    ReauthRequired as ReauthRequired,
    ServiceUnavailable as ServiceUnavailable,
    TwoFactorRequired as TwoFactorRequired,
    Unauthorized as Unauthorized,
    UnsupportedMediaType as UnsupportedMediaType,
    UserExists as UserExists,
    UserNotFound as UserNotFound,
    ValidationError as ValidationError,
)
from authgate.models import (
    RoleMixin as RoleMixin,
    SecurityEvent as SecurityEvent,
    UserMixin as UserMixin,
)
from authgate.results import (
    AuthResult as AuthResult,
    SessionEntry as SessionEntry,
    SessionInfo as SessionInfo,
)
from authgate.settings import (
    Settings as Settings,
)
from authgate.signals import (
    email_changed as email_changed,
    login_failed as login_failed,
    login_link_sent as login_link_sent,
    password_changed as password_changed,
    password_reset as password_reset,
    reset_password_instructions_sent as reset_password_instructions_sent,
    user_confirmed as user_confirmed,
    user_deleted as user_deleted,
    user_invited as user_invited,
    user_logged_in as user_logged_in,
    user_logged_out as user_logged_out,
    user_registered as user_registered,
    username_changed as username_changed,
)

__version__ = "0.1.0"

# A library logs; the application decides where logs go.
_logging.getLogger("authgate").addHandler(_logging.NullHandler())

__all__ = [
    "AccountDisabled",
    "Auth",
    "AuthError",
    "AuthResult",
    "CSRFFailed",
    "Client",
    "EmailNotConfirmed",
    "ErrorCode",
    "FeatureDisabled",
    "Forbidden",
    "InternalError",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidToken",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ReauthRequired",
    "RoleMixin",
    "SecurityEvent",
    "ServiceUnavailable",
    "SessionEntry",
    "SessionInfo",
    "Settings",
    "TwoFactorRequired",
    "Unauthorized",
    "UnsupportedMediaType",
    "UserExists",
    "UserMixin",
    "UserNotFound",
    "ValidationError",
    "email_changed",
    "login_failed",
    "login_link_sent",
    "password_changed",
    "password_reset",
    "reset_password_instructions_sent",
    "signals",
    "user_confirmed",
    "user_deleted",
    "user_invited",
    "user_logged_in",
    "user_logged_out",
    "user_registered",
    "username_changed",
]
