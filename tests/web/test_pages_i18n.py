"""Languages: the visitor's choice, Accept-Language, default_locale and the app's hook, on
pages, JSON errors and emails, on every framework; Farsi is right to left."""

from __future__ import annotations

import re
from typing import Any

import pytest

from authgate.testing import OutboxMailer

from .clients import ContractClient
from .conftest import MakeClient
from .pages import HTML, PASSWORD, form, submit, text

BASE = "https://app.example"


@pytest.fixture
def outbox() -> OutboxMailer:
    return OutboxMailer()


@pytest.fixture
def mk(make_client: MakeClient, outbox: OutboxMailer) -> MakeClient:
    def factory(**settings: Any) -> ContractClient:
        return make_client(send_email=outbox, base_url=BASE, **settings)

    return factory


def lang_of(body: str) -> str:
    found = re.search(r'<html lang="([^"]+)" dir="(ltr|rtl)">', body)
    assert found is not None
    return f"{found.group(1)}/{found.group(2)}"


def test_accept_language_picks_the_language(mk: MakeClient) -> None:
    client = mk()
    page = client.get("/auth/login", headers={**HTML, "Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
    assert lang_of(text(page)) == "de/ltr"
    assert "<h1>Anmelden</h1>" in text(page) and "Passwort vergessen?" in text(page)
    page = client.get("/auth/login", headers={**HTML, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert lang_of(text(page)) == "zh-Hans/ltr" and "忘记密码？" in text(page)
    page = client.get("/auth/login", headers={**HTML, "Accept-Language": "pt-BR"})
    assert lang_of(text(page)) == "pt-BR/ltr" and "Esqueceu sua senha?" in text(page)
    # Nothing shipped asked for: the default.
    page = client.get("/auth/login", headers={**HTML, "Accept-Language": "sw, zh-TW"})
    assert lang_of(text(page)) == "en/ltr"


def test_farsi_is_right_to_left(mk: MakeClient) -> None:
    page = mk().get("/auth/register", headers={**HTML, "Accept-Language": "fa-IR"})
    body = text(page)
    assert lang_of(body) == "fa/rtl"
    assert "ساختن حساب" in body and 'autocomplete="new-password"' in body


def test_the_visitors_choice_wins_and_the_picker_sets_it(mk: MakeClient) -> None:
    client = mk()
    page = client.get("/auth/forgot?next=%2Fx", headers={**HTML, "Accept-Language": "de"})
    picker = form(page, "/auth/locale")
    assert picker.fields["next"] == "/auth/forgot?next=%2Fx"
    r = submit(client, page, "/auth/locale", locale="ja")
    assert r.status == 303 and r.header("Location") == "/auth/forgot?next=%2Fx"
    assert any(c.startswith("authgate_locale=ja;") and "Max-Age=31536000" in c for c in r.set_cookies)
    page = client.get("/auth/forgot", headers={**HTML, "Accept-Language": "de"})
    assert lang_of(text(page)) == "ja/ltr"
    # An unknown choice changes nothing; an unsafe next falls back.
    r = submit(client, page, "/auth/locale", locale="xx", next="//evil.com")
    assert r.header("Location") == "/auth/login"
    assert lang_of(text(client.get("/auth/forgot", headers=HTML))) == "ja/ltr"
    # The picker is a form like any other: without its token it does nothing.
    r = client.post("/auth/locale", body=b"locale=fr&next=%2F",
                    headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status == 303 and not any("authgate_locale=fr" in c for c in r.set_cookies)


def test_default_locale_and_the_apps_hook(mk: MakeClient) -> None:
    client = mk(default_locale="it")
    assert lang_of(text(client.get("/auth/login", headers=HTML))) == "it/ltr"
    chosen: dict[str, str | None] = {"value": "tr"}
    seen: list[Any] = []

    def selector(request: Any) -> str | None:
        seen.append(request)
        return chosen["value"]

    client = mk(locale_selector=selector, default_locale="pt-BR")
    client.cookies["authgate_locale"] = "de"
    page = client.get("/auth/login", headers={**HTML, "Accept-Language": "fr"})
    assert lang_of(text(page)) == "tr/ltr" and seen and hasattr(seen[0], "cookies")
    chosen["value"] = None  # the hook has no opinion: the visitor's choice, then the header
    assert lang_of(text(client.get("/auth/login", headers=HTML))) == "de/ltr"
    del client.cookies["authgate_locale"]
    assert lang_of(text(client.get("/auth/login", headers={**HTML, "Accept-Language": "fr"}))) == "fr/ltr"
    assert lang_of(text(client.get("/auth/login", headers=HTML))) == "pt-BR/ltr"


def test_json_errors_speak_the_callers_language(mk: MakeClient) -> None:
    client = mk()
    client.auth.users.create_user(email="alice@example.com", password=PASSWORD)  # type: ignore[attr-defined]
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "nope nope"},
                    headers={"Accept-Language": "fr"})  # fmt: skip
    assert r.status == 401 and r.json()["error"] == {
        "code": "INVALID_CREDENTIALS", "message": "Identifiants incorrects.",
    }  # fmt: skip
    r = client.post("/auth/sign-up/email", json={"email": "bad", "password": "x"},
                    headers={"Accept-Language": "ru"})  # fmt: skip
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["fields"] == {
        "email": "invalid", "password": "too_short",
    }  # fmt: skip
    assert error["message"] == "email: Недопустимое значение. password: Слишком коротко."
    r = client.get("/auth/nowhere", headers={"Accept-Language": "ja"})
    assert r.json()["error"]["message"] == "そのエンドポイントはありません。"
    r = client.get("/auth/session", headers={"Accept-Language": "es"})
    assert r.json()["error"]["message"] == "Es necesario iniciar sesión."
    # No Accept-Language: English, as before.
    r = client.post("/auth/sign-in/email", json={"email": "alice@example.com", "password": "nope nope"})
    assert r.json()["error"]["message"] == "Invalid credentials."


def test_the_decorators_json_refusals_are_translated(mk: MakeClient) -> None:
    r = mk().get("/protected", headers={"Accept-Language": "nl"})
    assert r.status == 401 and r.json()["error"]["message"] == "Inloggen vereist."


def test_emails_are_written_in_the_requests_language(mk: MakeClient, outbox: OutboxMailer) -> None:
    client = mk()
    client.auth.users.create_user(email="alice@example.com", password=PASSWORD)  # type: ignore[attr-defined]
    client.post("/auth/forgot-password", json={"email": "alice@example.com"},
                headers={"Accept-Language": "es"})  # fmt: skip
    message = outbox.last("reset_password")
    assert message.subject == "Restablece tu contraseña de authgate"
    assert "Hola:" in message.text and "caduca en 1 hora" in message.text
    assert '<html lang="es" dir="ltr">' in message.html
    client.cookies["authgate_locale"] = "fa"  # the picker's choice, sent with the POST too
    page = client.get("/auth/forgot", headers=HTML)
    submit(client, page, "/auth/forgot", email="alice@example.com")
    del client.cookies["authgate_locale"]
    message = outbox.last("reset_password")
    assert '<html lang="fa" dir="rtl">' in message.html and "گذرواژه" in message.subject
    client.post("/auth/forgot-password", json={"email": "alice@example.com"})
    assert outbox.last("reset_password").subject == "Reset your authgate password"
