"""A mailer that prints emails instead of sending them (the default; ``make demo``)."""

from __future__ import annotations

import re
import sys
import threading
from typing import TextIO

from authgate.mail.message import EmailMessage

__all__ = ["ConsoleMailer", "hide_tokens"]

_RULE = "-" * 72
_TOKEN = re.compile(r"([?&]token=)[^\s&\"'<>]+")


def hide_tokens(text: str) -> str:
    """``text`` with the token of every link replaced by a note (nothing usable is printed).

    Examples:
        >>> hide_tokens("Open https://app.example/auth/verify-email?token=abc.def now")
        'Open https://app.example/auth/verify-email?token=[hidden: debug is off] now'
    """
    return _TOKEN.sub(r"\1[hidden: debug is off]", text)


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

    def __init__(self, stream: TextIO | None = None, *, show_links: bool = True) -> None:
        self.stream = stream
        #: Print links as they are. authgate's default console mailer shows them
        #: only with ``debug=True``: outside debug, stdout ends up in log
        #: aggregation, and a reset or sign-in link there hands accounts over.
        self.show_links = show_links
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
                (message.text if self.show_links else hide_tokens(message.text)).rstrip("\n"),
                _RULE,
                "",
            ]
        )
        stream = self.stream if self.stream is not None else sys.stdout
        with self._lock:
            stream.write(block)
            stream.flush()
