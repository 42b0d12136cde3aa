"""Sending the emails the flows ask for: render, deliver, never block or leak.

Policy (SPEC §7, SECURITY.md R6/F6), decided once here:

* A flow commits its database change first, then asks for an email, so a
  mail outage can never lose or half-create an account.
* A mailer that talks to a mail server (:class:`~authgate.mail.SMTPMailer`, or
  any mailer with ``synchronous = False``) is called off the request path, in
  a small thread pool: the response never waits on SMTP and takes the same time
  whether or not an email is sent (no enumeration through timing). Other
  mailers and plain callables are called in the request's thread, as an app's
  ``send_email(message)`` expects; hand slow work to a task queue
  (:class:`~authgate.mail.queue.QueueMailer`). A failed delivery never changes
  the answer (no enumeration through errors either).
* A failed delivery is logged at ERROR on ``authgate.mail`` with the email kind,
  user id and a reference, and reported through the ``mail_failed`` signal.
  It is retryable: every flow that sends a link can be asked again
  (resend confirmation, forgot password, magic link...).
* Notices, the emails that carry no link to use ("your password was
  changed"...), go through the durable outbox instead (:mod:`authgate.outbox`):
  stored with the change, sent at once, resent until a mailer takes them.
  Emails with a live link are never stored: their token must not be.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from authgate import signals
from authgate.mail import EmailMessage, Mailer, as_mailer
from authgate.mail.console import ConsoleMailer
from authgate.mail.render import EmailRenderer
from authgate.settings import InsecureSettingWarning, Settings

__all__ = ["MailService"]

logger = logging.getLogger("authgate.mail")


class MailService:
    """Renders and delivers the flows' emails.

    Args:
        settings: used for ``base_url`` and ``site_name`` in templates.
        mailer: a mailer object, a callable, or ``None`` for the console mailer.
        template_dirs: the app's template folders (they override the package's).
        sender: the signal sender (the ``Auth``).
    """

    def __init__(
        self,
        settings: Settings,
        mailer: Any = None,
        template_dirs: tuple[str, ...] = (),
        sender: Any = None,
    ) -> None:
        self.settings = settings
        self.mailer: Mailer = self._mailer(mailer)
        self._warned = False
        self._template_dirs = tuple(template_dirs)
        self.renderer = EmailRenderer(self._template_dirs, settings=settings)
        self._sender = sender
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._listeners: list[Callable[[], None]] = []

    def use(self, mailer: Any) -> None:
        """Deliver through ``mailer`` (an object with ``send`` or a callable) from now on."""
        self.mailer = self._mailer(mailer)
        for listener in list(self._listeners):
            listener()

    def on_use(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` each time :meth:`use` changes the mailer."""
        self._listeners.append(listener)

    @property
    def sends(self) -> bool:
        """Whether emails really leave: a mailer is configured, or ``debug`` is on (then
        printing them is what the developer wants)."""
        return self.settings.debug or not self.prints_to_console

    def _mailer(self, mailer: Any) -> Mailer:
        # The default console mailer shows links only in debug (finding U9).
        return as_mailer(
            ConsoleMailer(show_links=self.settings.debug) if mailer is None else mailer
        )

    def add_template_dir(self, path: str) -> None:
        """Look for overriding ``authgate/email/...`` templates in ``path`` first."""
        if path not in self._template_dirs:
            self._template_dirs = (str(path), *self._template_dirs)
            self.renderer = EmailRenderer(self._template_dirs, settings=self.settings)

    @property
    def synchronous(self) -> bool:
        """Whether delivery happens in the caller's thread (test outboxes, queue mailers)."""
        return bool(getattr(self.mailer, "synchronous", True))

    @property
    def prints_to_console(self) -> bool:
        """Whether emails go to the console mailer (authgate's default) instead of being sent."""
        return isinstance(self.mailer, ConsoleMailer)

    def warn_if_console(self) -> None:
        """Warn (once) that emails are printed, not sent, unless ``debug`` is on.

        Called when an integration is set up and at the first email: a
        production app without a mailer loses every confirmation and reset.
        """
        if self._warned or self.settings.debug or not self.prints_to_console:
            return
        self._warned = True
        message = (
            "emails are printed to the console, not sent (no mailer is configured), "
            "with their links hidden since debug is off. Configure one: "
            "Auth(send_email=SMTPMailer.from_url('smtp+tls://user:password@host:587')) "
            "or any callable send_email(message)."
        )
        logger.warning(message)
        warnings.warn(message, InsecureSettingWarning, stacklevel=3)

    def send(self, kind: str, to: str, user: Any, **context: Any) -> None:
        """Render ``kind`` for ``to`` and deliver it (in the background unless synchronous)."""
        self.warn_if_console()
        self.run(functools.partial(self._deliver, kind, to, user, context))

    def run(self, task: Callable[[], None]) -> None:
        """Run a delivery ``task``: now if the mailer is synchronous, else in the mail threads."""
        if self.synchronous:
            task()
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="authgate-mail")
            # In the request's context: the email is rendered in its language.
            future = self._pool.submit(contextvars.copy_context().run, task)
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def render(self, kind: str, to: str, user: Any, **context: Any) -> EmailMessage | None:
        """Render ``kind`` for ``to`` now; ``None`` (logged and signalled) if that fails.

        A template the app broke must not fail the change the email reports.
        """
        try:
            return self.renderer.render(kind, to, user, **context)
        except Exception as exc:
            self.report_failure(kind, user, exc)
            return None

    def report_failure(
        self,
        kind: str,
        user: Any,
        error: Exception,
        *,
        user_id: Any = None,
        retry_in: int | None = None,
        attempts: int | None = None,
    ) -> str:
        """Log a failed email on ``authgate.mail`` and send ``mail_failed``; returns the reference.

        Args:
            kind: the email kind.
            user: the user it is about (``None`` if not at hand).
            error: what failed (only its type is logged: never the message,
                which may quote the email).
            user_id: the user's id when ``user`` is ``None``.
            retry_in: seconds until the outbox sends it again (logged at
                WARNING); ``None`` when it is not (ERROR).
            attempts: a notice given up after this many deliveries (ERROR).
        """
        ref = uuid.uuid4().hex[:12]
        if user_id is None:
            user_id = getattr(user, "id", None)
        if retry_in is not None:
            logger.warning(
                "could not deliver %s email to user %s (ref %s): %s; it stays in the outbox "
                "and is sent again in %d s",
                kind, user_id, ref, type(error).__name__, retry_in,
            )  # fmt: skip
        elif attempts is not None:
            logger.error(
                "could not deliver %s email to user %s (ref %s): %s; gave up after %d attempts",
                kind, user_id, ref, type(error).__name__, attempts,
            )  # fmt: skip
        else:
            logger.error(
                "could not deliver %s email to user %s (ref %s): %s",
                kind, user_id, ref, type(error).__name__,
            )  # fmt: skip
        try:
            signals.mail_failed.send(self._sender, user=user, kind=kind, error=error, ref=ref)
        except Exception:  # a receiver's bug must not stop the mail threads
            logger.exception("a mail_failed receiver raised")
        return ref

    def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until every email handed over so far has been delivered (or failed)."""
        with self._lock:
            pending = list(self._pending)
        wait(pending, timeout=timeout)

    def _deliver(self, kind: str, to: str, user: Any, context: dict[str, Any]) -> None:
        try:
            message = self.renderer.render(kind, to, user, **context)
            self.mailer.send(message)
        except Exception as exc:
            self.report_failure(kind, user, exc)

    def close(self) -> None:
        """Deliver what is pending and stop the background threads."""
        self.flush()
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
