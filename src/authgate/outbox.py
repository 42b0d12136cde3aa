"""The durable outbox of security notices: ``auth.outbox`` (SECURITY.md R6, F8b).

A *notice* tells a user about something that happened to their account and
carries nothing to use: "your password was changed", "...was reset", "your
username / email address was changed" (to the old address), "your account
was deleted", "someone tried to sign up with your address", and the welcome
email. These are the emails that must not be lost, so each one is:

1. **rendered before the write** that makes the change, and stored in the
   same transaction (``update_user(..., outbox=[notice])``, ``delete_user``,
   ``swap_primary_email``, ``create_user``): a crash after the commit cannot
   lose it, and a write that fails or is refused by its condition leaves none;
2. **sent right after the flow returns**, as every email is (in the mail
   threads for server mailers, never on the request path): the delivery first
   claims the row by one conditional write, then hands the message to the
   mailer, then deletes the row;
3. **sent again** if that failed or never happened (a mail outage, a process
   killed after the commit): ``outbox_retry_delay`` seconds after it was
   stored or last tried, then twice as long each time, up to an hour apart,
   by a daemon thread that runs while this process knows of waiting notices,
   which it checks when ``Auth`` starts; and by ``authgate mail flush-outbox``
   (or :meth:`Outbox.flush`). After ``outbox_max_attempts`` deliveries it is
   given up, with an ERROR on ``authgate.mail``.

**At least once, and once in practice.** Every delivery claims the row first
(``UPDATE ... SET attempts = attempts + 1 WHERE id = ? AND attempts = ?``), so
of several processes' dispatchers exactly one sends a given attempt. A
notice is sent twice only when the mailer accepted it and the process
stopped (or the database failed) before the row was deleted, or when one
delivery outlasted its claim (a retry delay shorter than the mail server's
timeout): the alternative, deleting before sending, would lose notices.

Emails that carry a live link (confirmation, reset, sign-in link,
invitation, address confirmations) are **never stored**: their token must
not sit in the database in clear (SECURITY.md #14). They are sent as before,
and every one of them can be asked for again.

Why rendered, not rendered later: the stored message is exactly what the
user would have got at the moment of the change, from the web app's own
templates and ``base_url``, so any process can send it (the command line
included) and it still makes sense when the account is gone. Notices carry
no secret, so their text may be stored; the templates a notice is rendered
from get the account as it was just before the change (the change itself is
in the template's values: ``new_email``, ``new_username``...).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from authgate.flows.notify import MailService
from authgate.mail import Mailer
from authgate.models import Notice
from authgate.settings import Settings

__all__ = ["MAX_RETRY_DELAY", "NOTICE_KINDS", "FlushReport", "Outbox"]

logger = logging.getLogger("authgate.mail")

#: The email kinds that go through the outbox: none carries a link to use.
NOTICE_KINDS = frozenset(
    {
        "password_changed",
        "password_reset",
        "username_changed",
        "email_changed",
        "account_deleted",
        "registration_attempt",
        "welcome",
        "passkey_added",
        "passkey_removed",
        "two_factor_changed",
    }
)

#: The longest wait between two deliveries of a notice (unless
#: ``outbox_retry_delay`` itself is longer).
MAX_RETRY_DELAY = dt.timedelta(hours=1)

#: How many due notices one pass of the dispatcher takes on.
BATCH = 100


@dataclass(frozen=True)
class FlushReport:
    """What one pass over the outbox did (:meth:`Outbox.flush`)."""

    #: Notices a mailer accepted (and that were removed).
    sent: int = 0
    #: Notices whose delivery failed; they are sent again later.
    failed: int = 0
    #: Notices given up after ``outbox_max_attempts`` deliveries.
    given_up: int = 0
    #: Due notices another process claimed first.
    skipped: int = 0
    #: Whether notices are still waiting (due later), after the pass.
    waiting: bool = False


class Outbox:
    """The notice outbox of one :class:`~authgate.Auth` (``auth.outbox``).

    The flows :meth:`prepare` notices, hand them to the store write that makes
    the change, and :meth:`deliver` them after it. Nothing here runs on the
    request path but the rendering and, for mailers called in the request's
    thread, the delivery (as for every email).

    Args:
        store: where notices are kept (an :class:`~authgate.stores.base.OutboxStore`).
        mail: renders and delivers (its mailer, its threads).
        settings: reads ``outbox_retry_delay`` and ``outbox_max_attempts``.
        clock: the current aware UTC time.

    Attributes:
        context: called around every use of the store outside the flows (the
            dispatcher thread, the mail threads); a Flask-SQLAlchemy store
            needs the app context there (``setup_for_flask`` sets it).
        poll_interval: seconds between two passes of the dispatcher thread
            (default: ``outbox_retry_delay``).
    """

    def __init__(
        self,
        store: Any,
        mail: MailService,
        settings: Settings,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.mail = mail
        self.retry_delay = dt.timedelta(seconds=settings.outbox_retry_delay)
        self.max_attempts = settings.outbox_max_attempts
        self.context: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        self.poll_interval: float = float(settings.outbox_retry_delay)
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self._deferred = False
        self._stop = threading.Event()
        mail.on_use(self._mailer_changed)
        # A dropped Auth stops its dispatcher when collected (the thread holds no reference).
        weakref.finalize(self, self._stop.set)

    # -- what the flows call ----------------------------------------------------

    def prepare(
        self, kind: str, to: str, user: Any, *, new_user: bool = False, **context: Any
    ) -> tuple[Notice, ...]:
        """Render a notice now, to be stored by the write that makes the change.

        Args:
            kind: one of :data:`NOTICE_KINDS`.
            to: the recipient.
            user: the user it is about, as they are before the change.
            new_user: the user is being created (``create_user`` fills in its id).
            **context: the template's values (``old_email``, ``new_username``...).

        Returns:
            The notice, or nothing when rendering failed (logged at ERROR and
            signalled as ``mail_failed``: the change goes ahead).

        Raises:
            ValueError: ``kind`` is not a notice (an email with a link to use
                must never be stored).
        """
        if kind not in NOTICE_KINDS:
            raise ValueError(f"{kind!r} emails are not notices and are never stored")
        message = self.mail.render(kind, to, user, **context)
        if message is None:
            return ()
        now = self._clock()
        notice = Notice.of(message, created_at=now, next_attempt_at=now + self.retry_delay)
        return (replace(notice, user_id=None),) if new_user else (notice,)

    def deliver(self, notices: Sequence[Notice], user: Any = None) -> None:
        """Send stored notices now (in the mail threads unless the mailer is synchronous).

        Call it once the write that stored them has committed. ``user`` (the
        user after the change, if any) becomes ``message.user``.
        """
        if not notices:
            return
        self.mail.warn_if_console()
        for notice in notices:
            self.mail.run(functools.partial(self._first_delivery, notice, user))

    def send(self, kind: str, to: str, user: Any, **context: Any) -> None:
        """Store a notice that goes with no change of the user, and send it.

        Rendering, storing and the first delivery all run where deliveries
        run (the mail threads, for server mailers): "someone tried to sign up
        with your address" is the branch of a flow whose other branch emails a
        link, and both must cost the request the same. If it cannot be
        stored, it is still sent once (the failure is logged).
        """
        self.mail.warn_if_console()
        self.mail.run(functools.partial(self._store_and_send, kind, to, user, context))

    def discard(self, notices: Sequence[Notice]) -> None:
        """Remove stored notices that must not go out after all (the change was undone)."""
        for notice in notices:
            try:
                self.store.delete_notice(notice.id)
            except Exception as exc:
                logger.error(
                    "could not discard the %s notice %s: %s",
                    notice.kind, notice.id, type(exc).__name__,
                )  # fmt: skip

    # -- the dispatcher -----------------------------------------------------------

    def pending(self, limit: int = 100) -> list[Notice]:
        """Notices waiting in the outbox, the soonest due first.

        Raises:
            ServiceUnavailable: the store cannot be reached.
        """
        return list(self.store.list_notices(limit=limit))

    def flush(self, *, limit: int = BATCH, mailer: Mailer | None = None) -> FlushReport:
        """Send the notices that are due now: one pass, in the caller's thread.

        Each is claimed first (a notice another process claimed meanwhile is
        skipped), handed to the mailer, and removed once accepted. The
        command line's ``authgate mail flush-outbox`` calls this.

        Args:
            limit: at most this many notices.
            mailer: send with this mailer instead of the configured one.

        Raises:
            ServiceUnavailable: the store cannot be reached.
        """
        now = self._clock()
        sent = failed = given_up = skipped = 0
        for notice in self.store.list_notices(due_by=now, limit=limit):
            if notice.attempts >= self.max_attempts:
                # Its last delivery was claimed and never finished (the process stopped).
                if self.store.delete_notice(notice.id):
                    logger.error(
                        "gave up on the %s email to user %s after %d attempts (notice %s; the "
                        "last one stopped before it finished)",
                        notice.kind, notice.user_id, notice.attempts, notice.id,
                    )  # fmt: skip
                    given_up += 1
                continue
            attempt = notice.attempts + 1
            if not self.store.claim_notice(notice.id, notice.attempts, now + self._wait(attempt)):
                skipped += 1
                continue
            user = self._user(notice.user_id)
            outcome = self._send(notice, user, attempt, background=False, mailer=mailer)
            if outcome == "sent":
                sent += 1
            elif outcome == "failed":
                failed += 1
            else:
                given_up += 1
        waiting = bool(self.store.list_notices(limit=1))
        return FlushReport(sent, failed, given_up, skipped, waiting)

    def start(self) -> None:
        """Check the outbox once (``Auth`` start) and keep the dispatcher running if needed.

        One indexed query: when notices are waiting (a process stopped before
        sending them, or the mail server was down), the dispatcher thread
        starts and runs until the outbox is empty. A failed check is logged,
        never raised (the next failed delivery, the next start or
        ``authgate mail flush-outbox`` sends them).

        Without a mailer (the console mailer, outside ``debug``), nothing is
        resent: that would print and drop notices another process would
        send (an ``authgate`` command run from a shell, an app whose mailer is
        given later: the check runs again when it is, see
        :meth:`~authgate.flows.notify.MailService.use`).
        """
        if not self.mail.sends:
            self._deferred = True
            return
        self._deferred = False
        try:
            with self.context():
                waiting = bool(self.store.list_notices(limit=1))
        except Exception as exc:
            logger.warning(
                "could not check the outbox for waiting notices (%s); is the authgate_outbox "
                "table there? (authgate db upgrade, manage.py migrate, or your own migrations)",
                type(exc).__name__,
            )
            return
        if waiting:
            self._ensure_dispatcher()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the dispatcher thread (waiting notices stay for the next start)."""
        self._stop.set()
        with self._lock:  # a thread being started is assigned once started
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def dispatching(self) -> bool:
        """Whether the dispatcher thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- internals ------------------------------------------------------------------

    def _wait(self, attempt: int) -> dt.timedelta:
        """How long after its ``attempt``-th delivery started a notice may be sent again."""
        longest = max(self.retry_delay, MAX_RETRY_DELAY)
        try:
            wait: dt.timedelta = self.retry_delay * 2 ** min(attempt - 1, 32)
        except OverflowError:  # a retry delay of centuries
            return longest
        return min(wait, longest)

    def _first_delivery(self, notice: Notice, user: Any) -> None:
        """The delivery right after the flow: claim, send, remove (in the mail threads)."""
        try:
            with self.context():
                if not self.store.claim_notice(notice.id, 0, self._clock() + self._wait(1)):
                    return  # already sent by another process's dispatcher (a slow start)
                self._send(notice, user, 1, background=True)
        except Exception as exc:  # the store failed: the dispatcher sends it later
            logger.warning(
                "could not claim the %s notice %s (%s); it is sent by the dispatcher",
                notice.kind, notice.id, type(exc).__name__,
            )  # fmt: skip
            self._ensure_dispatcher()
        finally:
            self._release()

    def _send(
        self,
        notice: Notice,
        user: Any,
        attempt: int,
        *,
        background: bool,
        mailer: Mailer | None = None,
    ) -> str:
        """Deliver a claimed notice: ``"sent"``, ``"failed"`` (retried) or ``"given_up"``.

        With ``background``, a notice left in the outbox starts the dispatcher
        thread (the first delivery); a pass of :meth:`flush` reports it instead.
        """
        try:
            (mailer or self.mail.mailer).send(notice.message(user))
        except Exception as exc:
            if attempt >= self.max_attempts:
                with contextlib.suppress(Exception):
                    self.store.delete_notice(notice.id)
                self.mail.report_failure(
                    notice.kind, user, exc, user_id=notice.user_id, attempts=attempt
                )
                return "given_up"
            retry_in = int(self._wait(attempt).total_seconds())
            self.mail.report_failure(
                notice.kind, user, exc, user_id=notice.user_id, retry_in=retry_in
            )
            if background:
                self._ensure_dispatcher()
            return "failed"
        try:
            self.store.delete_notice(notice.id)
        except Exception as exc:  # sent: it may go out once more when its claim expires
            logger.warning(
                "sent the %s notice %s but could not remove it (%s); it may be sent again",
                notice.kind, notice.id, type(exc).__name__,
            )  # fmt: skip
            if background:
                self._ensure_dispatcher()
        return "sent"

    def _store_and_send(self, kind: str, to: str, user: Any, context: dict[str, Any]) -> None:
        notices = self.prepare(kind, to, user, **context)
        if not notices:
            return
        try:
            with self.context():
                self.store.add_notices(notices)
        except Exception as exc:
            logger.error(
                "could not store the %s notice of user %s (%s); sending it without retries",
                kind, getattr(user, "id", None), type(exc).__name__,
            )  # fmt: skip
            self._release()
            self._send_unstored(notices[0], user)
            return
        self._first_delivery(notices[0], user)

    def _send_unstored(self, notice: Notice, user: Any) -> None:
        try:
            self.mail.mailer.send(notice.message(user))
        except Exception as exc:
            self.mail.report_failure(notice.kind, user, exc)

    def _user(self, user_id: str | None) -> Any:
        """The notice's user for ``message.user`` (``None`` if gone or unreadable)."""
        if user_id is None:
            return None
        try:
            return self.store.get_user(user_id)
        except Exception:
            return None

    def _release(self) -> None:
        """In authgate's own threads, close the thread's database connection (Django keeps
        one per thread, and only closes those of the requests it serves)."""
        release = getattr(self.store, "release_thread", None)
        if release is not None and threading.current_thread().name.startswith("authgate-"):
            with contextlib.suppress(Exception):
                release()

    def _mailer_changed(self) -> None:
        if self._deferred:
            self.start()

    def _ensure_dispatcher(self) -> None:
        """Make sure the dispatcher thread runs (and takes another pass)."""
        if not self.mail.sends:
            return
        with self._lock:
            self._again = True
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            thread = threading.Thread(
                target=_dispatch, args=(weakref.ref(self), self._stop),
                name="authgate-outbox", daemon=True,
            )  # fmt: skip
            thread.start()
            self._thread = thread


def _dispatch(ref: weakref.ReferenceType[Outbox], stop: threading.Event) -> None:
    """The dispatcher thread: a pass, then one every ``poll_interval`` while notices wait.

    It holds the outbox only during a pass, so a dropped ``Auth`` is collected
    (and the thread stopped) as usual.
    """
    while not stop.is_set():
        outbox = ref()
        if outbox is None:
            return
        with outbox._lock:
            outbox._again = False
        try:
            with outbox.context():
                waiting = outbox.flush().waiting
        except Exception as exc:
            logger.error("the outbox dispatcher failed: %s", type(exc).__name__)
            waiting = True
        finally:
            outbox._release()
        with outbox._lock:
            if not waiting and not outbox._again:
                outbox._thread = None
                return
        interval = outbox.poll_interval
        del outbox
        if stop.wait(interval):
            return
