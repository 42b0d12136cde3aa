"""Email flows end to end through a real SMTP server (aiosmtpd on 127.0.0.1).

Links are parsed out of the delivered messages, exactly as a user would
follow them, through the JSON API of every framework; then the mail server
goes down and comes back.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authgate.mail import SMTPMailer

from ..mail import smtp_server
from ..mail.smtp_server import Received, SMTPServers, TestServer
from .clients import ContractClient
from .conftest import MakeClient
from .test_http_contract import PASSWORD, assert_error, bearer

smtp_servers = smtp_server.smtp_servers
tls_files = smtp_server.tls_files

BASE = "https://app.example"
NEW_PASSWORD = "new staple battery horse"


def wait_for(server: TestServer, count: int, timeout: float = 10.0) -> list[Received]:
    """Delivery is in the background: wait until ``count`` messages arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.received) >= count:
            return server.received
        time.sleep(0.02)
    raise AssertionError(f"expected {count} messages, got {len(server.received)}")


def token_in(received: Received) -> str:
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    url = re.search(r"https://app\.example/\S+", text)
    assert url, text
    return parse_qs(urlsplit(url.group(0)).query)["token"][0]


@pytest.fixture
def server(smtp_servers: SMTPServers) -> TestServer:
    return smtp_servers.start()


@pytest.fixture
def client(make_client: MakeClient, server: TestServer) -> ContractClient:
    mailer = SMTPMailer("127.0.0.1", server.port, timeout=2.0, sender="auth@app.example")
    return make_client(send_email=mailer, base_url=BASE, confirmable=True, passwordless=True)


def test_sign_up_confirm_reset_and_magic_link(client: ContractClient, server: TestServer) -> None:
    r = client.post("/auth/sign-up/email", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status == 200 and r.json()["token"] is None
    [confirm] = wait_for(server, 1)
    assert confirm.rcpt_tos == ["alice@example.com"]
    assert confirm.message["From"] == "auth@app.example"
    assert confirm.message.get_body(preferencelist=("html",)) is not None  # text + HTML
    r = client.post("/auth/verify-email", json={"token": token_in(confirm)})
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True
    signed_in = r.json()["token"]

    client.post("/auth/forgot-password", json={"email": "ALICE@example.com"})
    reset = wait_for(server, 2)[1]
    assert reset.rcpt_tos == ["alice@example.com"]
    r = client.post("/auth/reset-password", json={"token": token_in(reset), "new_password": NEW_PASSWORD})
    assert r.status == 200
    notice = wait_for(server, 3)[2]  # "your password was reset"
    assert notice.rcpt_tos == ["alice@example.com"]
    assert_error(client.get("/auth/session", headers=bearer(signed_in), cookies=False), 401, "INVALID_TOKEN")

    client.post("/auth/sign-in/magic-link", json={"email": "alice@example.com"})
    link = wait_for(server, 4)[3]
    r = client.post("/auth/magic-link/verify", json={"token": token_in(link)})
    assert r.status == 200 and r.json()["user"]["email"] == "alice@example.com"
    client.auth.mail.flush()  # type: ignore[attr-defined]


def test_mail_server_down_loses_no_account(client: ContractClient, server: TestServer) -> None:
    server.mode = "421"
    r = client.post("/auth/sign-up/email", json={"email": "bob@example.com", "password": PASSWORD})
    assert r.status == 200 and r.json()["token"] is None  # the same answer as ever
    auth: Any = client.auth  # type: ignore[attr-defined]
    auth.mail.flush()
    assert server.received == []
    assert auth.users.get_user("bob@example.com") is not None  # the account exists
    server.mode = "accept"  # the server is back: resending works
    r = client.post("/auth/send-verification-email", json={"email": "bob@example.com"})
    assert r.status == 200
    [confirm] = wait_for(server, 1)
    r = client.post("/auth/verify-email", json={"token": token_in(confirm)})
    assert r.status == 200 and r.json()["user"]["email_confirmed"] is True
    again = client.post("/auth/sign-up/email", json={"email": "bob@example.com", "password": PASSWORD})
    assert again.status == 200  # no duplicate account, and nothing learned
    assert auth.users.count_users() == 1
    auth.mail.flush()
    assert wait_for(server, 2)[1].rcpt_tos == ["bob@example.com"]  # "someone tried" notice


class SlowMailer:
    """A mail server that takes a second per message."""

    synchronous = False  # it talks to a server: authgate calls it off the request path

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        time.sleep(1.0)
        self.sent.append(message)


def test_unknown_addresses_answer_alike_and_fast(make_client: MakeClient) -> None:
    """Sending happens off the request path: known and unknown addresses answer alike,
    and the answer never waits for the mail server."""
    mailer = SlowMailer()
    client = make_client(send_email=mailer, base_url=BASE)
    client.post("/auth/sign-up/email", json={"email": "carol@example.com", "password": PASSWORD})
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies = set()
    for n in range(3):
        for kind, email in (("known", "carol@example.com"), ("unknown", f"nobody{n}@example.com")):
            start = time.perf_counter()
            r = client.post("/auth/forgot-password", json={"email": email})
            timings[kind].append(time.perf_counter() - start)
            bodies.add((r.status, r.body))
    assert bodies == {(200, b'{"success":true}')}
    assert max(timings["known"]) < 0.5  # did not wait for the one-second mail server
    client.auth.mail.flush()  # type: ignore[attr-defined]
    # two delivery threads: the order of arrival is not fixed
    assert sorted(m.kind for m in mailer.sent) == ["reset_password"] * 3 + ["welcome"]
