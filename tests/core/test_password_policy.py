"""PasswordPolicy: length, identifiers, common and breached passwords, the validator hook.

The breached-password checks run against a stub range server on 127.0.0.1;
nothing here touches the internet.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import secrets
import socket
import string
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from authgate.errors import ServiceUnavailable, ValidationError
from authgate.passwords import Argon2Hasher, BcryptHasher, Pbkdf2Hasher, ScryptHasher, policy
from authgate.passwords.breached import BreachCheckUnavailable, is_breached
from authgate.passwords.policy import PasswordPolicy, common_passwords
from authgate.settings import Settings

BREACHED = "hunter2-but-longer"
PADDED = "only-in-a-padding-line"
SAFE = "a perfectly fine passphrase"


def make_policy(**overrides: Any) -> PasswordPolicy:
    return PasswordPolicy(Settings(secret="x" * 32, **overrides))


def reason_of(policy_: PasswordPolicy, password: object, *identifiers: str) -> str | None:
    try:
        policy_.validate(password, identifiers)
    except ValidationError as exc:
        return exc.fields["password"]
    return None


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


# -- length and type --------------------------------------------------------


@pytest.mark.parametrize("length", [8, 15, 64, 128, 1024])
def test_lengths_from_8_to_the_maximum_are_accepted(length: int) -> None:
    password = (SAFE * 40)[:length]
    assert make_policy().check_length(password) == password
    assert make_policy().validate(password) == password


def test_seven_characters_are_too_short() -> None:
    with pytest.raises(ValidationError) as info:
        make_policy().check_length("7chars!")
    assert info.value.fields == {"password": "too_short"}
    assert info.value.code == "VALIDATION_ERROR"


def test_1025_characters_are_too_long() -> None:
    with pytest.raises(ValidationError) as info:
        make_policy().check_length("y" * 1025)
    assert info.value.fields == {"password": "too_long"}


def test_minimum_and_maximum_come_from_settings() -> None:
    strict = make_policy(password_min_length=15, password_max_length=64)
    assert reason_of(strict, "fourteen chars") == "too_short"
    assert reason_of(strict, "fifteen chars!!") is None
    assert reason_of(strict, "z" * 65) == "too_long"


def test_one_mebibyte_is_rejected_fast_without_normalising_or_hashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SECURITY §1.1 #2: no hash (and not even NFKC) for an oversized password."""
    calls: list[str] = []

    def forbidden(name: str) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} must not run for an oversized password")

        return spy

    for cls in (Argon2Hasher, BcryptHasher, ScryptHasher, Pbkdf2Hasher):
        monkeypatch.setattr(cls, "hash", forbidden(f"{cls.__name__}.hash"))
        monkeypatch.setattr(cls, "verify", forbidden(f"{cls.__name__}.verify"))
    monkeypatch.setattr(policy, "normalize_password", forbidden("normalize_password"))
    huge = "\u00e9" * (1024 * 1024)
    started = time.perf_counter()
    for method in ("check_length", "validate"):
        with pytest.raises(ValidationError) as info:
            getattr(make_policy(check_common_passwords=True), method)(huge)
        assert info.value.fields == {"password": "too_long"}
    assert time.perf_counter() - started < 0.05
    assert calls == []


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    emoji = "\U0001f600" * 8  # 8 code points, 32 UTF-8 bytes
    assert make_policy().check_length(emoji) == emoji
    decomposed = "e\u0301" * 4  # 8 code points as typed, 4 after NFKC
    assert reason_of(make_policy(), decomposed) == "too_short"
    # U+FDFA expands to 18 code points under NFKC: 60 of them are 1080.
    assert reason_of(make_policy(), "\ufdfa" * 60) == "too_long"


def test_check_length_returns_the_nfkc_form() -> None:
    assert make_policy().check_length("re\u0301sume\u0301 passphrase") == (
        "r\u00e9sum\u00e9 passphrase"
    )
    assert make_policy().validate("\uff30\uff41\uff53\uff53 \uff37\uff4f\uff52\uff44") == (
        "Pass Word"
    )


@pytest.mark.parametrize(
    "value", [None, 12345678, 1.5, True, b"bytes-password", ["a" * 8], {"p": 1}]
)
def test_non_strings_are_invalid(value: object) -> None:
    for method in ("check_length", "validate"):
        with pytest.raises(ValidationError) as info:
            getattr(make_policy(), method)(value)
        assert info.value.fields == {"password": "invalid"}


def test_empty_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        make_policy().validate("")
    assert info.value.fields == {"password": "required"}


def test_lone_surrogates_are_invalid() -> None:
    assert reason_of(make_policy(), "abc\ud800defgh") == "invalid"


def test_field_name_is_used_in_the_error() -> None:
    with pytest.raises(ValidationError) as info:
        make_policy().validate("short", field="new_password")
    assert info.value.fields == {"new_password": "too_short"}
    assert info.value.to_dict()["error"]["fields"] == {"new_password": "too_short"}


def test_no_composition_rules() -> None:
    """SECURITY §1.1 #3: lowercase only, digits only, spaces, symbols only: all fine."""
    digits = "".join(secrets.choice(string.digits) for _ in range(15))
    for password in ("onlylowercaseletters", digits, "with some spaces in it", "!@#$%^&*()_+-=[]"):
        assert make_policy().validate(password) == password


def test_every_unicode_password_is_accepted() -> None:
    for password in (
        "\U0001f510\U0001f984 unicorn vault",
        "\u6b63\u786e\u7684\u9a6c\u7535\u6c60\u8ba2\u4e66",
        "\u0643\u0644\u0645\u0629 \u0627\u0644\u0633\u0631",
        "nul\x00inside it",
    ):
        assert make_policy().validate(password) == unicodedata.normalize("NFKC", password)


# -- identifiers ------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "alice.liddell@example.com",
        "Alice.Liddell@Example.COM",
        "alice.liddell",
        "ALICE.LIDDELL",
        "wonderland99",
        "WonderLand99",
        "\uff57\uff4f\uff4e\uff44\uff45\uff52\uff4c\uff41\uff4e\uff44\uff19\uff19",  # full width
        "Example Shop",
        "example shop",
    ],
)
def test_passwords_equal_to_an_identifier_are_refused(password: str) -> None:
    shop = make_policy(site_name="Example Shop")
    reason = reason_of(shop, password, "alice.liddell@example.com", "wonderland99")
    assert reason == "contains_identifier"


def test_identifier_match_is_on_the_whole_password() -> None:
    shop = make_policy(site_name="Example Shop")
    for password in ("wonderland99 and more", "my alice.liddell", "Example Shop 2026!"):
        assert reason_of(shop, password, "alice.liddell@example.com", "wonderland99") is None


def test_default_site_name_is_a_context_word_and_blank_identifiers_are_ignored() -> None:
    assert Settings(secret="x" * 32).site_name == "authgate"
    assert reason_of(make_policy(), "AuthGate", "", "   ") == "contains_identifier"
    assert reason_of(make_policy(), "authgate!", "", "   ") is None
    assert reason_of(make_policy(), "        ", "", "   ") is None  # spaces are a password


# -- common passwords -------------------------------------------------------


def test_common_passwords_checked_by_default_and_can_be_turned_off() -> None:
    assert reason_of(make_policy(check_common_passwords=False), "password123") is None
    on = make_policy()  # U8: the shipped list is checked by default
    for password in ("password123", "PassWord123", " password123 ", "iloveyou", "qwertyuiop"):
        assert reason_of(on, password) == "too_common", password
    assert reason_of(on, "password123 but then some") is None
    assert reason_of(on, SAFE) is None


def test_common_password_list_is_shipped_and_loaded_once() -> None:
    first = common_passwords()
    assert first is common_passwords()
    assert isinstance(first, frozenset)
    assert len(first) == 19640  # Django's 20,000, lowercased and deduplicated
    assert "password123" in first
    assert all(entry == entry.lower() for entry in first)


# -- validator hook ---------------------------------------------------------


def test_validator_hook_reason_is_the_error() -> None:
    seen: list[tuple[str, Sequence[str]]] = []

    def no_months(password: str, identifiers: Sequence[str]) -> str | None:
        seen.append((password, identifiers))
        return "too_predictable" if "january" in password.lower() else None

    hooked = make_policy(password_validator=no_months)
    assert reason_of(hooked, "JANUARY 2026 rocks", "bob@example.com") == "too_predictable"
    assert reason_of(hooked, "\uff26ebruary 2026 rocks", "bob@example.com") is None
    # The hook gets the normalised password and the identifiers as given.
    assert seen[-1] == ("February 2026 rocks", ("bob@example.com",))


def test_validator_hook_runs_after_the_builtin_checks() -> None:
    def always(password: str, identifiers: Sequence[str]) -> str | None:
        return "custom"

    hooked = make_policy(password_validator=always)
    assert reason_of(hooked, "short") == "too_short"
    assert reason_of(hooked, "bob@example.com", "bob@example.com") == "contains_identifier"
    assert reason_of(hooked, SAFE) == "custom"


# -- breached passwords (stub HIBP range server) ----------------------------


@dataclass
class StubRangeServer:
    url: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0


class _Handler(http.server.BaseHTTPRequestHandler):
    stub: StubRangeServer

    def do_GET(self) -> None:
        stub = self.server.stub  # type: ignore[attr-defined]
        stub.requests.append((self.path, dict(self.headers.items())))
        if stub.delay:
            time.sleep(stub.delay)
        prefix = self.path.rsplit("/", 1)[-1]
        lines = [f"{'0' * 35}:3", f"{'F' * 35}:0"]
        for password, count in ((BREACHED, 42), (PADDED, 0)):
            digest = sha1_hex(password)
            if digest.startswith(prefix):
                lines.append(f"{digest[5:]}:{count}")
        body = "\r\n".join(lines).encode("ascii")
        self.send_response(stub.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _Server(http.server.ThreadingHTTPServer):
    """Joins its request threads when closed, and is quiet about clients that left.

    A client that timed out (the 0.1 s breach timeout below) leaves the
    handler writing to a closed socket; the default server would print that
    traceback to whatever ``sys.stderr`` is later (another test's captured
    command-line output, say).
    """

    daemon_threads = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve_ranges() -> Iterator[StubRangeServer]:
    """Run the stub range server on a free 127.0.0.1 port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    stub = StubRangeServer(url=f"http://127.0.0.1:{server.server_address[1]}/range/")
    server.stub = stub  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def range_server() -> Iterator[StubRangeServer]:
    with serve_ranges() as stub:
        yield stub


@pytest.fixture
def dead_url() -> str:
    """A URL on a port where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/range/"


def test_breached_password_is_refused_and_only_the_prefix_leaves(
    range_server: StubRangeServer,
) -> None:
    """SECURITY §1.1 #7: k-anonymity, only 5 hex characters of the SHA-1 are sent."""
    strict = make_policy(check_breached_passwords="strict", breached_passwords_url=range_server.url)
    assert reason_of(strict, BREACHED) == "breached"
    assert len(range_server.requests) == 1
    path, headers = range_server.requests[0]
    digest = sha1_hex(BREACHED)
    assert path == "/range/" + digest[:5]
    sent = path + repr(headers)
    assert digest[5:] not in sent.upper()
    assert BREACHED not in sent
    assert headers.get("Add-Padding") == "true"


@pytest.mark.parametrize("mode", [True, "best-effort", "strict"])
def test_unlisted_and_padding_only_passwords_pass(range_server: StubRangeServer, mode: Any) -> None:
    checked = make_policy(check_breached_passwords=mode, breached_passwords_url=range_server.url)
    assert reason_of(checked, SAFE) is None
    assert reason_of(checked, PADDED) is None  # listed with count 0: padding
    assert reason_of(checked, BREACHED) == "breached"
    assert len(range_server.requests) == 3


def test_breach_check_is_off_by_default(range_server: StubRangeServer) -> None:
    assert reason_of(make_policy(breached_passwords_url=range_server.url), BREACHED) is None
    assert range_server.requests == []


def test_local_checks_run_before_the_network(range_server: StubRangeServer) -> None:
    checked = make_policy(
        check_breached_passwords="strict",
        check_common_passwords=True,
        breached_passwords_url=range_server.url,
    )
    assert reason_of(checked, "password123") == "too_common"
    assert reason_of(checked, "short") == "too_short"
    assert range_server.requests == []


def test_strict_mode_refuses_when_the_service_is_down(dead_url: str) -> None:
    strict = make_policy(check_breached_passwords="strict", breached_passwords_url=dead_url)
    with pytest.raises(ServiceUnavailable) as info:
        strict.validate(SAFE)
    assert info.value.code == "SERVICE_UNAVAILABLE"
    assert info.value.status == 503


@pytest.mark.parametrize("mode", [True, "best-effort"])
def test_best_effort_accepts_and_logs_when_the_service_is_down(
    dead_url: str, mode: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lenient = make_policy(check_breached_passwords=mode, breached_passwords_url=dead_url)
    with caplog.at_level("WARNING", logger="authgate.passwords"):
        assert lenient.validate(BREACHED) == BREACHED
    records = [r for r in caplog.records if r.name == "authgate.passwords"]
    assert len(records) == 1
    assert records[0].levelname == "WARNING"
    assert BREACHED not in caplog.text


def test_server_errors_and_timeouts_count_as_down(range_server: StubRangeServer) -> None:
    range_server.status = 500
    strict = make_policy(check_breached_passwords="strict", breached_passwords_url=range_server.url)
    with pytest.raises(ServiceUnavailable):
        strict.validate(SAFE)
    range_server.status = 200
    range_server.delay = 0.5
    impatient = PasswordPolicy(
        Settings(
            secret="x" * 32,
            check_breached_passwords="strict",
            breached_passwords_url=range_server.url,
        ),
        breach_timeout=0.1,
    )
    with pytest.raises(ServiceUnavailable):
        impatient.validate(SAFE)


def test_stub_goes_down_mid_test() -> None:
    """The same policy first answers from the stub, then from a dead port."""
    with serve_ranges() as stub:
        url = stub.url
        strict = make_policy(check_breached_passwords="strict", breached_passwords_url=url)
        lenient = make_policy(check_breached_passwords="best-effort", breached_passwords_url=url)
        assert reason_of(strict, BREACHED) == "breached"
        assert len(stub.requests) == 1
    with pytest.raises(ServiceUnavailable):
        strict.validate(BREACHED)
    assert lenient.validate(BREACHED) == BREACHED


def test_is_breached_direct(range_server: StubRangeServer, dead_url: str) -> None:
    assert is_breached(BREACHED, range_server.url) is True
    assert is_breached(SAFE, range_server.url) is False
    with pytest.raises(BreachCheckUnavailable):
        is_breached(SAFE, dead_url, timeout=1.0)
    with pytest.raises(BreachCheckUnavailable, match="http"):
        is_breached(SAFE, "file:///etc/passwd#")


@pytest.mark.parametrize(
    ("validator", "reason"),
    [
        (lambda password: None, None),
        (lambda password: True, None),
        (lambda password: False, "invalid"),
        (lambda password: "needs_a_digit" if not any(c.isdigit() for c in password) else None,
         "needs_a_digit"),
        (lambda password, identifiers: "too_common" if password.startswith("correct") else None,
         "too_common"),
    ],
)  # fmt: skip
def test_validator_forms(validator: object, reason: str | None) -> None:
    from authgate.errors import ValidationError as VE
    from authgate.passwords.policy import PasswordPolicy
    from authgate.settings import build_settings

    policy = PasswordPolicy(build_settings(secret="s" * 32, password_validator=validator))
    if reason is None:
        assert policy.validate("correct horse battery") == "correct horse battery"
    else:
        with pytest.raises(VE) as info:
            policy.validate("correct horse battery")
        assert info.value.fields == {"password": reason}


def test_validator_raising_value_error() -> None:
    from authgate.errors import ValidationError as VE
    from authgate.passwords.policy import PasswordPolicy
    from authgate.settings import build_settings

    def strict(password: str) -> None:
        raise ValueError("no")

    policy = PasswordPolicy(build_settings(secret="s" * 32, password_validator=strict))
    with pytest.raises(VE) as info:
        policy.validate("correct horse battery")
    assert info.value.fields == {"password": "invalid"}
