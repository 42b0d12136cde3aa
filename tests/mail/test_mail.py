"""The mail contract: messages, as_mailer, console, outbox, queue hand-off, templates."""

from __future__ import annotations

import dataclasses
import importlib.resources
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from authgate.mail import (
    CallableMailer,
    ConsoleMailer,
    EmailMessage,
    MailDeliveryError,
    Mailer,
    QueueMailer,
    SMTPMailer,
    as_mailer,
)
from authgate.mail.queue import deliver
from authgate.mail.render import (
    EMAIL_KINDS,
    EmailRenderer,
    EmailTemplateNotFound,
    duration,
    mask_email,
)
from authgate.settings import Settings
from authgate.testing import OutboxMailer, links

BASE_URL = "https://example.com"
LINK = f"{BASE_URL}/auth/verify-email?token=tok-123_ABC"


@dataclasses.dataclass
class FakeUser:
    id: int = 42
    email: str = "alice@example.com"
    username: str | None = "alice"


def message(**overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "to": "alice@example.com",
        "subject": "Confirm your email",
        "text": f"Hello,\n\nOpen {LINK}.\n",
        "html": f'<a href="{LINK}">Confirm</a>',
        "kind": "confirm_email",
    }
    fields.update(overrides)
    return EmailMessage(**fields)


@pytest.fixture
def settings() -> Settings:
    return Settings(secret="s" * 40, base_url=BASE_URL, site_name="Example")


@pytest.fixture
def renderer(settings: Settings) -> EmailRenderer:
    return EmailRenderer(settings=settings)


# -- EmailMessage -------------------------------------------------------------------


def test_to_dict_is_json_and_leaves_the_user_out() -> None:
    original = message(user=FakeUser(), headers={"Auto-Submitted": "auto-generated"})
    data = original.to_dict()
    assert "user" not in data
    assert data["user_id"] == "42"
    restored = EmailMessage.from_dict(json.loads(json.dumps(data)))
    assert restored == original
    assert restored.user is None
    assert restored.user_id == "42"
    assert restored.headers == {"Auto-Submitted": "auto-generated"}
    assert restored.kind == "confirm_email"


def test_user_without_id_gives_no_user_id() -> None:
    assert message(user=object()).to_dict()["user_id"] is None
    assert message().to_dict()["user_id"] is None


def test_from_dict_ignores_unknown_keys_and_defaults_optional_ones() -> None:
    restored = EmailMessage.from_dict(
        {"to": "a@example.com", "subject": "S", "text": "T", "future_field": 1}
    )
    assert (restored.html, restored.kind, restored.sender, restored.headers) == ("", "", None, {})


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"subject": "S", "text": "T"}, "missing to"),
        ({"to": "a@example.com", "subject": 3, "text": "T"}, "'subject' must be a string"),
        ({"to": "a@example.com", "subject": "S", "text": "T", "headers": {"X": 1}}, "headers"),
        ({"to": "a@example.com", "subject": "S", "text": "T", "sender": 5}, "sender"),
        ({"to": "a@example.com", "subject": "S", "text": "T", "user_id": 5}, "user_id"),
        (["not", "a", "dict"], "expected a dict"),
    ],
)
def test_from_dict_rejects_malformed_data(data: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EmailMessage.from_dict(data)


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"to": "a@example.com\nBcc: victim@example.com"},
        {"sender": "x@example.com\r\nBcc: y@example.com"},
        {"headers": {"X-Note": "a\nBcc: v@example.com"}},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"to": "victim@example.com"}},
        {"to": "  "},
    ],
)
def test_message_rejects_header_injection_and_reserved_headers(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        message(**overrides)


def test_message_is_frozen_and_copies_headers() -> None:
    headers = {"X-Tag": "a"}
    msg = message(headers=headers)
    headers["X-Tag"] = "changed"
    assert msg.headers == {"X-Tag": "a"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.subject = "other"  # type: ignore[misc]
    assert "FakeUser" not in repr(message(user=FakeUser()))  # no user object in logs


# -- as_mailer --------------------------------------------------------------------------


def test_as_mailer_returns_a_mailer_object_itself() -> None:
    outbox = OutboxMailer()
    assert as_mailer(outbox) is outbox
    assert isinstance(outbox, Mailer)


def test_as_mailer_wraps_a_plain_callable() -> None:
    sent: list[EmailMessage] = []

    def send_email(msg: EmailMessage) -> None:
        sent.append(msg)

    mailer = as_mailer(send_email)
    assert isinstance(mailer, CallableMailer)
    assert isinstance(mailer, Mailer)
    mailer.send(message())
    assert sent == [message()]


def test_as_mailer_accepts_callables_taking_varargs() -> None:
    calls: list[tuple[Any, ...]] = []
    as_mailer(lambda *args, **kwargs: calls.append(args)).send(message())
    assert len(calls) == 1


def test_as_mailer_none_is_the_console() -> None:
    assert isinstance(as_mailer(None), ConsoleMailer)


@pytest.mark.parametrize("value", [42, "smtp://localhost", ["a"], object()])
def test_as_mailer_rejects_other_values(value: object) -> None:
    with pytest.raises(TypeError, match="send_email must be a mailer object"):
        as_mailer(value)


def test_as_mailer_rejects_a_class_instead_of_an_instance() -> None:
    with pytest.raises(TypeError, match=r"pass an instance, e\.g\. SMTPMailer\(\.\.\.\)"):
        as_mailer(SMTPMailer)


def test_as_mailer_rejects_a_function_with_the_wrong_signature() -> None:
    def send_email(user: object, subject: str, html: str, text: str) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="must accept one argument"):
        as_mailer(send_email)
    with pytest.raises(TypeError, match="must accept one argument"):
        as_mailer(lambda: None)


# -- console ----------------------------------------------------------------------------


def test_console_prints_recipient_subject_and_text() -> None:
    out = io.StringIO()
    ConsoleMailer(out).send(message(sender="Example <no-reply@example.com>"))
    printed = out.getvalue()
    assert "To: alice@example.com" in printed
    assert "From: Example <no-reply@example.com>" in printed
    assert "Subject: Confirm your email" in printed
    assert LINK in printed
    assert "<a href" not in printed  # the text part, not the HTML
    assert "confirm_email" in printed


def test_console_defaults_to_the_current_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    mailer = as_mailer(None)
    mailer.send(message())
    assert "Subject: Confirm your email" in capsys.readouterr().out
    assert ConsoleMailer.synchronous


def test_console_keeps_blocks_whole_across_threads() -> None:
    out = io.StringIO()
    mailer = ConsoleMailer(out)
    threads = [
        threading.Thread(target=mailer.send, args=(message(to=f"u{n}@example.com"),))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = out.getvalue().split("email: confirm_email")[1:]
    assert len(blocks) == 8
    assert all(block.count("To: ") == 1 for block in blocks)


# -- outbox -----------------------------------------------------------------------------


def test_outbox_keeps_messages_and_finds_the_last() -> None:
    outbox = OutboxMailer()
    first = message(to="alice@example.com", kind="confirm_email")
    second = message(to="bob@example.com", kind="reset_password")
    third = message(to="Alice@Example.com", kind="reset_password", subject="again")
    for msg in (first, second, third):
        as_mailer(outbox).send(msg)

    assert outbox.messages == [first, second, third]
    assert len(outbox) == 3
    assert outbox.last() is third
    assert outbox.last("confirm_email") is first
    assert outbox.last(to="bob@example.com") is second
    assert outbox.last("reset_password", to="alice@example.com") is third
    assert outbox.find("reset_password") == [second, third]
    assert outbox.find("welcome") == []
    outbox.clear()
    assert outbox.messages == []


def test_outbox_last_without_a_match_says_what_was_sent() -> None:
    outbox = OutboxMailer()
    with pytest.raises(LookupError, match="no email; sent: nothing"):
        outbox.last()
    outbox.send(message())
    with pytest.raises(LookupError, match=r"kind='welcome'.*sent: confirm_email to alice"):
        outbox.last("welcome")


def test_outbox_links_come_from_the_text_part() -> None:
    msg = message(
        text=(
            f"Open {LINK}.\nOr (https://example.com/b?x=1&y=2), or http://plain.example/c!\n"
            f"Again: {LINK}\nNot a link: ftp://example.com/x\n"
        ),
        html='<a href="https://only-in-html.example/">x</a>',
    )
    expected = [LINK, "https://example.com/b?x=1&y=2", "http://plain.example/c"]
    assert links(msg) == expected
    assert OutboxMailer().links(msg) == expected


def test_outbox_can_fail_like_a_mail_server_that_is_down() -> None:
    outbox = OutboxMailer(fail=True)
    with pytest.raises(MailDeliveryError) as caught:
        outbox.send(message())
    assert caught.value.retryable
    assert outbox.messages == []
    outbox.fail = False
    outbox.send(message())
    assert len(outbox.messages) == 1


def test_outbox_is_thread_safe() -> None:
    outbox = OutboxMailer()

    def send_many(n: int) -> None:
        for i in range(50):
            outbox.send(message(to=f"t{n}-{i}@example.com"))

    threads = [threading.Thread(target=send_many, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outbox.messages) == 400
    assert OutboxMailer.synchronous


# -- queue hand-off -----------------------------------------------------------------------


def test_queue_mailer_hands_a_json_dict_to_the_queue_and_the_worker_delivers_it() -> None:
    queue: list[str] = []
    mailer = QueueMailer(lambda data: queue.append(json.dumps(data)))
    original = message(user=FakeUser(), headers={"Auto-Submitted": "auto-generated"})
    mailer.send(original)

    outbox = OutboxMailer()
    deliver(json.loads(queue[0]), outbox)  # the worker side
    [delivered] = outbox.messages
    assert delivered == original
    assert delivered.user is None
    assert delivered.user_id == "42"
    assert QueueMailer.synchronous


def test_deliver_accepts_a_plain_function() -> None:
    sent: list[EmailMessage] = []
    deliver(message().to_dict(), sent.append)
    assert sent == [message()]


def test_deliver_rejects_no_mailer_and_bad_data() -> None:
    with pytest.raises(TypeError, match="needs the mailer"):
        deliver(message().to_dict(), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing"):
        deliver({"to": "a@example.com"}, OutboxMailer())


def test_deliver_propagates_delivery_errors_for_the_queue_to_retry() -> None:
    with pytest.raises(MailDeliveryError):
        deliver(message().to_dict(), OutboxMailer(fail=True))


def test_queue_mailer_reports_a_broker_outage_without_the_link() -> None:
    def enqueue(data: dict[str, Any]) -> None:
        raise ConnectionError(f"broker down while sending {data['text']}")

    with pytest.raises(MailDeliveryError) as caught:
        QueueMailer(enqueue).send(message())
    assert caught.value.retryable
    assert "ConnectionError" in str(caught.value)
    assert "confirm_email" in str(caught.value)
    assert LINK not in str(caught.value)


def test_queue_mailer_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="delay"):
        QueueMailer("send_email_task")  # type: ignore[arg-type]


# -- templates ------------------------------------------------------------------------------

CONTEXT: dict[str, Any] = {
    "link": LINK,
    "expires_in_minutes": 60,
    "old_username": "alice",
    "new_username": "alice2",
    "new_email": "alice.new@mail.example.org",
    "old_email": "alice@example.com",
    "invited_by": FakeUser(username="bob"),
    "code": "123456",
    "change": "recovery_code_used",
    "left": 3,
    "few": True,
}


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
def test_every_kind_renders_subject_text_and_html(kind: str, renderer: EmailRenderer) -> None:
    spec = EMAIL_KINDS[kind]
    context = {name: CONTEXT[name] for name in spec.required + spec.optional}
    user = FakeUser()
    msg = renderer.render(kind, "alice@example.com", user, **context)

    assert msg.kind == kind
    assert msg.to == "alice@example.com"
    assert msg.user is user
    assert msg.user_id == "42"
    assert msg.subject and "\n" not in msg.subject
    assert "Example" in msg.subject or "bob" in msg.subject
    assert msg.headers["Auto-Submitted"] == "auto-generated"
    assert msg.text.strip() and "<" not in msg.text.replace("<script>", "")
    assert msg.html.startswith("<!DOCTYPE html>")
    assert 'role="presentation"' in msg.html  # from authgate/email/base.html
    assert f"<title>{msg.subject}</title>" in msg.html
    assert "Example" in msg.html
    if "link" in context:
        assert links(msg)[0] == LINK
        assert f'href="{LINK}"' in msg.html
    if "expires_in_minutes" in context:
        assert "1 hour" in msg.text and "1 hour" in msg.html


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
def test_every_kind_renders_with_only_its_required_context(
    kind: str, renderer: EmailRenderer
) -> None:
    spec = EMAIL_KINDS[kind]
    context = {name: CONTEXT[name] for name in spec.required}
    msg = renderer.render(kind, "alice@example.com", None, **context)
    assert msg.subject and msg.text and msg.html
    assert "None" not in msg.text + msg.html


def test_user_values_are_escaped_in_html_and_plain_in_text(renderer: EmailRenderer) -> None:
    evil = "<script>alert(1)</script>"
    msg = renderer.render(
        "username_changed", "alice@example.com", FakeUser(username=evil),
        old_username="alice", new_username=evil,
    )  # fmt: skip
    assert evil not in msg.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in msg.html
    assert evil in msg.text

    invite = renderer.render(
        "invitation", "new@example.com", None, link=LINK, invited_by=FakeUser(username=evil)
    )
    assert evil not in invite.html
    assert "&lt;script&gt;" in invite.html


def test_subject_stays_one_line_whatever_the_values(renderer: EmailRenderer) -> None:
    msg = renderer.render(
        "invitation", "new@example.com", None, link=LINK,
        invited_by="Eve\r\nBcc: victim@example.com",
    )  # fmt: skip
    assert msg.subject == "Eve Bcc: victim@example.com invited you to Example"


def test_email_changed_masks_the_new_address(renderer: EmailRenderer) -> None:
    msg = renderer.render(
        "email_changed", "alice@example.com", FakeUser(), new_email="attacker@evil-mail.example"
    )
    assert "a***@e***.example" in msg.text
    assert "attacker@evil-mail.example" not in msg.text + msg.html
    assert "alice@example.com" in msg.text  # the old address, from `to`


def test_email_change_confirm_names_the_new_address_by_default(renderer: EmailRenderer) -> None:
    msg = renderer.render("email_change_confirm", "new@example.com", FakeUser(), link=LINK)
    assert "new@example.com" in msg.text


def test_app_template_folder_overrides_the_package(tmp_path: Path, settings: Settings) -> None:
    email_dir = tmp_path / "authgate" / "email"
    email_dir.mkdir(parents=True)
    (email_dir / "reset_password.html").write_text(
        '{% extends "authgate/email/base.html" %}'
        "{% block content %}<p>Custom reset for {{ user.username }}: {{ link }}</p>{% endblock %}"
    )
    (email_dir / "reset_password_subject.txt").write_text("Custom: reset at {{ site_name }}\n")
    renderer = EmailRenderer([tmp_path], settings=settings)

    msg = renderer.render("reset_password", "alice@example.com", FakeUser(), link=LINK)
    assert msg.subject == "Custom: reset at Example"
    assert "<p>Custom reset for alice: " in msg.html
    assert 'role="presentation"' in msg.html  # still the package layout
    assert "We received a request to reset the password" in msg.text  # package text part
    other = renderer.render("welcome", "alice@example.com", FakeUser())
    assert other.subject == "Welcome to Example"


def test_template_dirs_may_be_a_single_path(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "authgate" / "email").mkdir(parents=True)
    (tmp_path / "authgate" / "email" / "welcome_subject.txt").write_text("Hi from the app")
    msg = EmailRenderer(str(tmp_path), settings=settings).render("welcome", "a@example.com", None)
    assert msg.subject == "Hi from the app"


def test_missing_template_is_a_clear_error(tmp_path: Path, settings: Settings) -> None:
    renderer = EmailRenderer([tmp_path], settings=settings)
    with pytest.raises(EmailTemplateNotFound) as caught:
        renderer.render("newsletter", "a@example.com", None)
    assert "'authgate/email/newsletter_subject.txt'" in str(caught.value)
    assert "'newsletter' email" in str(caught.value)
    assert str(tmp_path) in str(caught.value)
    assert isinstance(caught.value, LookupError)

    (tmp_path / "authgate" / "email").mkdir(parents=True)
    (tmp_path / "authgate" / "email" / "newsletter_subject.txt").write_text("News")
    with pytest.raises(EmailTemplateNotFound, match=r"'authgate/email/newsletter\.txt'"):
        renderer.render("newsletter", "a@example.com", None)


def test_app_kinds_render_from_app_templates(tmp_path: Path, settings: Settings) -> None:
    email_dir = tmp_path / "authgate" / "email"
    email_dir.mkdir(parents=True)
    (email_dir / "newsletter_subject.txt").write_text("News from {{ site_name }}")
    (email_dir / "newsletter.txt").write_text("Issue {{ issue }}")
    (email_dir / "newsletter.html").write_text(
        '{% extends "authgate/email/base.html" %}{% block content %}#{{ issue }}{% endblock %}'
    )
    msg = EmailRenderer([tmp_path], settings=settings).render(
        "newsletter", "a@example.com", None, issue=7
    )
    assert (msg.subject, msg.text) == ("News from Example", "Issue 7\n")
    assert "#7" in msg.html


def test_undefined_value_in_a_template_is_an_error(tmp_path: Path, settings: Settings) -> None:
    email_dir = tmp_path / "authgate" / "email"
    email_dir.mkdir(parents=True)
    (email_dir / "welcome.txt").write_text("Hello {{ nickname }}")
    with pytest.raises(TypeError, match=r"authgate/email/welcome\.txt.*'nickname' is undefined"):
        EmailRenderer([tmp_path], settings=settings).render("welcome", "a@example.com", None)


def test_missing_required_context_is_named(renderer: EmailRenderer) -> None:
    with pytest.raises(TypeError, match=r"'reset_password' email needs link="):
        renderer.render("reset_password", "a@example.com", None)
    with pytest.raises(TypeError, match=r"old_username=\.\.\., new_username="):
        renderer.render("username_changed", "a@example.com", None)


def test_renderer_owned_values_cannot_be_passed(renderer: EmailRenderer) -> None:
    with pytest.raises(TypeError, match="base_url"):
        renderer.render("welcome", "a@example.com", None, base_url="https://evil.example")


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/auth/verify-email?token=t",
        "http://example.com/auth/verify-email?token=t",  # wrong scheme
        "https://example.com:8443/auth/verify-email?token=t",  # wrong port
        "/auth/verify-email?token=t",
        "javascript:alert(1)",
    ],
)
def test_links_must_use_the_configured_base_url(renderer: EmailRenderer, link: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        renderer.render("confirm_email", "a@example.com", None, link=link)


def test_link_origin_check_ignores_case_and_default_port(renderer: EmailRenderer) -> None:
    msg = renderer.render("confirm_email", "a@example.com", None, link="https://EXAMPLE.com:443/x")
    assert "https://EXAMPLE.com:443/x" in msg.text


def test_without_base_url_links_must_still_be_absolute() -> None:
    renderer = EmailRenderer(settings=Settings(secret="s" * 40))
    msg = renderer.render("login_link", "a@example.com", None, link="http://localhost:8000/x")
    assert "http://localhost:8000/x" in msg.text
    with pytest.raises(ValueError, match="absolute"):
        renderer.render("login_link", "a@example.com", None, link="/auth/x")


@pytest.mark.parametrize("kind", ["Reset", "../secret", "reset-password", ""])
def test_kind_must_be_a_plain_name(renderer: EmailRenderer, kind: str) -> None:
    with pytest.raises(ValueError, match="lowercase name"):
        renderer.render(kind, "a@example.com", None)


@pytest.mark.parametrize(
    ("minutes", "words"),
    [(1, "1 minute"), (10, "10 minutes"), (60, "1 hour"), (90, "90 minutes"),
     (120, "2 hours"), (1440, "1 day"), (4320, "3 days"), (None, "")],
)  # fmt: skip
def test_duration_filter(minutes: int | None, words: str) -> None:
    assert duration(minutes) == words


@pytest.mark.parametrize(
    ("address", "masked"),
    [("jane.doe@example.com", "j***@e***.com"), ("x@localhost", "x***@l***"),
     ("not-an-address", "***"), ("", "***")],
)  # fmt: skip
def test_mask_email_filter(address: str, masked: str) -> None:
    assert mask_email(address) == masked


def test_templates_ship_inside_the_package() -> None:
    folder = importlib.resources.files("authgate") / "templates" / "authgate" / "email"
    names = {entry.name for entry in folder.iterdir()}
    assert {"base.html", "base.txt"} <= names
    for kind in EMAIL_KINDS:
        assert {f"{kind}_subject.txt", f"{kind}.txt", f"{kind}.html"} <= names, kind
