"""The audit trail, stored and queryable: ``auth.audit``.

Every security event (sign-ins and their failures, sign-outs, credential and
address changes, session revocations, reauthentication, account deletion,
role changes, administrators' and the command line's actions) is written to
the ``authgate.audit`` logger as one JSON line *and* stored, when the store
keeps an audit trail (:class:`~authgate.stores.base.AuditStore`: the memory,
SQLAlchemy and Django stores do). An event records the kind, the outcome,
the user id, who acted, the client IP and user agent, the UTC time and a few
non-secret details; never a password, a token or a hash.

Storing an event never fails the flow it records: a storage error is logged
(on ``authgate.store``) and the flow goes on. Events older than
``audit_retention`` seconds are purged by ``authgate audit purge`` (run it
from cron for processes that live less than an hour) and, once an hour in a
long-running process, by a background thread started after an event is
stored (never on the request's own path).

Reading it::

    auth.audit.events(user, since=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    auth.audit.events(kinds=["sign_in"], limit=20)[0].to_dict()
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from authgate.errors import FeatureDisabled, ValidationError
from authgate.models import SecurityEvent
from authgate.settings import Settings
from authgate.stores.base import AuditStore

__all__ = ["EVENT_KINDS", "MAX_EVENTS", "PURGE_INTERVAL", "AuditTrail"]

log = logging.getLogger("authgate.store")

#: Every kind of event, with what it records. ``outcome`` is ``"success"``
#: unless noted; failures carry ``details["reason"]``.
EVENT_KINDS: Mapping[str, str] = {
    "sign_up": "an account was created by signing up",
    "sign_in": "a sign-in; details: factor (password, email_link, app, passkey), second_factor "
    "(totp, recovery_code, email, or a registered one such as passkey, when one was asked); "
    "failures: reason (unknown, password, disabled, unconfirmed, throttled, unknown_passkey, "
    "other_user, user_handle, assertion)",
    "sign_out": "a session was signed out",
    "reauthenticate": "the session proved a credential again; failures: reason "
    "(password, throttled)",
    "password_change": "the password was changed (by the user, or set by an admin); failures: "
    "reason (password, throttled, reauth_required)",
    "password_reset_request": "a reset link was emailed",
    "password_reset": "the password was reset with an emailed link",
    "login_link_request": "a sign-in link was emailed",
    "email_confirm": "an address was confirmed; details: purpose (confirm_email, change_email, "
    "add_email)",
    "email_change_request": "a change of address was asked for (the link goes to the new one); "
    "failures: reason (password, throttled, reauth_required)",
    "email_change": "the address was changed (the new one confirmed)",
    "username_change": "the username was changed; failures: reason (password, throttled, "
    "reauth_required)",
    "email_add": "an extra address was added (to be confirmed); failures as above",
    "email_remove": "an extra address was removed; failures as above",
    "email_make_primary": "an extra address became the primary one; failures as above",
    "session_revoke": "one session was revoked",
    "sessions_revoke_others": "every other session was revoked; details: count",
    "profile_update": "the user changed their own profile fields; details: fields (the names)",
    "sessions_revoke": "every session of the user was revoked (an administrator); details: count",
    "account_delete": "the account was deleted (by its user, an admin or the command line); "
    "failures as above",
    "user_create": "an admin created the account",
    "user_activate": "an admin activated the account",
    "user_deactivate": "an admin deactivated the account (its sessions ended)",
    "user_confirm": "an admin marked the address confirmed",
    "role_add": "the user was given a role; details: role",
    "role_remove": "a role was taken from the user; details: role",
    "role_create": "a role was created; details: role",
    "role_delete": "a role was deleted; details: role",
    "role_permissions": "a role's permissions changed; details: role, permissions",
    "invite": "an invitation was sent",
    "refresh_token_reuse": "a retired refresh token was presented again: its session and every "
    "refresh token of it ended (outcome failure; details: session_ended)",
    "api_key_create": "a personal API key was made; details: key_id, name, scopes",
    "api_key_revoke": "a personal API key was revoked; details: key_id",
    "api_key_refused": "a valid API key came from an address outside its allowlist (outcome "
    "failure; details: key_id)",
    "passkey_register": "a passkey was added; details: passkey_id; failures: reason "
    "(attestation, reauth_required)",
    "passkey_rename": "a passkey was renamed; details: passkey_id",
    "passkey_delete": "a passkey was removed; details: passkey_id; failures: reason "
    "(reauth_required)",
    "passkey_sign_count": "a passkey's signature counter did not grow (a cloned authenticator?): "
    "the sign-in was refused (outcome failure; details: passkey_id, stored, received)",
    "two_factor_challenge": "a first factor was right and a second one was asked for; details: "
    "factor, setup (the account must set one up)",
    "two_factor_verify": "a wrong second factor (outcome failure; details: method, reason: code "
    "or throttled); a right one is a sign_in with second_factor",
    "two_factor_trusted_device": "a trusted device skipped the second factor",
    "two_factor_trusted_devices_forget": "every trusted device of the user was forgotten",
    "two_factor_email_code": "a sign-in code was emailed; failures: reason (throttled)",
    "two_factor_setup": "an authenticator app set-up was started (not active yet)",
    "two_factor_enable": "an authenticator app became active; failures: reason (code)",
    "two_factor_disable": "the authenticator app was turned off; failures: reason (password, "
    "throttled, reauth_required)",
    "two_factor_reset": "an administrator removed the user's second factor",
    "recovery_codes_regenerate": "a new set of recovery codes replaced the old one; failures: "
    "reason (reauth_required)",
    "recovery_code_used": "a recovery code was used to sign in; details: left",
}

#: The most events one query returns.
MAX_EVENTS = 1000

#: The opportunistic purge runs at most this often per ``Auth``.
PURGE_INTERVAL = dt.timedelta(hours=1)


def _utc(value: object, name: str) -> dt.datetime | None:
    """An aware datetime in UTC (what the stores compare with), or ``ValidationError``."""
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        try:
            return value.astimezone(dt.timezone.utc)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00
            pass
    raise ValidationError(
        f"{name} must be an aware datetime (with a time zone) from year 1 on.",
        fields={name: "invalid"},
    )


class AuditTrail:
    """The stored audit trail of one :class:`~authgate.Auth` (``auth.audit``).

    Args:
        store: where events are kept; ``None`` (or a store without the
            :class:`~authgate.stores.base.AuditStore` methods) keeps them in
            the log only.
        settings: reads ``audit_retention``.
        clock: the current aware UTC time.
    """

    def __init__(
        self,
        store: object | None,
        settings: Settings,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store: AuditStore | None = store if isinstance(store, AuditStore) else None
        self.retention = settings.audit_retention
        self._clock = clock
        self._lock = threading.Lock()
        self._last_purge: dt.datetime | None = None
        self._purging: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """Whether events are stored (not only logged)."""
        return self.store is not None

    def add(self, event: SecurityEvent) -> None:
        """Store ``event`` (one INSERT); never raises. May start the hourly purge."""
        if self.store is None:
            return
        try:
            self.store.add_event(event)
        except Exception as exc:
            log.error(
                "could not store the %s security event of user %s: %s",
                event.kind, event.user_id, type(exc).__name__,
            )  # fmt: skip
            return
        self._maybe_purge(event.at)

    def events(
        self,
        user: Any = None,
        *,
        kinds: Iterable[str] | str | None = None,
        since: dt.datetime | None = None,
        before: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[SecurityEvent]:
        """Stored events, newest first.

        Args:
            user: only this user's events (a user object or a user id).
            kinds: only these kinds (see :data:`EVENT_KINDS`); a string is one kind.
            since: only events at or after this aware datetime.
            before: only events strictly before this aware datetime (pass the
                ``at`` of the last event of a page to get the next one).
            limit: at most this many (1 to :data:`MAX_EVENTS`).

        Raises:
            ValidationError: an unknown kind, a naive datetime, a bad limit.
            FeatureDisabled: the store keeps no audit trail.
            ServiceUnavailable: the store cannot be reached.

        Examples:
            >>> auth = Auth(secret="s" * 32)  # doctest: +SKIP
            >>> r = auth.sign_up("alice@example.com", "correct horse battery")  # doctest: +SKIP
            >>> [e.kind for e in auth.audit.events(r.user)]  # doctest: +SKIP
            ['sign_up']
        """
        store = self._require_store()
        wanted = [kinds] if isinstance(kinds, str) else list(kinds or ())
        unknown = [k for k in wanted if k not in EVENT_KINDS]
        if unknown:
            raise ValidationError(
                f"Unknown event kind {unknown[0]!r}.", fields={"kinds": "invalid"}
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS:
            raise ValidationError(
                f"limit must be a whole number from 1 to {MAX_EVENTS}.", fields={"limit": "invalid"}
            )
        since = _utc(since, "since")
        before = _utc(before, "before")
        user_id = None
        if user is not None:
            user_id = str(getattr(user, "id", user))
        return store.list_events(
            user_id=user_id, kinds=wanted, since=since, before=before, limit=limit
        )

    def purge(self, older_than: int | None = None) -> int:
        """Delete events older than ``older_than`` seconds (default: ``audit_retention``).

        Returns:
            How many events were deleted (0 when no retention is set and none is given).

        Raises:
            ValidationError: ``older_than`` is not a positive number of seconds.
            FeatureDisabled: the store keeps no audit trail.
        """
        store = self._require_store()
        age = self.retention if older_than is None else older_than
        if age is None:
            return 0
        invalid = ValidationError(
            "older_than must be a positive number of seconds.", fields={"older_than": "invalid"}
        )
        if isinstance(age, bool) or not isinstance(age, int) or age <= 0:
            raise invalid
        try:
            cutoff = self._clock() - dt.timedelta(seconds=age)
        except OverflowError:  # older than year 1: nothing is
            raise invalid from None
        return store.purge_events(cutoff)

    def wait(self, timeout: float | None = 10.0) -> None:
        """Wait for a background purge in progress (tests; the command line before exiting)."""
        thread = self._purging
        if thread is not None:
            thread.join(timeout)

    # -- internals ------------------------------------------------------------
    def _require_store(self) -> AuditStore:
        if self.store is None:
            raise FeatureDisabled("This store keeps no audit trail (events are only logged).")
        return self.store

    def _maybe_purge(self, now: dt.datetime) -> None:
        """Start the background purge once an hour has passed since the last one.

        The clock starts at the first event this trail stores: a process that
        has just started (or a short-lived one, such as a command or a test)
        starts no thread; a long-running one purges every hour.
        """
        if self.retention is None:
            return
        last = self._last_purge
        if last is not None and dt.timedelta(0) <= now - last < PURGE_INTERVAL:
            return
        with self._lock:
            last = self._last_purge
            if last is None:
                self._last_purge = now
                return
            running = self._purging is not None and self._purging.is_alive()
            if running or dt.timedelta(0) <= now - last < PURGE_INTERVAL:
                return
            self._last_purge = now
            cutoff = now - dt.timedelta(seconds=self.retention)
            self._purging = threading.Thread(
                target=self._purge_quietly, args=(cutoff,), name="authgate-audit-purge", daemon=True
            )
            self._purging.start()

    def _purge_quietly(self, cutoff: dt.datetime) -> None:
        store = self.store
        assert store is not None
        try:
            store.purge_events(cutoff)
        except Exception as exc:
            log.error("could not purge old security events: %s", type(exc).__name__)
        finally:
            release = getattr(store, "release_thread", None)
            if release is not None:
                try:
                    release()
                except Exception:
                    log.debug("releasing the purge thread's connection failed", exc_info=True)
