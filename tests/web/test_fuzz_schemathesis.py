"""Issue §5: schemathesis against each framework's own OpenAPI document, in process.

The run is schemathesis's own engine (what ``st run`` does) with every
built-in check: no 500, response schemas, status codes, content types and
headers as documented, schema-valid data accepted and invalid data refused,
auth not ignored, undocumented methods answered 405 with ``Allow``...
Every feature with routes of its own is switched on, and each framework is
fuzzed anonymously and with a bearer token (a fresh session for every case:
routes that revoke sessions would otherwise leave the rest of the run
anonymous). Examples per operation are bounded and the seed is fixed, so the
file takes a few seconds per framework and fails the same way twice;
``AUTHGATE_FUZZ_EXAMPLES`` and ``AUTHGATE_FUZZ_SEED`` widen a local run.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished

from authgate import Auth
from authgate.keys import generate_key, private_pem
from authgate.testing import OutboxMailer

from .conftest import FAST, SECRET

#: Every feature with routes of its own (auth101_compat: access and refresh tokens, the
#: JWKS and auth101's routes; API keys are on by default).
FEATURES: dict[str, Any] = {
    "confirmable": True, "usernames": True, "passwordless": True, "multiple_emails": True,
    "recoverable": True, "changeable": True, "change_email": True, "registerable": True,
    "auth101_compat": True, "jwt_algorithm": "EdDSA",
    "jwt_keys": [private_pem(generate_key("EdDSA"))], "api_keys": True,
}  # fmt: skip
PASSWORD = "correct horse battery staple"
MAX_EXAMPLES = int(os.environ.get("AUTHGATE_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("AUTHGATE_FUZZ_SEED", "20261205"))
#: An id must name one of *your* sessions or addresses: any other well-formed id is a
#: VALIDATION_ERROR (400), which tells nothing about other users' ids. JSON Schema
#: cannot say "an id of yours", so a 400 is an accepted answer to valid data there.
OWNED_IDS = ["revokeSession", "removeEmail", "makePrimaryEmail"]
#: An API key's allowed_ips are checked by Python's ipaddress module: JSON Schema cannot
#: say "an address or a network", so a 400 is an accepted answer to valid data there.
CHECKED_BEYOND_SCHEMA = ["createApiKey"]
POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def _config(authenticated: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE},
                   "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx"]}},
        "operations": [
            {"include-operation-id": operation_id,
             "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE, "400"]}}}
            for operation_id in [*OWNED_IDS, *CHECKED_BEYOND_SCHEMA]
        ],
    })  # fmt: skip


class Target:
    """One app under test: its Auth, its ASGI/WSGI app, and a user for the bearer runs."""

    def __init__(self, framework: str, authenticated: bool) -> None:
        self.framework = framework
        self.authenticated = authenticated
        self.auth = Auth(SECRET, **FAST, cookie_secure=False, send_email=OutboxMailer(),
                         base_url="https://app.example", **FEATURES)  # fmt: skip
        self.auth.users.create_user(email="fuzz@example.com", username="fuzzer", password=PASSWORD)
        if framework == "django":
            from tests.django_project import wsgi_app

            self.app: Any = wsgi_app(self.auth)
        else:
            self.app = importlib.import_module(f"tests.web.apps.{framework}_app").create_app(
                self.auth
            )

    def schema(self, path: str) -> Any:
        loader = (
            schemathesis.openapi.from_asgi
            if self.framework == "fastapi"
            else schemathesis.openapi.from_wsgi
        )
        schema = loader(path, self.app, config=_config(self.authenticated))
        if self.authenticated:
            schema.auth(_fresh_session(self.auth))
        return schema


def _fresh_session(auth: Auth) -> type:
    class FreshSession:
        """A new session for every case (``refresh_interval=None``: never cached)."""

        def get(self, case: Any, context: Any) -> str:
            token = auth.sign_in("fuzz@example.com", PASSWORD).token
            assert token is not None
            return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return FreshSession


def run(target: Target, path: str) -> list[str]:
    """Every failure and error of a full engine run, as readable lines."""
    problems: list[str] = []
    for event in from_schema(target.schema(path)).execute():
        if isinstance(event, ScenarioFinished) and event.status in (Status.FAILURE, Status.ERROR):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        interaction = event.recorder.interactions.get(case_id)
                        answer = interaction.response if interaction is not None else None
                        got = "" if answer is None else f" -> {answer.status_code} {answer.content!r:.300}"
                        problems.append(f"{event.label} [{check.name}] {failure.title}: "
                                        f"{failure.message}\n{check.failure_info.code_sample}{got}")  # fmt: skip
            if event.status is Status.ERROR:
                problems.append(f"{event.label}: error in the run")
        elif isinstance(event, NonFatalError | FatalError):
            problems.append(f"{getattr(event, 'label', 'engine')}: {event.info if hasattr(event, 'info') else event}")  # fmt: skip
    return problems


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer"])
@pytest.mark.parametrize("framework", ["flask", "fastapi", "django", "bottle"])
def test_the_document_and_the_server_agree(framework: str, authenticated: bool) -> None:
    problems = run(Target(framework, authenticated), "/auth/openapi.json")
    assert not problems, "\n\n".join(problems[:10])


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer"])
def test_fastapis_own_document_and_the_server_agree(authenticated: bool) -> None:
    """The merged document: authgate's routes, and what its guards add to the app's own."""
    problems = run(Target("fastapi", authenticated), "/openapi.json")
    # The test app serves GET and POST of /protected and /basic as two FastAPI routes each;
    # FastAPI's own 405 to OPTIONS then lists only the first one's method: FastAPI's answer
    # for the app's routes, not authgate's (whose paths are checked in full).
    problems = [
        p for p in problems
        if "[allow_header_conformance]" not in p or p.split()[1].startswith("/auth/")
    ]  # fmt: skip
    assert not problems, "\n\n".join(problems[:10])
