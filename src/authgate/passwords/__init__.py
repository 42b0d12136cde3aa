"""Password hashing: argon2id by default, every format we migrate from still verifies.

:class:`PasswordHasher` is the one object the flows use. It

* hashes ``NFKC(password)`` with the scheme of ``Settings.password_scheme``;
* verifies argon2 (id/i/d), bcrypt-sha256 and plain bcrypt, passlib scrypt,
  passlib and Django PBKDF2, and Flask-Security's HMAC mode, and hands back a
  fresh current hash when a legacy or outdated one verified (rehash on sign-in);
* spends the same work on unknown users as on wrong passwords (:meth:`dummy_verify`);
* runs at most ``Settings.hash_concurrency`` hash computations at once, on
  that many dedicated threads, since memory is roughly that times the argon2
  memory cost. Dedicated threads, not just a semaphore: glibc keeps the memory
  a thread freed in that thread's malloc arena, so with hashing spread over
  every request thread a process kept up to one argon2 buffer per arena
  (283 MiB after 30 concurrent sign-ins with ``hash_concurrency=1``).

Examples:
    >>> from authgate.settings import Settings
    >>> hasher = PasswordHasher.for_tests(Settings(secret="x" * 32))
    >>> stored = hasher.hash("correct horse battery staple")
    >>> hasher.verify("correct horse battery staple", stored)
    (True, None)
    >>> hasher.verify("wrong", None)
    (False, None)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from authgate.passwords.argon2 import Argon2Hasher
from authgate.passwords.base import Hasher, normalize_password, utf8
from authgate.passwords.bcrypt import BcryptHasher, is_plain_bcrypt
from authgate.passwords.legacy import current_candidates, legacy_candidates
from authgate.passwords.pbkdf2 import Pbkdf2Hasher
from authgate.passwords.policy import PasswordPolicy
from authgate.passwords.scrypt import ScryptHasher
from authgate.settings import Settings

__all__ = [
    "Argon2Hasher",
    "BcryptHasher",
    "Hasher",
    "PasswordHasher",
    "PasswordPolicy",
    "Pbkdf2Hasher",
    "ScryptHasher",
    "normalize_password",
]

logger = logging.getLogger("authgate.passwords")


class PasswordHasher:
    """Hash new passwords with the configured scheme; verify and upgrade old ones.

    Args:
        settings: ``password_scheme`` and the ``argon2_*``, ``bcrypt_rounds``,
            ``scrypt_log_n`` and ``pbkdf2_iterations`` parameters choose how new
            hashes are made; ``legacy_hmac_salt`` turns on Flask-Security's HMAC
            mode for imported hashes; ``hash_concurrency`` bounds parallel work;
            ``password_max_length`` is re-checked so an oversized password never
            reaches a hash function, even if a caller skipped the policy.
        extra_hashers: more verify-only schemes (a plug point for formats
            authgate does not ship); hashes they identify are rehashed to the
            current scheme on sign-in.

    Attributes:
        current: the hasher new hashes are made with.
        hashers: every hasher, by scheme name, the current one first.
    """

    def __init__(self, settings: Settings, *, extra_hashers: Sequence[Hasher] = ()) -> None:
        builtin: list[Hasher] = [
            Argon2Hasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost,
                parallelism=settings.argon2_parallelism,
            ),
            BcryptHasher(rounds=settings.bcrypt_rounds),
            ScryptHasher(log_n=settings.scrypt_log_n),
            Pbkdf2Hasher(iterations=settings.pbkdf2_iterations),
        ]
        by_scheme = {hasher.scheme: hasher for hasher in [*builtin, *extra_hashers]}
        self.current: Hasher = by_scheme[settings.password_scheme]
        # Identification is by prefix and the formats are disjoint; the current
        # hasher goes first only so the common case answers fastest.
        self.hashers: dict[str, Hasher] = {self.current.scheme: self.current, **by_scheme}
        self._hmac_salt = settings.legacy_hmac_salt or None
        self._max_length = settings.password_max_length
        self._slots = _HashThreads(settings.hash_concurrency)
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    @classmethod
    def for_tests(cls, settings: Settings) -> PasswordHasher:
        """A hasher with the cheapest parameters each scheme accepts; for test suites only.

        The formats are unchanged (argon2id, bcrypt-sha256...), only the costs
        drop: argon2 m=1024 KiB t=1, bcrypt 4 rounds, scrypt N=16, PBKDF2 1000.
        """
        cheap = dataclasses.replace(
            settings,
            argon2_memory_cost=1024,
            argon2_time_cost=1,
            argon2_parallelism=1,
            bcrypt_rounds=4,
            scrypt_log_n=4,
            pbkdf2_iterations=1000,
        )
        return cls(cheap)

    # -- public API ---------------------------------------------------------
    def identify(self, hash: str) -> str | None:
        """The scheme name of ``hash`` (``"argon2"``, ``"bcrypt"``...), or ``None``."""
        hasher = self._hasher_for(hash)
        return hasher.scheme if hasher else None

    def hash(self, password: str) -> str:
        """Hash ``NFKC(password)`` with the current scheme.

        Raises:
            ValueError: the password is longer than ``password_max_length`` or
                cannot be encoded as UTF-8 (lone surrogates). Validate new
                passwords with :class:`PasswordPolicy` first; it reports these
                as ``too_long`` / ``invalid``.
        """
        if len(password) > self._max_length or utf8(password) is None:
            raise ValueError("password failed validation; check it with PasswordPolicy first")
        normalized = normalize_password(password)
        return self._slots.run(self.current.hash, normalized)

    def verify(self, password: str, hash: str | None) -> tuple[bool, str | None]:
        """Check ``password`` against a stored hash and upgrade the hash if due.

        Never raises for a missing, unknown or malformed hash: the answer is
        ``(False, None)``, after the same work as a real verification.

        Args:
            password: the password as submitted.
            hash: the stored hash; ``None`` or ``""`` for an unknown user or an
                account without a password.

        Returns:
            ``(ok, new_hash)``. ``new_hash`` is a fresh current-scheme hash when
            the password is right and the stored hash is legacy or outdated
            (store it); otherwise ``None``.
        """
        submitted: object = password
        if isinstance(submitted, str) and len(submitted) > self._max_length:
            # Cheap rejection, before any hashing: a 1 MiB password must cost
            # nothing. It reveals nothing either: it is the same for every user.
            return False, None
        if not isinstance(submitted, str) or utf8(submitted) is None:
            self.dummy_verify("")
            return False, None
        hasher = self._hasher_for(hash) if hash else None
        if hasher is None or hash is None:
            self.dummy_verify(password)
            return False, None
        if hasher is self.current and not hasher.needs_rehash(hash):
            candidates = current_candidates(password, self._hmac_salt)
            for index, secret in enumerate(candidates):
                if self._verify(hasher, secret, hash):
                    # The second candidate is a Flask-Security pre-hash: upgrade it.
                    return True, (None if index == 0 else self.hash(password))
            return False, None
        legacy = legacy_candidates(password, self._hmac_salt, plain_bcrypt=is_plain_bcrypt(hash))
        for secret in legacy:
            if self._verify(hasher, secret, hash):
                return True, self.hash(password)
        return False, None

    def dummy_verify(self, password: str, decoy: str | None = None) -> None:
        """Spend the work of a failed verification, for sign-ins of unknown users.

        Without ``decoy``, ``password`` is verified against a hash of a random
        string made once per instance with the current parameters, so it can
        never match (SECURITY §1.3 #21). With ``decoy`` (a stored hash of
        another scheme or cost, see :mod:`authgate.flows.decoys`), it is
        verified against that hash exactly as a failed check of it would be:
        every candidate form is tried, whatever matches, and nothing is ever
        rehashed, so the time says nothing about the password.
        """
        submitted: object = password
        if not isinstance(submitted, str) or utf8(submitted) is None:
            password = ""
        hasher = self._hasher_for(decoy) if decoy else None
        if hasher is None or decoy is None:
            dummy = self._get_dummy_hash()
            for secret in current_candidates(password, self._hmac_salt):
                self._verify(self.current, secret, dummy)
            return
        if hasher is self.current and not hasher.needs_rehash(decoy):
            candidates = current_candidates(password, self._hmac_salt)
        else:
            candidates = legacy_candidates(
                password, self._hmac_salt, plain_bcrypt=is_plain_bcrypt(decoy)
            )
        for secret in candidates:
            self._verify(hasher, secret, decoy)

    def current_prefix(self) -> str:
        """What every hash of the current scheme and parameters starts with (salt excluded).

        Examples:
            >>> from authgate.settings import Settings
            >>> PasswordHasher.for_tests(Settings(secret="x" * 32)).current_prefix()
            '$argon2id$v=19$m=1024,t=1,p=1$'
        """
        return self._get_dummy_hash().rsplit("$", 2)[0] + "$"

    def acceptable(self, hash: str) -> bool:
        """Whether a stored hash from elsewhere may be imported as it is.

        ``False`` for a hash whose cost is past what its scheme ever verifies
        (a ``$2b$31$`` bcrypt row would pin a hashing slot for days, finding
        S11): it could never be checked, so importing it is an error. Other
        hashes are kept as they are, including formats no scheme knows and
        malformed ones: they never verify, costing nothing, and an extra
        hasher may claim them later.
        """
        hasher = self._hasher_for(hash)
        check = getattr(hasher, "too_costly", None)
        return check is None or not check(hash)

    def needs_rehash(self, hash: str) -> bool:
        """Whether ``hash`` is not a current-scheme, current-parameters hash."""
        hasher = self._hasher_for(hash)
        if hasher is None or hasher is not self.current:
            return True
        return hasher.needs_rehash(hash)

    # -- internals ----------------------------------------------------------
    def _hasher_for(self, hash: str | None) -> Hasher | None:
        if not isinstance(hash, str) or not hash:
            return None
        for hasher in self.hashers.values():
            if hasher.identify(hash):
                return hasher
        return None

    def _verify(self, hasher: Hasher, secret: str, hash: str) -> bool:
        def work() -> bool:
            try:
                return hasher.verify(secret, hash)
            except Exception:
                # Built-in hashers never raise; a plugged-in one might. A sign-in
                # must fail closed, not with a 500. The secret is not logged.
                logger.warning("%s hasher raised while verifying", hasher.scheme, exc_info=True)
                return False

        return self._slots.run(work)

    def _get_dummy_hash(self) -> str:
        if self._dummy_hash is None:
            with self._dummy_lock:
                if self._dummy_hash is None:
                    token = secrets.token_urlsafe(32)
                    self._dummy_hash = self._slots.run(self.current.hash, token)
        return self._dummy_hash


_T = TypeVar("_T")


class _HashThreads:
    """At most ``size`` threads that compute hashes; callers wait for their result.

    Created on first use, and again in a forked child (a pool inherited
    through ``fork`` has no live threads).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def run(self, work: Callable[..., _T], *args: object) -> _T:
        """Run ``work(*args)`` on a hashing thread and return (or raise) its result."""
        pool = self._pool
        if pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    self._pool = ThreadPoolExecutor(self._size, thread_name_prefix="authgate-hash")
                    self._pid = os.getpid()
                pool = self._pool
        return pool.submit(work, *args).result()
