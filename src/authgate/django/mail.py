"""Sending authgate's emails through Django's email backend (``EMAIL_BACKEND``)."""

from __future__ import annotations

from typing import Any

__all__ = ["DjangoMailer"]

#: Backends that deliver nothing over the network: authgate may call them in the request.
_LOCAL_BACKENDS = frozenset(
    {
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    }
)


class DjangoMailer:
    """An authgate mailer that sends with :class:`django.core.mail.EmailMultiAlternatives`.

    Messages use ``DEFAULT_FROM_EMAIL`` unless they name a sender; the HTML
    part is attached as an alternative. Delivery happens off the request path
    (authgate's default for mailers) unless the backend is local (locmem,
    console, file, dummy), which keeps ``django.core.mail.outbox`` filled
    synchronously in tests.
    """

    @property
    def synchronous(self) -> bool:
        """Whether authgate may send in the request's thread (local backends only)."""
        from django.conf import settings

        return settings.EMAIL_BACKEND in _LOCAL_BACKENDS

    def send(self, message: Any) -> None:
        """Send one :class:`authgate.mail.EmailMessage`.

        Args:
            message: the email (``to``, ``subject``, ``text``, ``html``,
                ``sender``, ``headers``).
        """
        from django.core.mail import EmailMultiAlternatives

        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=message.sender or None,
            to=[message.to],
            headers=dict(message.headers) or None,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        email.send()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
