"""Helpers for the page tests: read a page's forms and post them back, as a browser would."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from tests.web.clients import ContractClient, Response

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
FORM = {**HTML, "Content-Type": "application/x-www-form-urlencoded"}
PASSWORD = "correct horse battery staple"


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._select = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                if "checked" in a:
                    self._current.fields[a["name"]] = "on"
            else:
                self._current.fields[a["name"]] = a.get("value", "")
        elif tag == "select" and self._current is not None:
            self._select = a.get("name", "")
        elif (
            tag == "option"
            and self._current is not None
            and self._select
            and (self._select not in self._current.fields or "selected" in a)
        ):  # the first option unless one is selected, as a browser sends it
            self._current.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = ""


def forms(response: Response) -> list[Form]:
    """Every form of an HTML answer."""
    parser = _Forms()
    parser.feed(response.body.decode())
    return parser.forms


def form(response: Response, target: str, **match: str) -> Form:
    """The (first) form posting to a path ending with ``target`` whose fields match ``match``."""
    for candidate in forms(response):
        if candidate.action.split("?")[0].endswith(target) and all(
            candidate.fields.get(k) == v for k, v in match.items()
        ):
            return candidate
    raise AssertionError(f"no form to {target} {match} in:\n{response.body.decode()[:3000]}")


def submit(
    client: ContractClient, page: Response, action: str, match: dict[str, str] | None = None,
    **values: Any,
) -> Response:  # fmt: skip
    """Fill the form of ``page`` posting to ``action`` with ``values`` and send it."""
    chosen = form(page, action, **(match or {}))
    data = {**chosen.fields, **{k: v for k, v in values.items() if v is not None}}
    for key in [k for k, v in values.items() if v is None]:
        data.pop(key, None)
    return client.post(chosen.action, body=urlencode(data).encode(), headers=FORM)


def text(response: Response) -> str:
    return response.body.decode()


def sign_in(client: ContractClient, email: str, password: str = PASSWORD) -> Response:
    """Sign in through the login page (the session cookie lands in the client's jar)."""
    page = client.get("/auth/login", headers=HTML)
    field = "identifier" if 'name="identifier"' in text(page) else "email"
    return submit(client, page, "/auth/login", **{field: email, "password": password})
