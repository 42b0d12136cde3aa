"""A real SMTP server for tests (aiosmtpd), with fault modes and TLS.

``smtp_servers`` is a factory fixture: ``smtp_servers.start(...)`` runs an
aiosmtpd ``Controller`` on 127.0.0.1 and a free port, optionally with AUTH
(one user and password), STARTTLS or implicit TLS (SMTPS), and every server it
started is stopped after the test. Each server records what it received
(parsed with :func:`email.message_from_bytes`) and can be switched to:

* ``"accept"`` (default): 250 for everything;
* ``"421"``: answers MAIL FROM with ``421`` (service not available, try later);
* ``"554"``: answers the end of DATA with ``554`` (message rejected);
* ``"hang"``: sits on the end of DATA for ``hang_seconds`` (2.5 s by default,
  ``start(hang_seconds=...)``) before answering, so a client with a short
  timeout gives up first.

A mail server that refuses connections is a port nothing listens on
(:func:`refusing_port`); one that accepts and never greets is a test server
behind a frozen :class:`tests.faults.proxy.FaultProxy`.

``tls_files`` makes a throwaway CA and a server certificate for ``localhost``
and ``127.0.0.1`` (with the ``cryptography`` package), so STARTTLS and SMTPS
are tested for real, certificate checks included.

Use them from a test module with ``smtp_servers = smtp_server.smtp_servers``
(and the same for ``tls_files``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import gc
import ipaddress
import socket
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Mode = Literal["accept", "421", "554", "hang"]

HOST = "127.0.0.1"
USERNAME = "mailer"
PASSWORD = "s3cret-Pa55word"
#: Parses into email.message.EmailMessage (get_content(), iter_parts()...).
POLICY = email.policy.default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def refusing_port() -> int:
    """A port where connections are refused: a mail server that is down."""
    return free_port()


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    #: The AUTH login of the session, if it authenticated.
    login: str | None
    #: Whether the session was encrypted (STARTTLS or SMTPS).
    tls: bool


@dataclass
class RecordingHandler:
    """The aiosmtpd handler: records messages, or misbehaves on purpose."""

    mode: Mode = "accept"
    hang_seconds: float = 2.5
    received: list[Received] = field(default_factory=list)
    #: Every AUTH attempt: (login, succeeded).
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.mode == "421":
            return "421 4.3.2 Service not available, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.mode == "554":
            return "554 5.7.1 Message rejected"
        if self.mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        raw = envelope.original_content or b""
        login = session.login_data
        transport = server.transport
        self.received.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                message=email.message_from_bytes(raw, policy=POLICY),
                login=login.decode() if isinstance(login, bytes) else None,
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        )
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        self.logins.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class TestServer:
    """A running server: where it listens and what it received."""

    __test__ = False  # not a test class, despite the name

    host: str
    port: int
    handler: RecordingHandler
    controller: Controller

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def mode(self) -> Mode:
        return self.handler.mode

    @mode.setter
    def mode(self, value: Mode) -> None:
        self.handler.mode = value


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1."""

    ca_cert: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the throwaway CA (host names checked)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


class SMTPServers:
    """Starts test servers and stops them all on :meth:`stop_all`."""

    def __init__(self, tls: TLSFiles | None = None) -> None:
        self.tls = tls
        self._running: list[TestServer] = []

    def start(
        self,
        *,
        mode: Mode = "accept",
        auth: bool = False,
        starttls: bool = False,
        smtps: bool = False,
        auth_require_tls: bool = False,
        smtputf8: bool = False,
        hang_seconds: float = 2.5,
    ) -> TestServer:
        """Start a server on a free port.

        Args:
            mode: how it behaves (see the module docstring).
            auth: offer AUTH and accept :data:`USERNAME` / :data:`PASSWORD`.
            starttls: offer STARTTLS with the ``tls_files`` certificate.
            smtps: speak TLS from the first byte (implicit TLS).
            auth_require_tls: offer AUTH only after STARTTLS.
            smtputf8: offer SMTPUTF8 (non-ASCII addresses).
            hang_seconds: how long ``"hang"`` sits on the end of DATA.
        """
        handler = RecordingHandler(mode=mode, hang_seconds=hang_seconds)
        # Without an authenticator AUTH stays unadvertised (aiosmtpd only offers
        # it when TLS is not required for it).
        kwargs: dict[str, Any] = {"server_hostname": "localhost", "enable_SMTPUTF8": smtputf8}
        if auth:
            kwargs["authenticator"] = handler.authenticate
            kwargs["auth_require_tls"] = auth_require_tls
        if starttls or smtps:
            assert self.tls is not None, "TLS servers need the tls_files fixture"
        if starttls:
            assert self.tls is not None
            kwargs["tls_context"] = self.tls.server_context()
        for _attempt in range(5):
            port = free_port()
            controller = Controller(
                handler,
                hostname=HOST,
                port=port,
                ready_timeout=5.0,
                ssl_context=self.tls.server_context() if smtps and self.tls else None,
                **kwargs,
            )
            try:
                controller.start()
            except OSError:  # the port was taken between free_port() and bind
                continue
            server = TestServer(HOST, port, handler, controller)
            self._running.append(server)
            return server
        raise RuntimeError("could not start the test SMTP server")

    def stop_all(self) -> None:
        while self._running:
            server = self._running.pop()
            with contextlib.suppress(Exception):
                server.controller.stop()
        # A server stopped mid-session (a client that got 421, or hung) leaves its
        # transport to the garbage collector: collect it now, quietly, rather than
        # let its ResourceWarning surface in whichever test runs next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def make_tls_files(directory: Path) -> TLSFiles:
    """Write a CA certificate, and a server certificate and key signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A throwaway CA and server certificate, made once per test session."""
    return make_tls_files(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_servers(tls_files: TLSFiles) -> Iterator[SMTPServers]:
    """Start SMTP test servers with ``smtp_servers.start(...)``; all stop after the test."""
    servers = SMTPServers(tls_files)
    try:
        yield servers
    finally:
        servers.stop_all()
