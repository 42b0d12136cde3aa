"""F6 — the mail server is down, refuses, or hangs (SECURITY.md §5.2, R6).

A real SMTP server (aiosmtpd on 127.0.0.1) refuses connections, answers
421 or 554, or accepts and never answers (behind a frozen proxy), during
sign-up, forgot-password and email change through the HTTP API. Each time:
the answer is the usual one and comes at once (mail goes out in the
background, bounded by the mailer's timeout); the failure is logged once
with a reference; sign-up left one unconfirmed account, the email change
left the old address in force; once the server is back, asking again works.
A security notice sent while the server is down waits in the outbox and
arrives once when it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from authgate.mail import SMTPMailer
from authgate.models import utcnow

from ..core.conftest import PASSWORD
from ..mail import smtp_server
from ..mail.smtp_server import SMTPServers, TestServer, refusing_port
from ..web.test_email_smtp_e2e import token_in, wait_for
from ..web.test_http_contract import bearer
from .proxy import FaultProxy

smtp_servers = smtp_server.smtp_servers
tls_files = smtp_server.tls_files

pytestmark = pytest.mark.slow

MODES = ["refuse", "421", "554", "hang"]
BASE = "https://app.example"
NEW = "new staple battery horse"


class MailFault:
    """A mail server in one failure mode, and the way back to normal."""

    def __init__(
        self, mode: str, servers: SMTPServers, fault_proxy: Callable[[str, int], FaultProxy]
    ):
        self.server: TestServer = servers.start()
        port = self.server.port
        self.proxy: FaultProxy | None = None
        if mode == "refuse":
            port = refusing_port()
        elif mode == "hang":
            self.proxy = fault_proxy(self.server.host, self.server.port)
            self.proxy.freeze()
            port = self.proxy.port
        elif mode in ("421", "554"):
            self.server.mode = mode  # type: ignore[assignment]
        self.mailer = SMTPMailer("127.0.0.1", port, timeout=1.0, sender="auth@app.example")

    def restore(self, auth: Any) -> None:
        self.server.mode = "accept"
        auth.mail.use(
            SMTPMailer("127.0.0.1", self.server.port, timeout=2.0, sender="auth@app.example")
        )


def _failed_once(caplog: pytest.LogCaptureFixture, kind: str) -> None:
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "authgate.mail" and r.levelname == "ERROR"
    ]
    assert len(lines) == 1, lines
    assert kind in lines[0] and "(ref " in lines[0]
    for leak in ("127.0.0.1", PASSWORD, "token="):
        assert leak not in lines[0]
    caplog.clear()


@pytest.mark.parametrize("framework", ["flask"])
@pytest.mark.parametrize("mode", MODES)
def test_f6_sign_up_with_mail_down(
    make_http: Callable[..., Any], smtp_servers: SMTPServers,
    fault_proxy: Callable[[str, int], FaultProxy], errors_logged: pytest.LogCaptureFixture, mode: str,
) -> None:  # fmt: skip
    fault = MailFault(mode, smtp_servers, fault_proxy)
    client = make_http(send_email=fault.mailer, base_url=BASE, confirmable=True)
    start = time.perf_counter()
    r = client.post("/auth/sign-up/email", json={"email": "bob@example.com", "password": PASSWORD})
    assert time.perf_counter() - start < 0.5  # never waits for the mail server
    assert r.status == 200 and r.json()["token"] is None
    client.auth.mail.flush(timeout=10)
    _failed_once(errors_logged, "confirm_email")
    user = client.auth.users.get_user("bob@example.com")
    assert user is not None and not user.email_confirmed
    fault.restore(client.auth)
    assert (
        client.post("/auth/send-verification-email", json={"email": "bob@example.com"}).status
        == 200
    )
    [confirm] = wait_for(fault.server, 1)
    r = client.post("/auth/verify-email", json={"token": token_in(confirm)})
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True
    assert client.auth.users.count_users() == 1


@pytest.mark.parametrize("framework", ["flask"])
@pytest.mark.parametrize("mode", MODES)
def test_f6_forgot_password_with_mail_down(
    make_http: Callable[..., Any], smtp_servers: SMTPServers,
    fault_proxy: Callable[[str, int], FaultProxy], errors_logged: pytest.LogCaptureFixture, mode: str,
) -> None:  # fmt: skip
    fault = MailFault(mode, smtp_servers, fault_proxy)
    client = make_http(send_email=fault.mailer, base_url=BASE, notify_registered=False)
    client.auth.sign_up("alice@example.com", PASSWORD)
    known = client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    unknown = client.post("/auth/forgot-password", json={"email": "nobody@example.com"})
    assert (
        (known.status, known.body) == (unknown.status, unknown.body) == (200, b'{"success":true}')
    )
    client.auth.mail.flush(timeout=10)
    _failed_once(errors_logged, "reset_password")
    fault.restore(client.auth)
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    [reset] = wait_for(fault.server, 1)
    r = client.post(
        "/auth/reset-password",
        json={"token": token_in(reset), "new_password": "new staple battery horse"},
    )
    assert r.status == 200


@pytest.mark.parametrize("framework", ["flask"])
@pytest.mark.parametrize("mode", MODES)
def test_f6_email_change_with_mail_down(
    make_http: Callable[..., Any], smtp_servers: SMTPServers,
    fault_proxy: Callable[[str, int], FaultProxy], errors_logged: pytest.LogCaptureFixture, mode: str,
) -> None:  # fmt: skip
    fault = MailFault(mode, smtp_servers, fault_proxy)
    client = make_http(send_email=fault.mailer, base_url=BASE, notify_registered=False)
    token = client.auth.sign_up("alice@example.com", PASSWORD).token
    change = {"new_email": "alice@new.example", "password": PASSWORD}
    r = client.post("/auth/change-email", json=change, headers=bearer(token), cookies=False)
    assert r.status == 200
    client.auth.mail.flush(timeout=10)
    _failed_once(errors_logged, "email_change_confirm")
    # The change is pending: the old address is in force, the new one is nobody's.
    assert client.auth.users.get_user("alice@example.com") is not None
    assert client.auth.users.get_user("alice@new.example") is None
    assert client.get("/auth/session", headers=bearer(token), cookies=False).status == 200
    fault.restore(client.auth)
    r = client.post("/auth/change-email", json=change, headers=bearer(token), cookies=False)
    [confirm] = wait_for(fault.server, 1)
    assert client.post("/auth/verify-email", json={"token": token_in(confirm)}).status == 200
    assert client.auth.users.get_user("alice@new.example") is not None
    assert client.auth.users.get_user("alice@example.com") is None


@pytest.mark.parametrize("framework", ["flask"])
@pytest.mark.parametrize("mode", MODES)
def test_f6_notice_with_mail_down_arrives_once_when_it_is_back(
    make_http: Callable[..., Any], smtp_servers: SMTPServers,
    fault_proxy: Callable[[str, int], FaultProxy], caplog: pytest.LogCaptureFixture, mode: str,
) -> None:  # fmt: skip
    """A security notice is not lost to a mail outage: it waits in the outbox (logged at
    WARNING, not ERROR) and the dispatcher delivers it once the server is back."""
    caplog.set_level(logging.WARNING, logger="authgate.mail")
    fault = MailFault(mode, smtp_servers, fault_proxy)
    later = dt.timedelta(0)  # moved past the retry delay once the server is back
    client = make_http(send_email=fault.mailer, base_url=BASE, notify_registered=False,
                       clock=lambda: utcnow() + later)  # fmt: skip
    client.auth.outbox.poll_interval = 0.05
    token = client.auth.sign_up("alice@example.com", PASSWORD).token
    start = time.perf_counter()
    r = client.post(
        "/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW},
        headers=bearer(token), cookies=False,
    )  # fmt: skip
    assert time.perf_counter() - start < 0.5  # never waits for the mail server
    assert r.status == 200
    client.auth.mail.flush(timeout=10)
    [waiting] = client.auth.outbox.pending()
    assert (waiting.kind, waiting.to) == ("password_changed", "alice@example.com")
    records = [r for r in caplog.records if r.name == "authgate.mail"]
    assert records and {r.levelname for r in records} == {"WARNING"}
    assert "stays in the outbox" in records[0].getMessage()
    fault.restore(client.auth)
    later = dt.timedelta(seconds=61)
    [received] = wait_for(fault.server, 1)
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Subject"] == waiting.subject
    deadline = time.monotonic() + 10
    while client.auth.outbox.dispatching or client.auth.outbox.pending():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(fault.server.received) == 1  # once: the outbox is empty, nothing is left to send
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
