"""A mailer that prints emails instead of sending them (the default; ``make demo``)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from authgate.mail.message import EmailMessage

__all__ = ["ConsoleMailer"]

_RULE = "-" * 72


class ConsoleMailer:
    """Prints each email (recipient, subject and text part) as a readable block.

    It is what authgate uses when no mailer is configured, so a development
    setup shows the confirmation and reset links in its terminal. Do not use
    it in production: the links it prints sign people in.

    Args:
        stream: where to write; ``None`` means ``sys.stdout`` at the time of
            each send (so a redirected or captured stdout is honoured).

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> ConsoleMailer(out).send(EmailMessage("a@example.com", "Hi", "Hello"))
        >>> "Subject: Hi" in out.getvalue()
        True
    """

    #: Printing is quick: authgate may call it in the request's thread.
    synchronous = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        # One block per email even when several threads send at once.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stream={self.stream!r})"

    def send(self, message: EmailMessage) -> None:
        """Print ``message``.

        Args:
            message: the email to show.
        """
        title = f" email: {message.kind} " if message.kind else " email "
        block = "\n".join(
            [
                title.center(72, "-"),
                f"To: {message.to}",
                *([f"From: {message.sender}"] if message.sender else []),
                f"Subject: {message.subject}",
                "",
                message.text.rstrip("\n"),
                _RULE,
                "",
            ]
        )
        stream = self.stream if self.stream is not None else sys.stdout
        with self._lock:
            stream.write(block)
            stream.flush()
