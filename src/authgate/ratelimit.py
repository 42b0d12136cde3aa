"""Sign-in throttling built on the ``limits`` library.

Two counters guard password sign-in (SECURITY.md §1.3):

* **per identity** — keyed by the *canonical* identifier (so ``Victim@X.com``,
  ``victim@x.com `` and full-width variants share one bucket), whatever the
  client IP. Every attempt is recorded *before* the password is checked, in
  one atomic ``hit``, so parallel guesses cannot race past the limit; a
  successful sign-in clears it. The correct password is refused too while the
  identity is throttled.
* **per client IP** — only failures count, and a success does not clear it
  (django-allauth 65.8.1). IPv6 addresses are bucketed by /64 so an attacker
  cannot rotate through their own prefix (better-auth CVE-2026-45364).

Counters live in any ``limits`` storage: ``memory://`` for one process,
``redis://host:port`` when several processes share the load, and by default
the Redis of ``redis_url`` when it is set (keys under ``<redis_prefix>:limits``).
Redis is reached through a blocking pool (a burst of requests waits up to
:data:`REDIS_POOL_WAIT` seconds for a connection instead of failing), with
short socket timeouts, so an outage is a prompt ``SERVICE_UNAVAILABLE``.
Every storage failure is logged once under the reference the error carries.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from typing import Any, cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from authgate.errors import RateLimited
from authgate.i18n import N_
from authgate.settings import Settings
from authgate.stores._common import unavailable

__all__ = ["REDIS_POOL_SIZE", "REDIS_POOL_WAIT", "SignInThrottle", "ip_bucket"]

logger = logging.getLogger("authgate.throttle")

#: Connections one process opens to a Redis counter storage at most.
REDIS_POOL_SIZE = 50
#: Seconds a request waits for a free Redis connection before ``SERVICE_UNAVAILABLE``.
REDIS_POOL_WAIT = 5
#: Seconds to connect to, and to wait for an answer from, Redis.
REDIS_SOCKET_TIMEOUT = 2


def _storage(uri: str) -> Storage:
    """The ``limits`` storage for ``uri``; Redis through a bounded, blocking pool.

    redis-py's default pool raises ``MaxConnectionsError`` past 100
    connections, which a burst of concurrent sign-ins reaches: it would answer
    503 while Redis is fine. A blocking pool makes the burst queue instead.
    """
    scheme = uri.split(":", 1)[0]
    if scheme not in ("redis", "rediss"):
        return cast(Storage, storage_from_string(uri))
    import redis

    pool = redis.BlockingConnectionPool.from_url(
        uri,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
    )
    return RedisStorage(uri, connection_pool=pool)


def ip_bucket(ip: str | None) -> str | None:
    """The throttling bucket of a client address: IPv4 as is, IPv6 by its /64.

    ``None`` when the address is missing or unusable (a unix socket, a proxy
    whose ``X-Forwarded-For`` is not trusted, garbage): such clients are not
    limited per IP at all, rather than all sharing one bucket that 100
    failures would lock for every one of them (finding S10). The limit per
    account still applies to them.
    """
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


_unknown_warned = threading.Event()


def _warn_unknown_address() -> None:
    if not _unknown_warned.is_set():
        _unknown_warned.set()
        logger.warning(
            "a sign-in came without a usable client address, so it is not limited per IP "
            "(only per account). Behind a reverse proxy, set trusted_proxies to the number "
            "of proxies so the address comes from X-Forwarded-For."
        )


def _key(value: str) -> str:
    # Identities are hashed so that no email address sits in Redis keys.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class SignInThrottle:
    """Per-identity and per-IP limits on credential checks.

    Args:
        settings: reads ``throttle_sign_in``, ``sign_in_max_failures``,
            ``sign_in_ip_max_failures``, ``sign_in_failure_window``,
            ``rate_limit_storage`` and ``redis_prefix``.
        redis: the client of ``redis_url`` (a ``redis.Redis``): counters use its
            connections when ``rate_limit_storage`` is not set.
    """

    def __init__(self, settings: Settings, redis: Any = None) -> None:
        self.enabled = settings.throttle_sign_in
        #: Whether the sign-in error may point at a password reset.
        self.reset_hint = settings.recoverable
        window = settings.sign_in_failure_window
        self._identity_item: RateLimitItem = RateLimitItemPerSecond(
            settings.sign_in_max_failures, window
        )
        self._ip_item: RateLimitItem = RateLimitItemPerSecond(
            settings.sign_in_ip_max_failures, window
        )
        self._code_item: RateLimitItem = RateLimitItemPerSecond(
            settings.two_factor_max_failures, window
        )
        self._storage: Storage
        if settings.rate_limit_storage is not None:
            self._storage = _storage(settings.rate_limit_storage)
        elif redis is not None:  # the client of redis_url, with its bounded pool
            self._storage = RedisStorage(
                "redis://",
                connection_pool=redis.connection_pool,
                key_prefix=f"{settings.redis_prefix}:limits",
            )
        else:
            self._storage = _storage("memory://")
        self._limiter = MovingWindowRateLimiter(self._storage)

    def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def attempt(self, identity: str, ip: str | None, scope: str = "sign-in") -> None:
        """Record an attempt for ``identity`` and raise :class:`RateLimited` if over a limit.

        Call before checking the credential; call :meth:`succeeded` or
        :meth:`failed` afterwards. The error says how long to wait, and for
        sign-in that a password reset gets the account back at once (the
        same words whether or not the account exists).
        """
        if not self.enabled:
            return
        ident = _key(identity)
        bucket = ip_bucket(ip)
        try:
            if bucket is None:
                _warn_unknown_address()
            elif not self._limiter.test(self._ip_item, scope, "ip", bucket):
                raise self._limited(scope, self._ip_item, scope, "ip", bucket)
            if not self._limiter.hit(self._identity_item, scope, "id", ident):
                raise self._limited(scope, self._identity_item, scope, "id", ident)
        except RateLimited:
            raise
        except Exception as exc:  # storage down: fail closed
            raise unavailable(exc) from None

    def _limited(self, scope: str, item: RateLimitItem, *identifiers: str) -> RateLimited:
        # How long: Retry-After and ``retry_after`` in the body say it to the second.
        wait = self._retry_after(item, *identifiers)
        if scope == "sign-in" and self.reset_hint:
            return RateLimited(
                N_(
                    "Too many failed attempts. Try again later, or reset your password to get "
                    "back in at once."
                ),
                retry_after=wait,
            )
        return RateLimited(retry_after=wait)

    def allow(self, scope: str, key: str, amount: int, window: int) -> bool:
        """Count one event for ``key`` and say whether it is within ``amount`` per ``window`` s.

        Used for per-address email limits; unlike sign-in, it never raises: the
        caller answers the same way and simply does not send.
        """
        item = RateLimitItemPerSecond(amount, window)
        try:
            return bool(self._limiter.hit(item, scope, _key(key)))
        except Exception:  # storage down: fail closed, send nothing
            return False

    def code_attempt(self, identity: str) -> None:
        """Count one second-factor code attempt for an account; :class:`RateLimited` past
        ``two_factor_max_failures`` within the window.

        Whatever the client IP (SECURITY §1.8 #53), and whatever ``throttle_sign_in``
        says: a six-digit code is never left unthrottled. Call it before checking
        the code; :meth:`code_succeeded` clears the count. Asking for a new code
        does not.
        """
        ident = _key(identity)
        try:
            if not self._limiter.hit(self._code_item, "two-factor", "id", ident):
                raise RateLimited(
                    retry_after=self._retry_after(self._code_item, "two-factor", "id", ident)
                )
        except RateLimited:
            raise
        except Exception as exc:  # storage down: fail closed
            raise unavailable(exc) from None

    def code_succeeded(self, identity: str) -> None:
        """Clear an account's code attempts after a right code."""
        try:
            self._limiter.clear(self._code_item, "two-factor", "id", _key(identity))
        except Exception as exc:
            raise unavailable(exc) from None

    def failed(self, identity: str, ip: str | None, scope: str = "sign-in") -> None:
        """Count a failure against the client IP (the identity was counted by :meth:`attempt`)."""
        bucket = ip_bucket(ip)
        if not self.enabled or bucket is None:
            return
        try:
            self._limiter.hit(self._ip_item, scope, "ip", bucket)
        except Exception as exc:
            raise unavailable(exc) from None

    def count_failure(self, ip: str | None, scope: str) -> None:
        """Count a wrong credential against the client IP; :class:`RateLimited` past the limit.

        For credentials that are checked without an identity to throttle (API
        keys): the IP bucket alone limits guessing. An unknown address is not
        counted (see :func:`ip_bucket`).
        """
        bucket = ip_bucket(ip)
        if not self.enabled or bucket is None:
            return
        try:
            within = self._limiter.hit(self._ip_item, scope, "ip", bucket)
        except Exception as exc:
            raise unavailable(exc) from None
        if not within:
            raise self._limited(scope, self._ip_item, scope, "ip", bucket)

    def succeeded(self, identity: str, scope: str = "sign-in") -> None:
        """Clear the identity's counter after a successful sign-in (not the IP's)."""
        self.clear(identity, scope)

    def clear(self, identity: str, scope: str = "sign-in") -> None:
        """Forget the failures of ``identity`` (e.g. after a password reset)."""
        if not self.enabled:
            return
        try:
            self._limiter.clear(self._identity_item, scope, "id", _key(identity))
        except Exception as exc:
            raise unavailable(exc) from None
