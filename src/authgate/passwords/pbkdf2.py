"""PBKDF2-HMAC through :func:`hashlib.pbkdf2_hmac` (the FIPS-140 choice).

Written: passlib's ``$pbkdf2-sha256$<rounds>$<salt>$<checksum>`` with a
16-byte salt and a 32-byte checksum, both in passlib's "ab64" (standard base64
with ``+`` written as ``.``, no padding).

Verified as well:

* passlib ``$pbkdf2$`` (HMAC-SHA1, 20 bytes) and ``$pbkdf2-sha512$`` (64 bytes);
* Django ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` and ``pbkdf2_sha1$...``,
  where the salt is used as its literal (ASCII) text and the hash is standard
  padded base64 of a digest-sized key.

Anything other than ``$pbkdf2-sha256$`` at or above the configured iterations
needs a rehash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from typing import Literal

from authgate.passwords.base import ab64_decode, ab64_encode, utf8

__all__ = ["Pbkdf2Hasher"]

_Digest = Literal["sha1", "sha256", "sha512"]

_PASSLIB = re.compile(
    r"^\$pbkdf2(?:-(?P<digest>sha256|sha512))?\$(?P<rounds>[1-9]\d{0,9})"
    r"\$(?P<salt>[./A-Za-z0-9]{0,1024})\$(?P<checksum>[./A-Za-z0-9]{27,86})\Z"
)
_DJANGO = re.compile(
    r"^pbkdf2_(?P<digest>sha256|sha1)\$(?P<rounds>[1-9]\d{0,9})"
    r"\$(?P<salt>[^$]{1,1024})\$(?P<checksum>[A-Za-z0-9+/]{27,86}={0,2})\Z"
)
_PREFIXES = ("$pbkdf2$", "$pbkdf2-sha256$", "$pbkdf2-sha512$", "pbkdf2_sha256$", "pbkdf2_sha1$")
# passlib's plain "$pbkdf2$" is HMAC-SHA1.
_DIGESTS: dict[str | None, _Digest] = {
    None: "sha1",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha512": "sha512",
}
_DIGEST_SIZE: dict[_Digest, int] = {"sha1": 20, "sha256": 32, "sha512": 64}
_SALT_BYTES = 16
# Stored iteration counts above this fail verification: a corrupted row must
# not pin a worker for minutes. OWASP's highest figure is 1.4 million (SHA-1).
_MAX_ROUNDS = 20_000_000


class Pbkdf2Hasher:
    """PBKDF2-HMAC-SHA256 hashes; verifies passlib and Django PBKDF2 formats.

    Args:
        iterations: PBKDF2-HMAC-SHA256 iterations (OWASP: 600,000).
    """

    scheme = "pbkdf2"

    def __init__(self, iterations: int) -> None:
        if iterations < 1:
            raise ValueError(f"pbkdf2 iterations must be positive, got {iterations}")
        self.iterations = iterations

    def identify(self, hash: str) -> bool:
        """Whether ``hash`` is a passlib or Django PBKDF2 hash."""
        return hash.startswith(_PREFIXES)

    def hash(self, password: str) -> str:
        """A new ``$pbkdf2-sha256$`` hash of ``password``."""
        salt = os.urandom(_SALT_BYTES)
        key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, self.iterations)
        return f"$pbkdf2-sha256${self.iterations}${ab64_encode(salt)}${ab64_encode(key)}"

    def verify(self, password: str, hash: str) -> bool:
        """Whether ``password`` matches ``hash``; ``False`` for malformed hashes."""
        secret = utf8(password)
        parsed = _parse(hash)
        if secret is None or parsed is None:
            return False
        digest, rounds, salt, expected = parsed
        # The key length is fixed per format: a truncated checksum (a prefix of
        # the real one) must not verify.
        if len(expected) != _DIGEST_SIZE[digest] or rounds > _MAX_ROUNDS:
            return False
        key = hashlib.pbkdf2_hmac(digest, secret, salt, rounds, len(expected))
        return hmac.compare_digest(key, expected)

    def too_costly(self, hash: str) -> bool:
        """Whether ``hash`` is a PBKDF2 hash with more iterations than are ever verified."""
        parsed = _parse(hash)
        return parsed is not None and parsed[1] > _MAX_ROUNDS

    def needs_rehash(self, hash: str) -> bool:
        """True unless ``hash`` is ``$pbkdf2-sha256$`` with at least the configured rounds."""
        match = _PASSLIB.match(hash)
        if match is None or match["digest"] != "sha256":
            return True
        return int(match["rounds"]) < self.iterations


def _parse(hash: str) -> tuple[_Digest, int, bytes, bytes] | None:
    """(digest, rounds, salt bytes, expected key) of a stored hash, or None."""
    if match := _PASSLIB.match(hash):
        digest = _DIGESTS[match["digest"]]
        salt, checksum = ab64_decode(match["salt"]), ab64_decode(match["checksum"])
    elif match := _DJANGO.match(hash):
        digest = _DIGESTS[match["digest"]]
        # Django hashes the salt's text as is; the checksum is padded base64.
        salt = match["salt"].encode("utf-8", "surrogatepass")
        try:
            checksum = base64.b64decode(match["checksum"], validate=True)
        except (binascii.Error, ValueError):
            checksum = None
    else:
        return None
    if salt is None or checksum is None:
        return None
    return digest, int(match["rounds"]), salt, checksum
