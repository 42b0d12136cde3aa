"""Real browser tests: Debian's Chromium driven by Playwright, against apps served on 127.0.0.1.

* The browser is ``/usr/bin/chromium`` (``make test`` installs Debian's package when it
  is missing); Playwright's own browser download is never used. Headless, with
  ``--no-sandbox --disable-gpu --disable-background-networking``.
* axe-core comes from npm (``tests/package.json``, ``npm ci`` by ``make test`` into
  ``tests/node_modules``); :func:`check_accessibility` injects it into the page and
  fails on any serious or critical violation.
* Each app (Flask, Django, Bottle, FastAPI) is served for real, in a thread, and
  sends its mail to a real SMTP server (aiosmtpd): the tests read the links there.
* Screenshots go to ``build/screenshots/`` (git-ignored).

Under ``CI=true`` a missing Chromium or axe-core fails the run; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from authgate import Auth
from authgate.mail import SMTPMailer
from tests.mail.smtp_server import SMTPServers, TestServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "screenshots"
SECRET = "browser-tests-secret-" + "x" * 32
PASSWORD = "correct horse battery staple"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def _missing(what: str) -> None:
    message = f"{what} is missing: run `make test` (it installs it)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium for one test.

    Not shared between tests: Playwright's sync API keeps an event loop running in
    the test thread while it is open, and Django refuses database calls from a
    thread with a running loop (the other tests of this worker would fail).
    """
    if not CHROMIUM.exists():
        _missing("Debian's chromium (/usr/bin/chromium)")
    if not AXE.exists():
        _missing("axe-core (tests/node_modules)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=ARGS)  # fmt: skip
        try:
            yield instance
        finally:
            instance.close()


def check_accessibility(page: Any) -> None:
    """Run axe-core in ``page``; fail on serious or critical violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Site:
    """An app served on 127.0.0.1 with its mail server."""

    base: str
    auth: Auth
    mail: TestServer
    framework: str

    def url(self, path: str) -> str:
        return self.base + path

    def wait_for_link(self, kind_words: str, count: int, timeout: float = 10.0) -> str:
        """The first link of mail number ``count`` (1-based), whose subject has ``kind_words``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.mail.received) >= count:
                break
            time.sleep(0.05)
        assert len(self.mail.received) >= count, f"{len(self.mail.received)} mails"
        message = self.mail.received[count - 1].message
        assert kind_words.lower() in str(message["Subject"]).lower(), message["Subject"]
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        found = re.search(r"https?://\S+", text)
        assert found is not None, text
        return found.group(0)


def _wsgi(app: Any, port: int) -> Callable[[], None]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.shutdown


def _asgi(app: Any, port: int) -> Callable[[], None]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return stop


def make_app(framework: str, auth: Auth) -> tuple[Any, str]:
    """The app of ``framework`` serving ``auth`` (with a home page and a protected page)."""
    if framework == "flask":
        from flask import Flask

        from authgate.flask import current_user, login_required, setup_for_flask

        flask_app = Flask(__name__)
        setup_for_flask(auth, flask_app)
        flask_app.add_url_rule("/", "home", lambda: _home(current_user))
        flask_app.add_url_rule("/protected", "protected",
                               login_required(lambda: _home(current_user)))  # fmt: skip
        return flask_app, "wsgi"
    if framework == "bottle":
        import bottle

        from authgate.bottle import (
            current_user as bottle_user,
            login_required as bottle_login_required,
            setup_for_bottle,
        )

        bottle_app = bottle.Bottle()
        setup_for_bottle(auth, bottle_app)
        bottle_app.get("/", callback=lambda: _home(bottle_user()))
        bottle_app.get("/protected", callback=bottle_login_required(lambda: _home(bottle_user())))
        return bottle_app, "wsgi"
    if framework == "fastapi":
        from fastapi import FastAPI
        from fastapi.responses import HTMLResponse

        from authgate.fastapi import OptionalUser, setup_for_fastapi

        fastapi_app = FastAPI()
        setup_for_fastapi(auth, fastapi_app, pages=True)

        @fastapi_app.get("/", response_class=HTMLResponse)
        def home(user: OptionalUser) -> str:
            return _home(user)

        return fastapi_app, "asgi"
    if framework == "django":
        from tests.django_project import setup, wsgi_app

        # Playwright's sync API runs an event loop in this thread, where Django refuses
        # to touch its database (the set-up migrates): set it up in a thread of its own.
        thread = threading.Thread(target=setup)
        thread.start()
        thread.join()
        return wsgi_app(auth), "wsgi"
    raise AssertionError(framework)


def _home(user: Any) -> str:
    who = user.email if user else "nobody"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Home</title></head>'
        f'<body><main><h1>Home</h1><p id="who">Signed in: {who}</p>'
        '<p><a href="/auth/account">Account</a></p></main></body></html>'
    )


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    """``serve(framework, [host], **settings)``: the app running on 127.0.0.1 (browsed at
    ``host``), mail to a real SMTP server."""
    servers = SMTPServers()
    stops: list[Callable[[], None]] = []

    def start(framework: str, host: str = "127.0.0.1", **settings: Any) -> Site:
        # host="localhost" for passkeys: a WebAuthn RP id is a domain, never an IP address.
        mail = servers.start()
        port = free_port()
        base = f"http://{host}:{port}"
        mailer = SMTPMailer("127.0.0.1", mail.port, timeout=5.0, sender="auth@app.example")
        options: dict[str, Any] = {
            "argon2_memory_cost": 1024, "argon2_time_cost": 1, "debug": True,
            "base_url": base, "send_email": mailer, "login_after_confirm": False,
            **settings,
        }  # fmt: skip
        auth = Auth(SECRET, **options)
        app, kind = make_app(framework, auth)
        stops.append(_wsgi(app, port) if kind == "wsgi" else _asgi(app, port))
        stops.append(auth.mail.close)
        return Site(base, auth, mail, framework)

    try:
        yield start
    finally:
        for stop in reversed(stops):
            stop()
        servers.stop_all()

