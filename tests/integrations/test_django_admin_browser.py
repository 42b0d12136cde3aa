"""One Chromium pass over Django's admin with authgate's user model.

A real browser (Debian's ``/usr/bin/chromium``, driven by Playwright; never a
browser download) signs in on the admin's own login page with an authgate
user's email and password, and reads the user list served by a real HTTP
server in this process. Playwright's sync API runs an event loop in this
thread, and Django refuses database calls from such a thread: the data is
made before the browser starts, and the server answers from its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from tests.django_project import empty_tables, setup

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def live_server() -> Iterator[str]:
    """The test project served over HTTP on 127.0.0.1 from a thread of its own."""
    setup()
    from django.core.wsgi import get_wsgi_application

    server: WSGIServer = make_server(
        "127.0.0.1", 0, get_wsgi_application(), handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, name="admin-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        empty_tables()


def test_chromium_signs_in_to_the_admin_and_reads_the_user_list(live_server: str) -> None:
    from authgate.django import get_auth

    auth = get_auth()
    auth.users.create_user(email="root@example.com", password=PASSWORD, roles=["superuser"])
    for n in range(3):
        auth.users.create_user(email=f"member{n}@example.com", password=PASSWORD,
                               roles=["writer"] if n == 0 else [])  # fmt: skip
    hashes = [u.password_hash for u in auth.users.list_users()]

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{live_server}/admin/authgate/user/")
            assert "/admin/login/" in page.url  # not signed in: the admin's login page
            page.fill("input[name=username]", "ROOT@example.com")  # the email, any case
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/authgate/user/")
            rows = page.locator("#result_list tbody tr")
            assert rows.count() == 4
            listed = page.locator("#result_list").inner_text()
            cookies = {c["name"] for c in page.context.cookies()}
            html = page.content()
        finally:
            browser.close()

    for email in ("root@example.com", "member0@example.com", "member2@example.com"):
        assert email in listed
    assert "writer" in listed
    assert not any(h in html for h in hashes)
    assert "sessionid" in cookies  # Django's session, carrying an authgate session
    root = auth.users.get_user("root@example.com")
    (entry,) = auth.list_sessions(root)
    assert entry.ip == "127.0.0.1" and "Chrome" in (entry.user_agent or "")
