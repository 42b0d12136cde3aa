"""Flask-Login's per-request signals, sent by every framework's protected views.

``user_loaded_from_cookie`` (the session cookie), ``user_loaded_from_request``
(a bearer token or HTTP Basic in the request) and ``user_unauthorized`` (a
protected view refused a request for want of a credential); the sender is the
``Auth``, as for every authgate signal.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from authgate import signals

from .clients import ContractClient

PASSWORD = "correct horse battery"


@contextmanager
def recording(client: ContractClient) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    auth = client.auth  # type: ignore[attr-defined]
    names = ("user_loaded_from_cookie", "user_loaded_from_request", "user_unauthorized")
    receivers = {name: (lambda _s, _n=name, **kw: sent.append((_n, kw))) for name in names}
    try:
        for name, receiver in receivers.items():
            getattr(signals, name).connect(receiver, sender=auth)
        yield sent
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver, sender=auth)


def test_loading_the_user_is_signalled_by_how_it_came(client: ContractClient) -> None:
    signed = client.post("/auth/sign-up/email", json={"email": "a@example.com", "password": PASSWORD})
    token = signed.json()["token"]
    with recording(client) as sent:
        assert client.get("/protected").status == 200  # by the session cookie
    ((name, extra),) = sent
    assert name == "user_loaded_from_cookie"
    assert extra["user"].email == "a@example.com" and extra["session_id"]

    with recording(client) as sent:
        response = client.get("/protected", headers={"Authorization": f"Bearer {token}"},
                              cookies=False)  # fmt: skip
        assert response.status == 200
    ((name, extra),) = sent
    assert name == "user_loaded_from_request"
    assert extra["mechanism"] == "token" and extra["user"].email == "a@example.com"

    basic = base64.b64encode(f"a@example.com:{PASSWORD}".encode()).decode()
    with recording(client) as sent:
        response = client.get("/basic", headers={"Authorization": f"Basic {basic}"},
                              cookies=False)  # fmt: skip
        assert response.status == 200
    ((name, extra),) = sent
    assert name == "user_loaded_from_request"
    assert extra["mechanism"] == "basic" and extra["session_id"] is None


def test_a_refused_request_is_signalled(client: ContractClient) -> None:
    with recording(client) as sent:
        assert client.get("/protected", cookies=False).status == 401
        bad = client.get("/protected", headers={"Authorization": "Bearer forged"}, cookies=False)
        assert bad.status == 401
        assert client.get("/public").status == 200
    assert [(name, extra["code"]) for name, extra in sent] == [
        ("user_unauthorized", "UNAUTHORIZED"),
        ("user_unauthorized", "INVALID_TOKEN"),
    ]
    assert all(extra["user"] is None for _, extra in sent)
