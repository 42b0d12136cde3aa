"""Email: the message type, the mailer protocol and the built-in mailers (SPEC §7).

Mail is configured once, with ``Auth(send_email=...)``, which accepts:

* a mailer object with ``send(message)``: :class:`SMTPMailer`,
  :class:`ConsoleMailer`, :class:`~authgate.mail.queue.QueueMailer`,
  :class:`authgate.testing.OutboxMailer`, or your own;
* a plain function ``send_email(message)``;
* ``None`` (the default): :class:`ConsoleMailer`, which prints emails.

Emails are rendered from overridable Jinja2 templates by
:class:`~authgate.mail.render.EmailRenderer`. A mailer reports failure with
:class:`MailDeliveryError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

from authgate.mail.console import ConsoleMailer as ConsoleMailer
from authgate.mail.message import (
    EmailMessage as EmailMessage,
    MailDeliveryError as MailDeliveryError,
    Mailer as Mailer,
)
from authgate.mail.queue import QueueMailer as QueueMailer
from authgate.mail.smtp import SMTPMailer as SMTPMailer

__all__ = [
    "CallableMailer",
    "ConsoleMailer",
    "EmailMessage",
    "MailDeliveryError",
    "Mailer",
    "QueueMailer",
    "SMTPMailer",
    "as_mailer",
]


class CallableMailer:
    """Adapts a ``send_email(message)`` function to the :class:`Mailer` protocol.

    Args:
        func: called with each :class:`EmailMessage`; its return value is ignored.
        synchronous: whether authgate may call it in the request's thread;
            pass ``False`` when the function talks to a mail server itself.
    """

    def __init__(self, func: Callable[[EmailMessage], Any], *, synchronous: bool = True) -> None:
        self.func = func
        self.synchronous = synchronous

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.func!r})"

    def send(self, message: EmailMessage) -> None:
        """Call the function with ``message``.

        Args:
            message: the email.
        """
        self.func(message)


def as_mailer(obj: object) -> Mailer:
    """The mailer for a ``send_email`` setting.

    Args:
        obj: a mailer object (anything with a ``send(message)`` method), a
            function ``send_email(message)``, or ``None`` for the console mailer.

    Returns:
        ``obj`` itself when it is a mailer object; a :class:`CallableMailer`
        around a function; a new :class:`ConsoleMailer` for ``None``.

    Raises:
        TypeError: ``obj`` is a class rather than an instance, a function that
            cannot be called with one message, or neither.

    Examples:
        >>> sent = []
        >>> as_mailer(sent.append).send(EmailMessage("a@example.com", "Hi", "Hello"))
        >>> sent[0].subject
        'Hi'
    """
    if obj is None:
        return ConsoleMailer()
    if isinstance(obj, type):
        # A common slip: send_email=SMTPMailer instead of SMTPMailer(...).
        raise TypeError(
            f"send_email got the class {obj.__name__}; pass an instance, e.g. {obj.__name__}(...)"
        )
    if callable(getattr(obj, "send", None)):
        return cast(Mailer, obj)
    if callable(obj):
        _check_signature(obj)
        return CallableMailer(obj)
    raise TypeError(
        "send_email must be a mailer object with send(message) or a function "
        f"send_email(message), got {type(obj).__name__}"
    )


def _check_signature(func: Callable[..., Any]) -> None:
    """Reject at configuration time a function that cannot take one message."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return  # some builtins have no signature; they fail, clearly, on first use
    try:
        signature.bind(object())
    except TypeError:
        raise TypeError(
            f"send_email function {getattr(func, '__qualname__', func)!r} must accept one "
            f"argument (the EmailMessage); its signature is {signature}"
        ) from None
