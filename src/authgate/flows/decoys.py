"""Decoy hashes: unknown identifiers cost what real accounts cost, legacy hashes included.

A sign-in for an identifier with no account verifies the password against a
decoy, so it takes as long as a wrong password for a real account. One decoy
made with the current parameters is not enough once accounts still hold
imported (legacy) hashes: a Django PBKDF2 or bcrypt-12 hash costs ten times an
argon2 one, so a slow "wrong password" would say "this account exists and
was imported" (finding S5).

So the decoys follow the accounts: a sample of the stored hashes that are not
current-scheme, current-parameters hashes, and the share of accounts holding
them. Each unknown identifier is mapped, by an HMAC of its canonical form
under the app's secret, to a point in [0, 1): below that share it is verified
against one of the sampled hashes (the same candidates, the same work as a
failed check of that hash, and never a rehash), above it against the
current-scheme decoy. The same identifier always costs the same, as a real
account does, and the unknown identifiers as a whole cost what the accounts
cost. An attacker who sees a legacy-priced answer learns nothing they could
not see for a random address.

The sample is read from the store at first need and again every
:data:`REFRESH_SECONDS` (legacy hashes disappear as their owners sign in).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["REFRESH_SECONDS", "SAMPLE_SIZE", "Decoys"]

logger = logging.getLogger("authgate.passwords")

#: How often the sample of stored hashes is read again.
REFRESH_SECONDS = 600.0
#: At most this many stored legacy hashes are kept as decoys.
SAMPLE_SIZE = 256


@dataclass(frozen=True)
class _Sample:
    share: float
    hashes: tuple[str, ...]
    taken: float


class Decoys:
    """Picks the decoy hash for an unknown identifier.

    Args:
        store: the user store; its ``sample_password_hashes`` gives the sample
            (a store without that method gets current-scheme decoys only).
        current_prefix: returns the prefix shared by every current-scheme,
            current-parameters hash (those cost what the plain decoy costs).
        key: the HMAC key (derived from the app's secret).
        clock: a monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        store: Any,
        current_prefix: Callable[[], str],
        key: bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sampler = getattr(store, "sample_password_hashes", None)
        self._current_prefix = current_prefix
        self._key = key
        self._clock = clock
        self._sample: _Sample | None = None
        self._lock = threading.Lock()

    def pick(self, identifier: str) -> str | None:
        """The stored hash to verify against for ``identifier``; ``None``: the current decoy."""
        sample = self._current()
        if sample is None or not sample.hashes:
            return None
        digest = hmac.new(self._key, identifier.encode("utf-8", "surrogatepass"), hashlib.sha256)
        point = int.from_bytes(digest.digest()[:8], "big") / 2**64
        if point >= sample.share:
            return None
        return sample.hashes[int(point / sample.share * len(sample.hashes))]

    def refresh(self) -> None:
        """Read the sample again now (tests; an import of many legacy hashes)."""
        if self._sampler is None:
            return
        users, legacy, hashes = self._sampler(self._current_prefix(), SAMPLE_SIZE)
        share = min(1.0, legacy / users) if users else 0.0
        self._sample = _Sample(share, tuple(hashes), self._clock())

    def _current(self) -> _Sample | None:
        sample = self._sample
        if self._sampler is None:
            return None
        if sample is not None and self._clock() - sample.taken < REFRESH_SECONDS:
            return sample
        # One caller reads the store; the others go on with what there is.
        if self._lock.acquire(blocking=sample is None):
            try:
                if self._sample is sample:
                    self.refresh()
            except Exception:  # a storage hiccup must not fail the sign-in it serves
                logger.warning("could not read the stored hashes for decoys", exc_info=True)
            finally:
                self._lock.release()
        return self._sample
