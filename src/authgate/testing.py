"""Test doubles for applications that use authgate (and for authgate's own tests).

Capture emails instead of sending them::

    from authgate import Auth
    from authgate.testing import OutboxMailer, links

    outbox = OutboxMailer()
    auth = Auth(secret="test-secret-" * 3, confirmable=True, send_email=outbox)
    auth.sign_up("alice@example.com", "correct horse battery")
    message = outbox.last("confirm_email", to="alice@example.com")
    auth.confirm_email(links(message)[0].split("token=")[1])
"""

from __future__ import annotations

import re
import threading

from authgate.mail.message import EmailMessage, MailDeliveryError

__all__ = ["OutboxMailer", "links"]

# Stops at whitespace, quotes and angle brackets; trailing sentence
# punctuation is trimmed afterwards ("...?token=abc." ends a sentence).
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


def links(message: EmailMessage) -> list[str]:
    """The http(s) URLs in the text part of ``message``, in order, without duplicates.

    Args:
        message: an email.

    Returns:
        The URLs.

    Examples:
        >>> links(EmailMessage("a@example.com", "Hi", "Go to https://x.test/a?b=1."))
        ['https://x.test/a?b=1']
    """
    found: list[str] = []
    for match in _URL.finditer(message.text):
        url = match.group(0).rstrip(_TRAILING)
        if url not in found:
            found.append(url)
    return found


class OutboxMailer:
    """Keeps every email in :attr:`messages` instead of sending it.

    Args:
        fail: start failing (see :attr:`fail`).

    Attributes:
        messages: the emails sent so far, oldest first.
        fail: while ``True``, :meth:`send` raises
            :class:`~authgate.mail.MailDeliveryError` and keeps nothing, like
            a mail server that is down; set it back to ``False`` to "restore" it.
    """

    #: Keeping a message is instant: authgate calls it in the caller's thread,
    #: so a test sees the email as soon as the flow returns.
    synchronous = True

    def __init__(self, *, fail: bool = False) -> None:
        self.messages: list[EmailMessage] = []
        self.fail = fail
        # Flows may send from several threads in concurrency tests.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self.messages)} message(s)>"

    def __len__(self) -> int:
        return len(self.messages)

    def send(self, message: EmailMessage) -> None:
        """Keep ``message`` (or fail, while :attr:`fail` is set).

        Args:
            message: the email.

        Raises:
            MailDeliveryError: :attr:`fail` is set.
        """
        if self.fail:
            raise MailDeliveryError("OutboxMailer is set to fail", retryable=True)
        with self._lock:
            self.messages.append(message)

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self.messages.clear()

    def find(self, kind: str | None = None, to: str | None = None) -> list[EmailMessage]:
        """The messages of ``kind`` and/or to ``to`` (case-insensitive), oldest first.

        Args:
            kind: only this kind, e.g. ``"reset_password"``.
            to: only to this address.

        Returns:
            The matching messages (maybe none).
        """
        with self._lock:
            messages = list(self.messages)
        return [
            m
            for m in messages
            if (kind is None or m.kind == kind) and (to is None or m.to.lower() == to.lower())
        ]

    def last(self, kind: str | None = None, to: str | None = None) -> EmailMessage:
        """The newest message of ``kind`` and/or to ``to``.

        Args:
            kind: only this kind.
            to: only to this address (case-insensitive).

        Returns:
            The message.

        Raises:
            LookupError: none matches; the error lists what was sent.
        """
        found = self.find(kind, to)
        if not found:
            wanted = ", ".join(
                f"{name}={value!r}" for name, value in (("kind", kind), ("to", to)) if value
            )
            sent = ", ".join(f"{m.kind or '?'} to {m.to}" for m in self.find()) or "nothing"
            raise LookupError(f"no email{' with ' + wanted if wanted else ''}; sent: {sent}")
        return found[-1]

    links = staticmethod(links)
