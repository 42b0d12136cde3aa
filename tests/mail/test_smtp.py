"""SMTPMailer against a real SMTP server (aiosmtpd): delivery, AUTH, TLS, failures."""

from __future__ import annotations

import smtplib
import time
import traceback
import warnings

import pytest

from authgate.mail import EmailMessage, MailDeliveryError, SMTPMailer
from authgate.mail.render import EmailRenderer
from authgate.settings import InsecureSettingWarning, Settings
from tests.mail import smtp_server
from tests.mail.smtp_server import HOST, PASSWORD, USERNAME, SMTPServers, TestServer

smtp_servers = smtp_server.smtp_servers
tls_files = smtp_server.tls_files

LINK = "https://example.com/auth/reset-password?token=abc123"


def reset_message(**overrides: object) -> EmailMessage:
    fields: dict[str, object] = {
        "to": "alice@example.com",
        "subject": "Reset your password",
        "text": f"Open this link:\n\n{LINK}\n",
        "html": f'<p><a href="{LINK}">Reset</a></p>',
        "kind": "reset_password",
    }
    fields.update(overrides)
    return EmailMessage(**fields)  # type: ignore[arg-type]


def mailer_for(server: TestServer, **kwargs: object) -> SMTPMailer:
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("sender", "Example <no-reply@example.com>")
    return SMTPMailer(server.host, server.port, **kwargs)  # type: ignore[arg-type]


def error_text(exc: BaseException) -> str:
    """Everything a log would show: message, repr, chained causes and traceback."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


# -- delivery -------------------------------------------------------------------


def test_delivers_multipart_text_and_html(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()
    mailer_for(server).send(reset_message())

    [received] = server.received
    assert received.mail_from == "no-reply@example.com"
    assert received.rcpt_tos == ["alice@example.com"]
    assert not received.tls
    msg = received.message
    assert msg["To"] == "alice@example.com"
    assert msg["From"] == "Example <no-reply@example.com>"
    assert msg["Subject"] == "Reset your password"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["Date"].datetime is not None
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert LINK in text.get_content()
    assert f'href="{LINK}"' in html.get_content()


def test_text_only_message_is_not_multipart(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()
    mailer_for(server).send(reset_message(html=""))
    msg = server.received[0].message
    assert msg.get_content_type() == "text/plain"
    assert LINK in msg.get_content()


def test_rendered_non_ascii_email_arrives_intact_over_7bit_transport(
    smtp_servers: SMTPServers,
) -> None:
    server = smtp_servers.start()
    settings = Settings(secret="s" * 40, base_url="https://example.com", site_name="Café Zoë")
    message = EmailRenderer(settings=settings).render(
        "reset_password", "zoë@example.com".replace("ë", "e"), None,
        link=LINK, expires_in_minutes=60,
    )  # fmt: skip
    mailer_for(server).send(message)

    received = server.received[0]
    assert received.raw.isascii()  # quoted-printable / base64 and RFC 2047 headers
    assert received.message["Subject"] == "Reset your Café Zoë password"
    text, html = received.message.iter_parts()
    assert "Café Zoë" in text.get_content()
    assert LINK in text.get_content()
    assert "Café Zoë" in html.get_content()


def test_message_headers_and_sender_override_the_defaults(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()
    message = reset_message(
        sender="Support <help@support.example.org>",
        headers={"Reply-To": "help@support.example.org", "Auto-Submitted": "auto-replied"},
    )
    mailer_for(server).send(message)

    received = server.received[0]
    assert received.mail_from == "help@support.example.org"
    assert received.message["From"] == "Support <help@support.example.org>"
    assert received.message["Reply-To"] == "help@support.example.org"
    assert received.message.get_all("Auto-Submitted") == ["auto-replied"]
    assert received.message["Message-ID"].endswith("@support.example.org>")


def test_each_send_is_its_own_session(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()
    mailer = mailer_for(server)
    for n in range(3):
        mailer.send(reset_message(to=f"user{n}@example.com"))
    assert [r.rcpt_tos for r in server.received] == [[f"user{n}@example.com"] for n in range(3)]
    assert len({r.message["Message-ID"] for r in server.received}) == 3


def test_non_ascii_address_needs_smtputf8(smtp_servers: SMTPServers) -> None:
    plain = smtp_servers.start()
    with pytest.raises(MailDeliveryError, match="SMTPUTF8"):
        mailer_for(plain).send(reset_message(to="zoë@example.com"))
    assert plain.received == []

    capable = smtp_servers.start(smtputf8=True)
    mailer_for(capable).send(reset_message(to="zoë@example.com"))
    assert capable.received[0].rcpt_tos == ["zoë@example.com"]
    assert capable.received[0].message["To"] == "zoë@example.com"


# -- AUTH ------------------------------------------------------------------------


def test_auth_success(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(auth=True)
    mailer_for(server, username=USERNAME, password=PASSWORD).send(reset_message())
    assert server.handler.logins == [(USERNAME, True)]
    assert server.received[0].login == USERNAME


def test_wrong_password_is_a_delivery_error_without_the_password(
    smtp_servers: SMTPServers,
) -> None:
    server = smtp_servers.start(auth=True)
    wrong = "wrong-Pa55word-xyz"
    mailer = mailer_for(server, username=USERNAME, password=wrong)
    with pytest.raises(MailDeliveryError) as caught:
        mailer.send(reset_message())

    assert "authentication failed" in caught.value.reason
    assert not caught.value.retryable
    assert wrong not in error_text(caught.value)
    assert PASSWORD not in error_text(caught.value)
    assert wrong not in repr(mailer)
    # smtplib tries each offered mechanism (PLAIN, then LOGIN): every one failed.
    assert server.handler.logins
    assert all(login == USERNAME and not ok for login, ok in server.handler.logins)
    assert server.received == []


def test_username_without_server_auth_support_fails(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()  # no AUTH offered
    with pytest.raises(MailDeliveryError, match="AUTH"):
        mailer_for(server, username=USERNAME, password=PASSWORD).send(reset_message())
    assert server.received == []


# -- server refusals, outage, hang -------------------------------------------------


def test_server_answering_421_is_a_retryable_delivery_error(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(mode="421")
    with pytest.raises(MailDeliveryError) as caught:
        mailer_for(server).send(reset_message())
    assert "421" in caught.value.reason
    assert caught.value.retryable
    assert server.received == []


def test_server_answering_554_is_a_permanent_delivery_error(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(mode="554")
    with pytest.raises(MailDeliveryError) as caught:
        mailer_for(server).send(reset_message())
    assert "554" in caught.value.reason
    assert "refused the message" in caught.value.reason
    assert not caught.value.retryable
    assert server.received == []


def test_server_recovers_after_refusing(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(mode="421")
    mailer = mailer_for(server)
    with pytest.raises(MailDeliveryError):
        mailer.send(reset_message())
    server.mode = "accept"
    mailer.send(reset_message())
    assert len(server.received) == 1


def test_server_down_fails_fast() -> None:
    port = smtp_server.free_port()  # nothing listens there
    mailer = SMTPMailer(HOST, port, timeout=5.0)
    started = time.monotonic()
    with pytest.raises(MailDeliveryError) as caught:
        mailer.send(reset_message())
    assert time.monotonic() - started < 2.0
    assert caught.value.reason == f"SMTP connection to {HOST}:{port} failed (Connection refused)"
    assert caught.value.retryable


def test_hanging_server_fails_within_the_timeout(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(mode="hang")  # answers DATA after 2.5 s
    mailer = mailer_for(server, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(MailDeliveryError) as caught:
        mailer.send(reset_message())
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert "did not answer within 0.5s" in caught.value.reason
    assert caught.value.retryable


def test_timeout_is_a_budget_for_the_whole_send(
    smtp_servers: SMTPServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = smtp_servers.start()
    mailer = mailer_for(server, timeout=0.3)
    real_rcpt = smtplib.SMTP.rcpt

    def slow_rcpt(self: smtplib.SMTP, *args: object, **kwargs: object) -> tuple[int, bytes]:
        time.sleep(0.4)  # each step is quick on the wire, but the budget is spent
        return real_rcpt(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(smtplib.SMTP, "rcpt", slow_rcpt)
    with pytest.raises(MailDeliveryError, match="did not answer within"):
        mailer.send(reset_message())
    assert server.received == []


# -- TLS ---------------------------------------------------------------------------


def test_starttls_delivery_with_auth_after_tls(
    smtp_servers: SMTPServers, tls_files: smtp_server.TLSFiles
) -> None:
    # AUTH is only offered once the session is encrypted.
    server = smtp_servers.start(starttls=True, auth=True, auth_require_tls=True)
    mailer = mailer_for(
        server,
        starttls=True,
        username=USERNAME,
        password=PASSWORD,
        ssl_context=tls_files.client_context(),
    )
    mailer.send(reset_message())

    [received] = server.received
    assert received.tls
    assert received.login == USERNAME
    assert LINK in received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_starttls_verifies_the_certificate_by_default(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(starttls=True)
    with pytest.raises(MailDeliveryError, match="TLS") as caught:
        mailer_for(server, starttls=True).send(reset_message())  # system CAs only
    assert "certificate" in caught.value.reason.lower()
    assert server.received == []


def test_starttls_never_falls_back_to_clear_text(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()  # no STARTTLS offered
    with pytest.raises(MailDeliveryError, match="STARTTLS"):
        mailer_for(server, starttls=True).send(reset_message())
    assert server.received == []


def test_smtps_delivery(smtp_servers: SMTPServers, tls_files: smtp_server.TLSFiles) -> None:
    server = smtp_servers.start(smtps=True, auth=True)
    mailer = mailer_for(
        server, ssl=True, username=USERNAME, password=PASSWORD,
        ssl_context=tls_files.client_context(),
    )  # fmt: skip
    mailer.send(reset_message())
    assert server.received[0].tls
    assert server.received[0].login == USERNAME


def test_smtps_against_a_plain_server_fails(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start()
    with pytest.raises(MailDeliveryError):
        mailer_for(server, ssl=True, timeout=2.0).send(reset_message())
    assert server.received == []


# -- configuration -------------------------------------------------------------------


def test_from_url_plain_with_options() -> None:
    mailer = SMTPMailer.from_url(
        "smtp://us%40er:p%40ss%3Aword@Mail.Example.com:2525"
        "?starttls=1&timeout=5&sender=App%20%3Capp%40example.com%3E&local_hostname=web1"
    )
    assert (mailer.host, mailer.port) == ("mail.example.com", 2525)
    assert mailer.username == "us@er"
    assert mailer._password == "p@ss:word"
    assert mailer.starttls and not mailer.ssl
    assert mailer.timeout == 5.0
    assert mailer.sender == "App <app@example.com>"
    assert mailer.local_hostname == "web1"
    assert "p@ss:word" not in repr(mailer)


@pytest.mark.parametrize(
    ("url", "port", "starttls", "use_ssl"),
    [
        ("smtp://localhost", 25, False, False),
        ("smtp+tls://localhost", 587, True, False),
        ("smtps://localhost", 465, False, True),
        ("smtp+ssl://localhost", 465, False, True),
        ("SMTPS://localhost:1465", 1465, False, True),
        ("smtp://localhost?starttls=0", 25, False, False),
    ],
)
def test_from_url_schemes(url: str, port: int, starttls: bool, use_ssl: bool) -> None:
    mailer = SMTPMailer.from_url(url)
    assert (mailer.port, mailer.starttls, mailer.ssl) == (port, starttls, use_ssl)
    assert mailer.username is None


def test_from_url_keyword_overrides_win() -> None:
    mailer = SMTPMailer.from_url("smtp://localhost?timeout=30", timeout=2.0, sender="a@b.example")
    assert mailer.timeout == 2.0
    assert mailer.sender == "a@b.example"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://user:hunter2@mail.example.com", "scheme"),
        ("mail.example.com:25", "scheme"),
        ("smtp://user:hunter2@mail.example.com:port", "invalid port"),
        ("smtp://user:hunter2@mail.example.com?startls=1", "did you mean 'starttls'"),
        ("smtp://user:hunter2@mail.example.com?starttls=maybe", "starttls"),
        ("smtp://user:hunter2@mail.example.com?timeout=soon", "timeout"),
        ("smtp://user:hunter2@mail.example.com?timeout=1&timeout=2", "twice"),
        ("smtps://user:hunter2@mail.example.com?starttls=1", "not both"),
    ],
)
def test_from_url_rejects_bad_urls_without_echoing_the_password(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        SMTPMailer.from_url(url)
    assert "hunter2" not in str(caught.value)


def test_from_url_delivers(smtp_servers: SMTPServers) -> None:
    server = smtp_servers.start(auth=True)
    url = f"smtp://{USERNAME}:{PASSWORD}@{server.host}:{server.port}?timeout=5&sender=a%40b.example"
    SMTPMailer.from_url(url).send(reset_message())
    assert server.received[0].login == USERNAME
    assert server.received[0].mail_from == "a@b.example"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"starttls": True, "ssl": True}, "not both"),
        ({"username": "u"}, "both username and password"),
        ({"password": "p"}, "both username and password"),
        ({"timeout": 0}, "timeout"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"sender": "nobody"}, "sender"),
        ({"host": ""}, "host"),
    ],
)
def test_constructor_rejects_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SMTPMailer(**kwargs)  # type: ignore[arg-type]


def test_clear_text_password_to_a_remote_host_warns() -> None:
    with pytest.warns(InsecureSettingWarning, match="clear text"):
        SMTPMailer("mail.example.com", 25, username="u", password="p")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SMTPMailer("127.0.0.1", 25, username="u", password="p")
        SMTPMailer("localhost", 25, username="u", password="p")
        SMTPMailer("mail.example.com", 587, username="u", password="p", starttls=True)


def test_repr_hides_the_password() -> None:
    mailer = SMTPMailer("localhost", username="u", password="hunter2")
    assert "hunter2" not in repr(mailer)
    assert "'***'" in repr(mailer)
    assert not SMTPMailer.synchronous
