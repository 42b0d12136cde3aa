"""What a new password must satisfy (NIST SP 800-63B, OWASP ASVS 6.2): length and blocklists.

There are no composition rules ("one digit, one symbol"): NIST forbids them.
Instead a new password is refused when it is

* shorter than ``password_min_length`` or longer than ``password_max_length``
  code points (after NFKC; the raw length is checked first so a 1 MiB body
  costs nothing);
* equal, ignoring case, to one of the user's identifiers or the site name;
* in the shipped list of common passwords (``check_common_passwords``);
* rejected by the application's ``password_validator``;
* in Have I Been Pwned's corpus (``check_breached_passwords``).

Each refusal is a ``ValidationError`` with ``fields={field: reason}``.

The common-passwords list, ``common-passwords.txt.gz``, is Django's
``django/contrib/auth/common-passwords.txt.gz`` (copied from Django 5.2,
BSD-3-Clause, (c) Django Software Foundation and individual contributors). Django
describes it as 20,000 common passwords created by Royce Williams
(https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce),
unhexed, lowercased and deduplicated, which leaves 19,640 entries.
"""

from __future__ import annotations

import gzip
import importlib.resources
import inspect
import logging
import threading
from collections.abc import Sequence
from typing import Any

from authgate.errors import ServiceUnavailable, ValidationError
from authgate.i18n import N_, Formatted
from authgate.passwords.base import normalize_password, utf8
from authgate.passwords.breached import DEFAULT_TIMEOUT, BreachCheckUnavailable, is_breached
from authgate.settings import Settings

__all__ = ["PasswordPolicy", "common_passwords"]

logger = logging.getLogger("authgate.passwords")

_COMMON_FILE = "common-passwords.txt.gz"
_common: frozenset[str] | None = None
_common_lock = threading.Lock()


def common_passwords() -> frozenset[str]:
    """The shipped common-password list (lowercase), loaded once on first use."""
    global _common  # noqa: PLW0603 -- a process-wide lazy cache of immutable data
    if _common is None:
        with _common_lock:
            if _common is None:
                data = importlib.resources.files(__package__).joinpath(_COMMON_FILE).read_bytes()
                text = gzip.decompress(data).decode("utf-8")
                _common = frozenset(line.strip() for line in text.splitlines() if line.strip())
    return _common


class PasswordPolicy:
    """Checks new passwords (sign-up, change, reset) before they are hashed.

    Args:
        settings: ``password_min_length``, ``password_max_length``,
            ``check_common_passwords``, ``check_breached_passwords``,
            ``breached_passwords_url``, ``password_validator`` and ``site_name``.
        breach_timeout: seconds to wait for the breached-password service.
    """

    def __init__(self, settings: Settings, *, breach_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.settings = settings
        self.breach_timeout = breach_timeout

    def check_length(self, password: object, field: str = "password") -> str:
        """Type, presence and length of a password; nothing is hashed.

        Args:
            password: the submitted value (any JSON type may arrive).
            field: the field name used in the error.

        Returns:
            The NFKC-normalised password.

        Raises:
            ValidationError: ``fields={field: reason}`` with reason ``invalid``
                (not a string, or not encodable text), ``required`` (empty),
                ``too_long`` or ``too_short`` (code points after NFKC).
        """
        if not isinstance(password, str):
            raise self._error(field, "invalid")
        if password == "":
            raise self._error(field, "required")
        limit = self.settings.password_max_length
        # Raw length first: normalising (or hashing) a 1 MiB string is the DoS.
        if len(password) > limit:
            raise self._error(field, "too_long")
        if utf8(password) is None:
            # Lone surrogates (e.g. JSON "\ud800") cannot be stored or hashed.
            raise self._error(field, "invalid")
        normalized = normalize_password(password)
        if len(normalized) > limit:
            # NFKC can expand (U+FDFA is 18 code points), so check again.
            raise self._error(field, "too_long")
        if len(normalized) < self.settings.password_min_length:
            raise self._error(field, "too_short")
        return normalized

    def validate(
        self, password: object, identifiers: Sequence[str] = (), field: str = "password"
    ) -> str:
        """Every check for a new password; returns it NFKC-normalised.

        Args:
            password: the submitted value.
            identifiers: the user's email, username... The email's local part
                and the site name are added automatically.
            field: the field name used in the error.

        Returns:
            The normalised password, ready for :meth:`PasswordHasher.hash`.

        Raises:
            ValidationError: ``fields={field: reason}``: a reason of
                :meth:`check_length`, ``contains_identifier``, ``too_common``,
                ``breached`` or whatever ``password_validator`` returned.
            ServiceUnavailable: ``check_breached_passwords="strict"`` and the
                breach service could not be asked.
        """
        normalized = self.check_length(password, field)
        if self._equals_identifier(normalized, identifiers):
            raise self._error(field, "contains_identifier")
        if self.settings.check_common_passwords and _is_common(normalized):
            raise self._error(field, "too_common")
        validator = self.settings.password_validator
        if validator is not None:
            reason = _run_validator(validator, normalized, tuple(identifiers))
            if reason:
                raise self._error(field, reason)
        # Last: the only check that leaves the process and may wait on the network.
        if self.settings.check_breached_passwords and self._is_breached(normalized):
            raise self._error(field, "breached")
        return normalized

    def describe(self, reason: str) -> str:
        """The sentence shown for a refused password: what is wrong and what is allowed.

        NIST SP 800-63B asks verifiers to say why a password was refused and how
        to choose one that is not; so the limits are in the words (translated
        with them: see :class:`~authgate.i18n.Formatted`).
        """
        limits = {
            "min": self.settings.password_min_length,
            "max": self.settings.password_max_length,
        }
        templates = {
            "too_short": N_("The password is too short: use at least %(min)s characters."),
            "too_long": N_("The password is too long: use at most %(max)s characters."),
            "contains_identifier": N_(
                "The password must not be your email address, your username or the name of "
                "this site. Any other of %(min)s to %(max)s characters will do."
            ),
            "too_common": N_(
                "This password is one of the most common ones, which attackers try first. "
                "Choose a less common one of %(min)s to %(max)s characters; a few unrelated "
                "words work well."
            ),
            "breached": N_(
                "This password has appeared in a data breach, so attackers have it. Choose "
                "another one of %(min)s to %(max)s characters."
            ),
            "required": N_("A password of %(min)s to %(max)s characters is required."),
            "invalid": N_("The password must be text of %(min)s to %(max)s characters."),
        }
        template = templates.get(
            reason,
            N_(
                "This password cannot be used. Choose another one of %(min)s to %(max)s characters."
            ),
        )
        return Formatted(template, **limits)

    def _error(self, field: str, reason: str) -> ValidationError:
        return ValidationError(self.describe(reason), fields={field: reason})

    def _equals_identifier(self, normalized: str, identifiers: Sequence[str]) -> bool:
        words: set[str] = set()
        for identifier in (*identifiers, self.settings.site_name):
            if not isinstance(identifier, str) or not identifier.strip():
                continue
            word = _fold(identifier.strip())
            words.add(word)
            local, at, _domain = word.rpartition("@")
            if at and local:
                words.add(local)
        return _fold(normalized) in words

    def _is_breached(self, normalized: str) -> bool:
        mode = self.settings.check_breached_passwords
        try:
            url = self.settings.breached_passwords_url
            return is_breached(normalized, url, self.breach_timeout)
        except BreachCheckUnavailable as exc:
            if mode == "strict":
                raise ServiceUnavailable(
                    "The password could not be checked right now. Please try again shortly.",
                    retry_after=30,
                ) from exc
            # Best effort: accept the password rather than block sign-ups.
            logger.warning("breached-password check skipped: %s", exc)
            return False


def _fold(text: str) -> str:
    return normalize_password(text).casefold()


def _is_common(normalized: str) -> bool:
    # The list is lowercase; match the whole password, ignoring case and the
    # surrounding whitespace that adds no strength (as Django does).
    return normalized.strip().lower() in common_passwords()


def _run_validator(validator: Any, password: str, identifiers: tuple[str, ...]) -> str | None:
    """Call the app's validator the way it was written; return a reason or ``None``.

    It may take ``(password, identifiers)`` or just ``(password)``, and answer
    with ``None``/``True`` (fine), ``False`` (``"invalid"``), a reason string,
    or by raising ``ValueError`` (``"invalid"``).
    """
    try:
        parameters = inspect.signature(validator).parameters.values()
        positional = [
            p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        takes_two = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)
    except (TypeError, ValueError):  # builtins without a signature
        takes_two = True
    try:
        answer = validator(password, identifiers) if takes_two else validator(password)
    except ValidationError:
        raise
    except ValueError:
        return "invalid"
    if answer is None or answer is True:
        return None
    if answer is False:
        return "invalid"
    return str(answer) or None
