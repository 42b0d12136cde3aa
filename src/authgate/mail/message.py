"""The mail contract (SPEC §7): one message type, one mailer protocol, one error.

Everything that sends mail — the SMTP and console mailers, the test outbox,
a task-queue hand-off or the application's own function — sees the same
:class:`EmailMessage` and signals failure with :class:`MailDeliveryError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["EmailMessage", "MailDeliveryError", "Mailer"]

# Headers the message itself defines. Letting ``headers`` set them would let a
# misconfigured hook silently add a Bcc or change the recipient.
_RESERVED_HEADERS = frozenset(
    {
        "to",
        "cc",
        "bcc",
        "from",
        "sender",
        "subject",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


def _check_single_line(field: str, value: str) -> None:
    # A CR or LF in a header value is header injection ("...\r\nBcc: evil@x").
    if "\r" in value or "\n" in value:
        raise ValueError(f"EmailMessage.{field} must be a single line (no CR or LF)")


@dataclasses.dataclass(frozen=True)
class EmailMessage:
    """One email, rendered and ready to send.

    Attributes:
        to: the recipient address.
        subject: a single-line subject.
        text: the plain-text part.
        html: the HTML part (``""`` for a text-only email).
        kind: what the email is for, e.g. ``"confirm_email"`` or ``"reset_password"``.
        user: the user the email is about, or ``None``. Only for in-process
            mailers: it is never serialised (see :meth:`to_dict`).
        sender: the ``From`` address, or ``None`` for the mailer's default.
        headers: extra headers such as ``Auto-Submitted``; they may not set
            ``To``, ``From``, ``Subject``, ``Cc``, ``Bcc`` or MIME structure.
        user_id: the user's id as a string; taken from ``user.id`` when not
            given, and kept by :meth:`to_dict` / :meth:`from_dict`.

    Raises:
        ValueError: a header field spans lines, ``to`` is empty, or ``headers``
            tries to set a reserved header.

    Examples:
        >>> m = EmailMessage(to="a@example.com", subject="Hi", text="Hello")
        >>> EmailMessage.from_dict(m.to_dict()) == m
        True
    """

    to: str
    subject: str
    text: str
    html: str = ""
    kind: str = ""
    user: Any = dataclasses.field(default=None, compare=False, hash=False, repr=False)
    sender: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    user_id: str | None = None

    def __post_init__(self) -> None:
        if not self.to.strip():
            raise ValueError("EmailMessage.to must be an email address")
        _check_single_line("to", self.to)
        _check_single_line("subject", self.subject)
        if self.sender is not None:
            _check_single_line("sender", self.sender)
        for name, value in self.headers.items():
            _check_single_line(f"headers[{name!r}]", name)
            _check_single_line(f"headers[{name!r}]", value)
            if name.strip().lower() in _RESERVED_HEADERS:
                raise ValueError(
                    f"EmailMessage.headers may not set {name!r}; use the message's own fields"
                )
        # A copy, so the caller's dict cannot change a frozen message later.
        object.__setattr__(self, "headers", dict(self.headers))
        if self.user_id is None and self.user is not None:
            user_id = getattr(self.user, "id", None)
            if user_id is not None:
                object.__setattr__(self, "user_id", str(user_id))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the message, for a task queue.

        The ``user`` object is left out (it is rarely serialisable and the
        worker does not need it); its id travels as ``user_id``.

        Returns:
            ``{"to", "subject", "text", "html", "kind", "sender", "headers",
            "user_id"}``.
        """
        return {
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "kind": self.kind,
            "sender": self.sender,
            "headers": dict(self.headers),
            "user_id": self.user_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmailMessage:
        """Rebuild a message from :meth:`to_dict` output (``user`` is ``None``).

        Keys this version does not know are ignored, so a worker running an
        older authgate still delivers messages queued by a newer one.

        Args:
            data: the dict produced by :meth:`to_dict`.

        Returns:
            The message.

        Raises:
            ValueError: a required key is missing or a value has the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a dict from EmailMessage.to_dict(), got {type(data)!r}")
        missing = [key for key in ("to", "subject", "text") if key not in data]
        if missing:
            raise ValueError(f"email data is missing {', '.join(missing)}")
        strings = {key: data.get(key, "") for key in ("to", "subject", "text", "html", "kind")}
        for key, value in strings.items():
            if not isinstance(value, str):
                raise ValueError(f"email data {key!r} must be a string")
        sender = data.get("sender")
        user_id = data.get("user_id")
        headers = data.get("headers") or {}
        if sender is not None and not isinstance(sender, str):
            raise ValueError("email data 'sender' must be a string or null")
        if user_id is not None and not isinstance(user_id, str):
            raise ValueError("email data 'user_id' must be a string or null")
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValueError("email data 'headers' must map strings to strings")
        return cls(
            to=strings["to"],
            subject=strings["subject"],
            text=strings["text"],
            html=strings["html"],
            kind=strings["kind"],
            sender=sender,
            headers=dict(headers),
            user_id=user_id,
        )


class MailDeliveryError(Exception):
    """A mailer could not deliver a message.

    The message is a short reason meant for logs; it never contains
    credentials or the email's body (which may hold a sign-in link).

    Attributes:
        reason: the short reason.
        retryable: ``True`` when trying again later may work (connection
            refused, timeout, a 4xx answer); ``False`` for permanent refusals
            (5xx, bad credentials).
    """

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)


@runtime_checkable
class Mailer(Protocol):
    """Anything that delivers an :class:`EmailMessage`.

    A mailer that talks to a server sets ``synchronous = False`` to be called
    off the request path (as :class:`~authgate.mail.SMTPMailer` does); others
    are called in the caller's thread.
    """

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``.

        Raises:
            MailDeliveryError: delivery failed.
        """
