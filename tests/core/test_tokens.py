"""Session tokens and signed email-link tokens: size, storage form, every failure mode."""

from __future__ import annotations

import base64
import re

import pytest

from authgate.errors import InvalidToken
from authgate.tokens import (
    EmailTokens,
    constant_time_equals,
    new_session_token,
    state_fingerprint,
    token_digest,
)

from .conftest import Clock

A = "a" * 32
B = "b" * 32


def test_session_tokens_are_256_bit_urlsafe_and_unique() -> None:
    tokens = {new_session_token() for _ in range(10_000)}
    assert len(tokens) == 10_000
    for token in list(tokens)[:100]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
    # no shared prefix structure (e.g. timestamps)
    assert len({t[:4] for t in tokens}) > 5000


def test_digest_is_sha256_hex_and_not_the_token() -> None:
    token = new_session_token()
    digest = token_digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token not in digest
    assert token_digest(token) == digest


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")


def test_round_trip(clock: Clock) -> None:
    tokens = EmailTokens([A], clock)
    fp = state_fingerprint("stamp")
    token = tokens.issue("reset_password", 42, fp, {"email": "a@example.com"})
    payload = tokens.verify("reset_password", token, max_age=3600)
    assert payload.user_id == "42"
    assert payload.fingerprint == fp
    assert payload.data == {"email": "a@example.com"}
    assert payload.issued_at == clock.now.replace(microsecond=0)
    assert len(payload.jti) >= 22


def test_each_token_has_its_own_jti(clock: Clock) -> None:
    tokens = EmailTokens([A], clock)
    jtis = {tokens.verify("p", tokens.issue("p", 1, "f"), 60).jti for _ in range(200)}
    assert len(jtis) == 200


def test_expired(clock: Clock) -> None:
    tokens = EmailTokens([A], clock)
    token = tokens.issue("confirm_email", 1, "f")
    clock.advance(3601)
    with pytest.raises(InvalidToken):
        tokens.verify("confirm_email", token, max_age=3600)


def test_not_yet_expired_at_boundary(clock: Clock) -> None:
    tokens = EmailTokens([A], clock)
    token = tokens.issue("confirm_email", 1, "f")
    clock.advance(3600)
    tokens.verify("confirm_email", token, max_age=3600)


def test_wrong_purpose(clock: Clock) -> None:
    tokens = EmailTokens([A], clock)
    token = tokens.issue("confirm_email", 1, "f")
    with pytest.raises(InvalidToken):
        tokens.verify("reset_password", token, max_age=3600)


# Not the last character: its low bits are base64 padding, so some changes decode alike.
@pytest.mark.parametrize("position", [0, 10, -3, -5])
def test_tampered(clock: Clock, position: int) -> None:
    tokens = EmailTokens([A], clock)
    token = tokens.issue("reset_password", 1, "f")
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(InvalidToken):
        tokens.verify("reset_password", "".join(chars), max_age=3600)


@pytest.mark.parametrize("bad", ["", "x", "a.b.c", None, 12, "x" * 5000, "\udcff"])
def test_garbage(clock: Clock, bad: object) -> None:
    with pytest.raises(InvalidToken):
        EmailTokens([A], clock).verify("reset_password", bad, max_age=3600)


def test_other_secret_rejected(clock: Clock) -> None:
    token = EmailTokens([A], clock).issue("p", 1, "f")
    with pytest.raises(InvalidToken):
        EmailTokens([B], clock).verify("p", token, max_age=60)


def test_rotation_keeps_old_tokens_valid_and_signs_with_newest(clock: Clock) -> None:
    old_token = EmailTokens([A], clock).issue("p", 1, "f")
    rotated = EmailTokens([B, A], clock)  # newest first
    assert rotated.verify("p", old_token, max_age=60).user_id == "1"
    new_token = rotated.issue("p", 2, "f")
    assert EmailTokens([B], clock).verify("p", new_token, max_age=60).user_id == "2"
    with pytest.raises(InvalidToken):
        EmailTokens([A], clock).verify("p", new_token, max_age=60)


def test_token_signed_in_the_future_rejected(clock: Clock) -> None:
    tokens = EmailTokens([A], clock)
    clock.advance(3600)
    future = tokens.issue("p", 1, "f")
    clock.advance(-3600)
    with pytest.raises(InvalidToken):
        tokens.verify("p", future, max_age=7200)


def test_fingerprint_changes_with_state() -> None:
    assert state_fingerprint("a", 1) == state_fingerprint("a", 1)
    assert state_fingerprint("a", 1) != state_fingerprint("a", 2)
    assert state_fingerprint("a", None) != state_fingerprint("a", "x")
