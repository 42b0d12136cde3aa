"""Deliver emails over SMTP with :mod:`smtplib` (STARTTLS or SSL, AUTH, bounded time).

One connection per message: authgate sends few emails (a confirmation, a
reset link), so a pooled connection would save little and add reconnect and
thread-safety logic that can fail in subtle ways. Every failure — refused
connection, TLS error, bad credentials, a 4xx/5xx answer, a timeout — becomes
a :class:`~authgate.mail.message.MailDeliveryError` with a short reason.
"""

from __future__ import annotations

import email.policy
import email.utils
import ipaddress
import smtplib
import ssl as _ssl
import time
import warnings
from email.message import EmailMessage as MIMEMessage
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from authgate.mail.message import EmailMessage, MailDeliveryError
from authgate.settings import InsecureSettingWarning, closest_name

__all__ = ["SMTPMailer"]

# 7-bit transfer encodings (quoted-printable/base64 for non-ASCII text) and
# CRLF line ends: the message goes through any server, 8BITMIME or not.
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_URL_SCHEMES = {"smtp": (25, False, False), "smtp+tls": (587, True, False)}
_URL_SCHEMES |= {"smtps": (465, False, True), "smtp+ssl": (465, False, True)}
_URL_OPTIONS = ("starttls", "timeout", "sender", "local_hostname")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _address(value: str) -> str:
    """The bare address of ``"Name <a@b>"`` or ``"a@b"``."""
    return email.utils.parseaddr(value)[1]


def _reply_code(exc: smtplib.SMTPException) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return codes[0] if codes else None
    code = getattr(exc, "smtp_code", None)
    return code if isinstance(code, int) else None


class SMTPMailer:
    """Sends each email in its own SMTP session.

    Unlike :mod:`smtplib`'s own default, STARTTLS and SSL verify the server's
    certificate and host name (``ssl.create_default_context()``) unless you
    pass another ``ssl_context``.

    Args:
        host: the SMTP server.
        port: its port (25 plain, 587 submission with STARTTLS, 465 SSL).
        username: the AUTH user name, or ``None`` to send without AUTH.
        password: the AUTH password (never shown in reprs or errors).
        starttls: upgrade the connection with STARTTLS before AUTH; if the
            server does not offer it, sending fails instead of going on in clear.
        ssl: connect with TLS from the start (SMTPS, usually port 465).
        timeout: the time budget, in seconds, of one send: connecting, TLS,
            AUTH and the transfer each get what is left of it, so a hung
            server cannot hold a worker for long (SECURITY.md R6).
        sender: the default ``From`` (``"Site <no-reply@example.com>"`` works).
        local_hostname: the name sent with EHLO; ``None`` lets smtplib use
            the machine's fully qualified name.
        ssl_context: the TLS context for ``starttls`` / ``ssl``.

    Raises:
        ValueError: contradictory or invalid options.

    Examples:
        >>> mailer = SMTPMailer("smtp.example.com", 587, username="app",
        ...                     password="secret", starttls=True,
        ...                     sender="Example <no-reply@example.com>")
        >>> "secret" in repr(mailer)
        False
    """

    #: Delivery talks to a server: authgate calls it off the request path.
    synchronous = False

    def __init__(
        self,
        host: str = "localhost",
        port: int = 25,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 10.0,
        sender: str = "no-reply@localhost",
        local_hostname: str | None = None,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise ValueError("SMTPMailer needs a host")
        if not 0 < port < 65536:
            raise ValueError(f"SMTPMailer port must be 1-65535, got {port}")
        if starttls and ssl:
            raise ValueError("use starttls=True (port 587) or ssl=True (port 465), not both")
        if (username is None) != (password is None):
            raise ValueError("SMTPMailer needs both username and password, or neither")
        if not timeout > 0:
            raise ValueError("SMTPMailer timeout must be a positive number of seconds")
        if "@" not in _address(sender):
            raise ValueError(f"SMTPMailer sender must contain an email address, got {sender!r}")
        if username is not None and not (starttls or ssl) and not _is_loopback(host):
            warnings.warn(
                f"SMTPMailer sends the password for {username!r} to {host} in clear text; "
                "use starttls=True or ssl=True",
                InsecureSettingWarning,
                stacklevel=2,
            )
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = float(timeout)
        self.sender = sender
        self.local_hostname = local_hostname
        self.ssl_context = ssl_context
        if self.ssl_context is None and (starttls or ssl):
            self.ssl_context = _ssl.create_default_context()

    def __repr__(self) -> str:
        password = None if self._password is None else "***"
        return (
            f"{type(self).__name__}(host={self.host!r}, port={self.port}, "
            f"username={self.username!r}, password={password!r}, "
            f"starttls={self.starttls}, ssl={self.ssl})"
        )

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> SMTPMailer:
        """A mailer configured from a URL, e.g. an environment variable.

        * ``smtp://host:25`` — plain SMTP (add ``?starttls=1`` to upgrade).
        * ``smtp+tls://user:pass@host`` — STARTTLS, port 587 by default.
        * ``smtps://user:pass@host`` (or ``smtp+ssl://``) — SSL, port 465 by default.

        Query options: ``starttls``, ``timeout``, ``sender``, ``local_hostname``.
        Percent-encode reserved characters in the user name and password
        (``p%40ss`` for ``p@ss``).

        Args:
            url: the URL.
            **overrides: constructor keywords that win over the URL
                (``ssl_context=...``, ``sender=...``).

        Returns:
            The mailer.

        Raises:
            ValueError: an unknown scheme or option, or a malformed value.
                The message never repeats the URL (it may hold a password).

        Examples:
            >>> m = SMTPMailer.from_url("smtp://app:s3cret@mail.example.com:587?starttls=1")
            >>> m.host, m.port, m.username, m.starttls
            ('mail.example.com', 587, 'app', True)
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _URL_SCHEMES:
            known = ", ".join(f"{name}://" for name in _URL_SCHEMES)
            raise ValueError(f"SMTP URL scheme must be one of {known}; got {scheme or 'none'!r}")
        default_port, starttls, use_ssl = _URL_SCHEMES[scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ValueError("SMTP URL has an invalid port") from None
        kwargs: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": port,
            "starttls": starttls,
            "ssl": use_ssl,
        }
        if parts.username:
            kwargs["username"] = unquote(parts.username)
            kwargs["password"] = unquote(parts.password or "")
        seen: set[str] = set()
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _URL_OPTIONS:
                hint = closest_name(key, _URL_OPTIONS)
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                raise ValueError(f"unknown SMTP URL option {key!r}{suggestion}")
            if key in seen:
                raise ValueError(f"SMTP URL option {key!r} is given twice")
            seen.add(key)
            if key == "starttls":
                if value.lower() not in _TRUE | _FALSE:
                    raise ValueError(f"SMTP URL option starttls must be 1 or 0, got {value!r}")
                kwargs["starttls"] = value.lower() in _TRUE
            elif key == "timeout":
                try:
                    kwargs["timeout"] = float(value)
                except ValueError:
                    raise ValueError(
                        f"SMTP URL option timeout must be seconds, got {value!r}"
                    ) from None
            else:
                kwargs[key] = value
        kwargs.update(overrides)
        return cls(**kwargs)

    def to_mime(self, message: EmailMessage) -> MIMEMessage:
        """The MIME email for ``message``: text, plus HTML as an alternative.

        Adds ``From``, ``To``, ``Subject``, ``Date``, ``Message-ID`` and
        ``Auto-Submitted: auto-generated`` (so auto-responders stay quiet);
        ``message.headers`` may replace the last three and add others.

        Args:
            message: the email.

        Returns:
            A :class:`email.message.EmailMessage` ready to send.
        """
        sender = message.sender or self.sender
        domain = _address(sender).rpartition("@")[2] or "localhost"
        mime = MIMEMessage(policy=_POLICY)
        mime["From"] = sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = email.utils.formatdate(usegmt=True)
        # An explicit domain: make_msgid() would otherwise look up the FQDN,
        # which can stall on a machine with slow DNS.
        mime["Message-ID"] = email.utils.make_msgid(domain=domain)
        mime["Auto-Submitted"] = "auto-generated"
        for name, value in message.headers.items():
            del mime[name]
            mime[name] = value
        mime.set_content(message.text)
        if message.html:
            mime.add_alternative(message.html, subtype="html")
        return mime

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` in one SMTP session.

        Args:
            message: the email.

        Raises:
            MailDeliveryError: the server could not be reached, refused the
                connection, the credentials or the message, or did not answer
                within ``timeout``.
        """
        mime = self.to_mime(message)
        from_addr = _address(message.sender or self.sender)
        to_addr = _address(message.to) or message.to
        deadline = time.monotonic() + self.timeout
        try:
            self._deliver(mime, from_addr, to_addr, deadline)
        except MailDeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            # No chaining: whatever the server echoed about the login stays out of logs.
            raise MailDeliveryError(
                f"SMTP authentication failed for {self.username!r} ({exc.smtp_code})"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailDeliveryError(f"SMTP server {self.host}: {exc}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib turns a read timeout into "disconnected"; the timeout
            # survives only as the exception's context.
            if isinstance(exc.__context__, TimeoutError):
                raise self._timed_out() from exc
            raise MailDeliveryError(
                f"SMTP server {self.host} closed the connection", retryable=True
            ) from exc
        except smtplib.SMTPException as exc:
            code = _reply_code(exc)
            what = {
                smtplib.SMTPConnectError: "refused the connection",
                smtplib.SMTPHeloError: "refused EHLO/HELO",
                smtplib.SMTPSenderRefused: "refused the sender",
                smtplib.SMTPRecipientsRefused: "refused the recipient",
                smtplib.SMTPDataError: "refused the message",
            }.get(type(exc), f"failed ({type(exc).__name__})")
            raise MailDeliveryError(
                f"SMTP server {self.host} {what}" + (f" ({code})" if code else ""),
                retryable=code is not None and 400 <= code < 500,
            ) from exc
        except TimeoutError as exc:
            raise self._timed_out() from exc
        except _ssl.SSLError as exc:
            raise MailDeliveryError(f"TLS with {self.host}:{self.port} failed: {exc}") from exc
        except OSError as exc:
            raise MailDeliveryError(
                f"SMTP connection to {self.host}:{self.port} failed "
                f"({exc.strerror or type(exc).__name__})",
                retryable=True,
            ) from exc

    # -- internals ---------------------------------------------------------

    def _timed_out(self) -> MailDeliveryError:
        return MailDeliveryError(
            f"SMTP server {self.host}:{self.port} did not answer within {self.timeout:g}s",
            retryable=True,
        )

    def _connect(self, deadline: float) -> smtplib.SMTP:
        timeout = self._remaining(deadline)
        if self.ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=timeout,
                context=self.ssl_context,
            )
        # The host goes to the constructor (which connects), not to connect():
        # smtplib only records it for STARTTLS's host-name check there.
        return smtplib.SMTP(
            self.host, self.port, local_hostname=self.local_hostname, timeout=timeout
        )

    @staticmethod
    def _remaining(deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("SMTP time budget used up")
        return remaining

    def _arm(self, smtp: smtplib.SMTP, deadline: float) -> None:
        """Give the next network wait only what is left of the time budget."""
        remaining = self._remaining(deadline)
        if smtp.sock is not None:
            smtp.sock.settimeout(remaining)

    def _deliver(self, mime: MIMEMessage, from_addr: str, to_addr: str, deadline: float) -> None:
        smtp = self._connect(deadline)
        try:
            self._arm(smtp, deadline)
            smtp.ehlo_or_helo_if_needed()
            if self.starttls:
                self._arm(smtp, deadline)
                smtp.starttls(context=self.ssl_context)
                self._arm(smtp, deadline)
                smtp.ehlo()
            if self.username is not None:
                assert self._password is not None
                self._arm(smtp, deadline)
                smtp.login(self.username, self._password)
            self._transfer(smtp, mime, from_addr, to_addr, deadline)
        except BaseException:
            # No QUIT on failure: a broken server would only make us wait again.
            smtp.close()
            raise
        try:
            self._arm(smtp, deadline)
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            # The message was accepted; a failed goodbye changes nothing.
            smtp.close()

    def _transfer(
        self, smtp: smtplib.SMTP, mime: MIMEMessage, from_addr: str, to_addr: str, deadline: float
    ) -> None:
        """MAIL, RCPT and DATA, each step within the budget (smtplib.sendmail in steps)."""
        options: list[str] = []
        policy = _POLICY
        if not (from_addr + to_addr).isascii():
            if not smtp.has_extn("smtputf8"):
                raise MailDeliveryError(
                    f"SMTP server {self.host} cannot take non-ASCII addresses (no SMTPUTF8)"
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
            policy = _POLICY.clone(utf8=True)
        data = mime.as_bytes(policy=policy)
        self._arm(smtp, deadline)
        code, reply = smtp.mail(from_addr, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, from_addr)
        self._arm(smtp, deadline)
        code, reply = smtp.rcpt(to_addr)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to_addr: (code, reply)})
        self._arm(smtp, deadline)
        code, reply = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
