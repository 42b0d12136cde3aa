"""argon2id through argon2-cffi: the default scheme.

New hashes are argon2id PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)
with a 16-byte salt and a 32-byte tag. ``$argon2i$`` and ``$argon2d$`` hashes
(passlib and Flask-Security produced them) still verify and are flagged for
rehashing.
"""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from authgate.passwords.base import utf8

__all__ = ["Argon2Hasher"]

_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")

# argon2-cffi trusts the parameters written in the hash ("it is assumed that the
# caller is in full control of the hash"). A corrupted or planted row with
# m=4 GiB would take the process down, so stored hashes beyond these bounds
# fail verification instead. They are far above any sane production setting.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_TIME_COST = 64
_MAX_PARALLELISM = 64


class Argon2Hasher:
    """argon2id hashes; verifies argon2i/argon2d too.

    Args:
        time_cost: iterations (OWASP: 2 with 19 MiB).
        memory_cost: memory in KiB (OWASP: 19456).
        parallelism: lanes (OWASP: 1).
    """

    scheme = "argon2"

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )

    def identify(self, hash: str) -> bool:
        """Whether ``hash`` is an argon2 PHC string of any variant."""
        return hash.startswith(_PREFIXES)

    def hash(self, password: str) -> str:
        """A new argon2id hash of ``password``."""
        return self._ph.hash(password)

    def verify(self, password: str, hash: str) -> bool:
        """Whether ``password`` matches ``hash``; ``False`` for malformed hashes."""
        secret = utf8(password)
        if secret is None or not self.identify(hash) or not _sane(hash):
            return False
        try:
            return self._ph.verify(hash, secret)
        except (VerificationError, InvalidHashError, ValueError):
            # VerifyMismatchError is a VerificationError; a truncated hash can
            # surface as either of the others.
            return False

    def too_costly(self, hash: str) -> bool:
        """Whether ``hash`` is an argon2 hash whose parameters are past the sane bounds."""
        try:
            argon2.extract_parameters(hash)
        except (InvalidHashError, ValueError):
            return False  # malformed: it never verifies, and costs nothing
        return not _sane(hash)

    def needs_rehash(self, hash: str) -> bool:
        """Whether ``hash`` differs from the current parameters (including the variant)."""
        try:
            return self._ph.check_needs_rehash(hash)
        except (InvalidHashError, ValueError):
            return True


def _sane(hash: str) -> bool:
    try:
        params = argon2.extract_parameters(hash)
    except (InvalidHashError, ValueError):
        return False
    return (
        params.memory_cost <= _MAX_MEMORY_KIB
        and params.time_cost <= _MAX_TIME_COST
        and 1 <= params.parallelism <= _MAX_PARALLELISM
    )
