"""Hand emails to a task queue (Celery, RQ, Dramatiq...) and deliver them in a worker.

The web process renders the email (so links are built from the configured
``base_url``, with the templates of the web app) and enqueues
``message.to_dict()``, a plain JSON-able dict; the worker rebuilds the message
and sends it with any mailer. The request never waits on SMTP, and the queue's
retries survive a mail outage (SECURITY.md R6).

Celery recipe::

    # tasks.py (imported by the worker and by the web app)
    import os

    from celery import shared_task

    from authgate.mail import MailDeliveryError, SMTPMailer
    from authgate.mail.queue import deliver

    smtp = SMTPMailer.from_url(os.environ["SMTP_URL"])

    @shared_task(bind=True, max_retries=5, ignore_result=True)
    def send_email_task(self, data):
        try:
            deliver(data, smtp)
        except MailDeliveryError as exc:
            if not exc.retryable:  # 5xx or bad credentials: retrying will not help
                raise
            raise self.retry(exc=exc, countdown=60 * 2**self.request.retries)

    # app.py
    from authgate import Auth
    from authgate.mail.queue import QueueMailer
    from tasks import send_email_task

    auth = Auth(secret=..., send_email=QueueMailer(send_email_task.delay))

RQ: ``QueueMailer(lambda data: queue.enqueue(deliver_job, data))`` with
``def deliver_job(data): deliver(data, smtp)``.

The dict holds the rendered email, including any sign-in or reset link, so
it is as sensitive as the link itself: use a broker that only your services
reach, and do not keep task arguments or results around (``ignore_result``,
short broker retention).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from authgate.mail.message import EmailMessage, MailDeliveryError, Mailer

__all__ = ["QueueMailer", "deliver"]


class QueueMailer:
    """A mailer that enqueues ``message.to_dict()`` instead of sending.

    Args:
        enqueue: called with the message dict, e.g. a Celery task's ``delay``.

    Raises:
        TypeError: ``enqueue`` is not callable.

    Examples:
        >>> queued = []
        >>> mailer = QueueMailer(queued.append)
        >>> mailer.send(EmailMessage("a@example.com", "Hi", "Hello"))
        >>> queued[0]["to"]
        'a@example.com'
    """

    #: Enqueueing is quick: authgate may call it in the request's thread.
    synchronous = True

    def __init__(self, enqueue: Callable[[dict[str, Any]], Any]) -> None:
        if not callable(enqueue):
            raise TypeError(
                f"QueueMailer needs a callable such as send_email_task.delay, got {enqueue!r}"
            )
        self.enqueue = enqueue

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.enqueue!r})"

    def send(self, message: EmailMessage) -> None:
        """Enqueue ``message`` for a worker.

        Args:
            message: the email.

        Raises:
            MailDeliveryError: the queue refused it (e.g. the broker is down).
        """
        try:
            self.enqueue(message.to_dict())
        except Exception as exc:
            # Broker errors vary by queue library; the flows only need to know
            # that the email did not leave, and the message (with its link)
            # must not end up in the log line.
            raise MailDeliveryError(
                f"could not enqueue the {message.kind or 'email'} email ({type(exc).__name__})",
                retryable=True,
            ) from exc


def deliver(data: Mapping[str, Any], mailer: Mailer | Callable[[EmailMessage], Any]) -> None:
    """Send a queued message: call it from the worker's task.

    Args:
        data: the dict that :class:`QueueMailer` enqueued.
        mailer: the mailer that really sends (an :class:`~authgate.mail.SMTPMailer`,
            or any mailer object or ``send_email(message)`` callable).

    Raises:
        TypeError: ``mailer`` is not a mailer.
        ValueError: ``data`` is not a message dict.
        MailDeliveryError: the mailer failed (see ``retryable``).
    """
    from authgate.mail import as_mailer

    if mailer is None:
        # as_mailer(None) means "console": right for an app, wrong for a worker.
        raise TypeError("deliver() needs the mailer that really sends, e.g. an SMTPMailer")
    as_mailer(mailer).send(EmailMessage.from_dict(data))
