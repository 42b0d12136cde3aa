"""Passkeys from Python: registration, sign-in, management, and every way they must fail
(SECURITY.md #45 and #55)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from authgate import Auth
from authgate.errors import (
    FeatureDisabled,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    ReauthRequired,
    ValidationError,
)
from authgate.flows import passkeys as flows
from authgate.settings import Settings, webauthn_relying_party
from tests.core.conftest import PASSWORD, SECRET, Clock

from .authenticator import Authenticator, b64, unb64
from .conftest import ORIGIN, RP_ID

User = tuple[Any, str]


def register(auth: Auth, authenticator: Authenticator, who: User, name: str = "Laptop") -> Any:
    user, token = who
    options = auth.passkey_registration_options(user, token=token)
    answer = authenticator.create(options.to_dict())
    return auth.register_passkey(user, answer, options.state, name=name, token=token)


def sign_in(auth: Auth, authenticator: Authenticator, email: str | None = None, **bend: Any) -> Any:
    options = auth.passkey_sign_in_options(email)
    return auth.sign_in_with_passkey(authenticator.get(options.to_dict(), **bend), options.state)


# -- settings ------------------------------------------------------------------------------


def test_relying_party_comes_from_settings() -> None:
    s = Settings(secret=SECRET, base_url="https://Shop.Example:8443/app/")
    assert webauthn_relying_party(s) == ("shop.example", ("https://shop.example:8443",))
    s = Settings(secret=SECRET, webauthn_rp_id="example.com",
                 webauthn_origins=("https://a.example.com", "https://example.com/"))  # fmt: skip
    assert webauthn_relying_party(s) == (
        "example.com", ("https://a.example.com", "https://example.com"),
    )  # fmt: skip
    assert webauthn_relying_party(Settings(secret=SECRET, debug=True)) == (
        "localhost", ("http://localhost:8000",),
    )  # fmt: skip


def test_passkeys_without_a_relying_party_are_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Settings(secret=SECRET, passkeys=True)
    with pytest.raises(ValueError, match="not on the relying party"):
        Settings(secret=SECRET, passkeys=True, webauthn_rp_id="example.com",
                 webauthn_origins=("https://evil.test",))  # fmt: skip
    with pytest.raises(ValueError, match="domain name"):
        Settings(secret=SECRET, passkeys=True, base_url="http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="webauthn_rp_id"):
        Settings(secret=SECRET, webauthn_rp_id="https://example.com")
    with pytest.raises(ValueError, match="webauthn_origins"):
        Settings(secret=SECRET, webauthn_origins=("example.com",))
    with pytest.raises(ValueError, match="webauthn_user_verification"):
        Settings(secret=SECRET, webauthn_user_verification="always")  # type: ignore[arg-type]
    env = Settings.from_mapping({
        "AUTHGATE_SECRET": SECRET, "AUTHGATE_PASSKEYS": "1",
        "AUTHGATE_WEBAUTHN_RP_ID": "example.com",
        "AUTHGATE_WEBAUTHN_ORIGINS": "https://example.com, https://www.example.com",
    })  # fmt: skip
    assert env.passkeys and env.webauthn_origins == (
        "https://example.com",
        "https://www.example.com",
    )


def test_switched_off_everything_is_feature_disabled(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(passkeys=False)
    user = auth.sign_up("bob@example.com", PASSWORD).user
    with pytest.raises(FeatureDisabled):
        auth.passkey_registration_options(user)
    with pytest.raises(FeatureDisabled):
        auth.passkey_sign_in_options()
    with pytest.raises(FeatureDisabled):
        auth.list_passkeys(user)


# -- registration --------------------------------------------------------------------------


def test_register_then_sign_in_without_a_password(
    auth: Auth, authenticator: Authenticator, alice: User, mails: list[Any]
) -> None:
    options = auth.passkey_registration_options(alice[0], token=alice[1]).to_dict()
    assert options["rp"] == {"id": RP_ID, "name": "authgate"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert len(unb64(options["challenge"])) >= 16 and options["excludeCredentials"] == []
    record = register(auth, authenticator, alice)
    assert record.name == "Laptop" and record.backed_up and record.sign_count == 0
    assert [p.id for p in auth.list_passkeys(alice[0])] == [record.id]
    assert set(record.to_dict()) == {"id", "name", "created_at", "last_used_at", "backed_up"}
    assert [m.kind for m in mails][-1] == "passkey_added"
    # A second registration excludes the first credential.
    again = auth.passkey_registration_options(alice[0], token=alice[1]).to_dict()
    assert [c["id"] for c in again["excludeCredentials"]] == [b64(record.credential_id)]

    result = sign_in(auth, authenticator)
    assert result.user.email == "alice@example.com" and result.token
    assert auth.get_session(result.token).user.id == alice[0].id
    [used] = auth.list_passkeys(alice[0])
    assert used.sign_count == 1 and used.last_used_at is not None
    kinds = [(e.kind, e.outcome, e.details.get("factor")) for e in auth.audit.events(alice[0])]
    assert ("sign_in", "success", "passkey") in kinds and (
        "passkey_register",
        "success",
        None,
    ) in kinds


def test_sign_in_with_an_email_lists_that_accounts_passkeys_only(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    record = register(auth, authenticator, alice)
    options = auth.passkey_sign_in_options("ALICE@example.com").to_dict()
    assert [c["id"] for c in options["allowCredentials"]] == [b64(record.credential_id)]
    unknown = auth.passkey_sign_in_options("nobody@example.com").to_dict()
    assert set(unknown) == set(options) and len(unknown["allowCredentials"]) == 1
    assert unknown["allowCredentials"][0]["id"] != options["allowCredentials"][0]["id"]
    # Stable: asking twice does not tell a made-up credential from a real one.
    again = auth.passkey_sign_in_options("nobody@example.com").to_dict()
    assert again["allowCredentials"] == unknown["allowCredentials"]
    assert sign_in(auth, authenticator, "alice@example.com").user.id == alice[0].id


def test_registration_needs_a_fresh_session(
    auth: Auth, authenticator: Authenticator, alice: User, clock: Clock
) -> None:
    clock.advance(auth.settings.freshness + 1)
    with pytest.raises(ReauthRequired):
        auth.passkey_registration_options(alice[0], token=alice[1])
    token = auth.reauthenticate(alice[1], PASSWORD)
    options = auth.passkey_registration_options(alice[0], token=token)
    answer = authenticator.create(options.to_dict())
    clock.advance(auth.settings.freshness + 1)  # stale again before the answer came
    with pytest.raises(ReauthRequired):
        auth.register_passkey(alice[0], answer, options.state, token=token)
    assert auth.list_passkeys(alice[0]) == []


def test_registration_state_is_single_use_and_bound_to_its_session(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    user, token = alice
    options = auth.passkey_registration_options(user, token=token)
    answer = authenticator.create(options.to_dict())
    other_session = auth.sign_in("alice@example.com", PASSWORD).token
    with pytest.raises(InvalidToken):  # another session of the same user
        auth.register_passkey(user, answer, options.state, token=other_session)
    with pytest.raises(InvalidToken):  # no state at all
        auth.register_passkey(user, answer, "", token=token)
    auth.register_passkey(user, answer, options.state, token=token)
    with pytest.raises(InvalidToken):  # replayed
        auth.register_passkey(user, authenticator.create(options.to_dict()), options.state,
                              token=token)  # fmt: skip
    assert len(auth.list_passkeys(user)) == 1


def test_registration_challenge_expires_after_five_minutes(
    make_auth: Callable[..., Auth], authenticator: Authenticator, clock: Clock
) -> None:
    auth = make_auth(freshness=3600)
    r = auth.sign_up("carol@example.com", PASSWORD)
    options = auth.passkey_registration_options(r.user, token=r.token)
    clock.advance(flows.CHALLENGE_LIFETIME + 1)
    with pytest.raises(InvalidToken):
        auth.register_passkey(r.user, authenticator.create(options.to_dict()), options.state,
                              token=r.token)  # fmt: skip


@pytest.mark.parametrize(
    "bend",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"},
     {"challenge": b"x" * 32}],
    ids=["wrong-origin", "wrong-rp-id", "other-challenge"],
)  # fmt: skip
def test_attestation_from_elsewhere_is_refused(
    auth: Auth, authenticator: Authenticator, alice: User, bend: dict[str, Any]
) -> None:
    options = auth.passkey_registration_options(alice[0], token=alice[1])
    answer = authenticator.create(options.to_dict(), **bend)
    with pytest.raises(ValidationError) as caught:
        auth.register_passkey(alice[0], answer, options.state, token=alice[1])
    assert caught.value.fields == {"credential": "invalid"}
    assert auth.list_passkeys(alice[0]) == []


@pytest.mark.parametrize("credential", [None, "not json", 42, {"id": "x"}, {"x": [1] * 10_000}])
def test_malformed_attestations_are_validation_errors(
    auth: Auth, alice: User, credential: Any
) -> None:
    options = auth.passkey_registration_options(alice[0], token=alice[1])
    with pytest.raises(ValidationError):
        auth.register_passkey(alice[0], credential, options.state, token=alice[1])


def test_one_credential_belongs_to_one_account(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    options = auth.passkey_registration_options(alice[0], token=alice[1])
    answer = authenticator.create(options.to_dict())
    auth.register_passkey(alice[0], answer, options.state, token=alice[1])
    again = auth.passkey_registration_options(alice[0], token=alice[1])
    # The same attestation re-signed for a new challenge: the same credential id.
    data = json.loads(unb64(answer["response"]["clientDataJSON"]))
    data["challenge"] = again.to_dict()["challenge"]
    answer["response"]["clientDataJSON"] = b64(json.dumps(data).encode())
    with pytest.raises(ValidationError) as caught:
        auth.register_passkey(alice[0], answer, again.state, token=alice[1])
    assert caught.value.fields == {"credential": "exists"}


# -- sign-in failures ------------------------------------------------------------------------


def test_sign_in_state_is_single_use_and_expires(
    auth: Auth, authenticator: Authenticator, alice: User, clock: Clock
) -> None:
    register(auth, authenticator, alice)
    options = auth.passkey_sign_in_options()
    answer = authenticator.get(options.to_dict())
    auth.sign_in_with_passkey(answer, options.state)
    with pytest.raises(InvalidToken):  # the same assertion again
        auth.sign_in_with_passkey(answer, options.state)
    with pytest.raises(InvalidToken):  # a fresh assertion over the used challenge
        auth.sign_in_with_passkey(authenticator.get(options.to_dict()), options.state)
    late = auth.passkey_sign_in_options()
    clock.advance(flows.CHALLENGE_LIFETIME + 1)
    with pytest.raises(InvalidToken):
        auth.sign_in_with_passkey(authenticator.get(late.to_dict()), late.state)
    with pytest.raises(InvalidToken):  # a registration state is no sign-in state
        reg = auth.passkey_registration_options(alice[0])
        auth.sign_in_with_passkey(authenticator.get(auth.passkey_sign_in_options().to_dict()),
                                  reg.state)  # fmt: skip


def test_an_answer_to_another_challenge_is_refused(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    register(auth, authenticator, alice)
    first, second = auth.passkey_sign_in_options(), auth.passkey_sign_in_options()
    with pytest.raises(InvalidCredentials):
        auth.sign_in_with_passkey(authenticator.get(first.to_dict()), second.state)


@pytest.mark.parametrize(
    "bend", [{"origin": "https://evil.example"}, {"origin": "http://app.example"},
             {"rp_id": "evil.example"}],
    ids=["wrong-origin", "plain-http", "wrong-rp-id"],
)  # fmt: skip
def test_assertion_from_elsewhere_is_refused(
    auth: Auth, authenticator: Authenticator, alice: User, bend: dict[str, Any]
) -> None:
    register(auth, authenticator, alice)
    with pytest.raises(InvalidCredentials):
        sign_in(auth, authenticator, **bend)
    events = auth.audit.events(alice[0], kinds="sign_in")
    assert events[0].outcome == "failure" and events[0].details["reason"] == "assertion"


@pytest.mark.parametrize("part", ["signature", "clientDataJSON", "authenticatorData"])
def test_tampered_assertions_are_refused(
    auth: Auth, authenticator: Authenticator, alice: User, part: str
) -> None:
    register(auth, authenticator, alice)
    options = auth.passkey_sign_in_options()
    answer = authenticator.get(options.to_dict())
    raw = bytearray(unb64(answer["response"][part]))
    if part == "clientDataJSON":
        raw = bytearray(raw.replace(b'"crossOrigin": false', b'"crossOrigin": false '))
    else:
        raw[-1] ^= 0x01
    answer["response"][part] = b64(bytes(raw))
    with pytest.raises(InvalidCredentials):
        auth.sign_in_with_passkey(answer, options.state)
    assert auth.list_passkeys(alice[0])[0].sign_count == 0


def test_a_sign_count_that_goes_back_is_refused_and_recorded(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    register(auth, authenticator, alice)
    sign_in(auth, authenticator, sign_count=7)
    for count in (7, 3):  # the same, then lower: a cloned authenticator
        with pytest.raises(InvalidCredentials):
            sign_in(auth, authenticator, sign_count=count)
    events = auth.audit.events(alice[0], kinds="passkey_sign_count")
    assert [(e.outcome, e.details["stored"], e.details["received"]) for e in events] == [
        ("failure", 7, 3), ("failure", 7, 7),
    ]  # fmt: skip
    assert sign_in(auth, authenticator, sign_count=8).user.id == alice[0].id


def test_authenticators_without_a_counter_keep_working(auth: Auth, alice: User) -> None:
    authenticator = Authenticator(ORIGIN, counts=False)
    register(auth, authenticator, alice)
    for _ in range(3):
        assert sign_in(auth, authenticator).user.id == alice[0].id


def test_another_users_credential_is_refused(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    bob_r = auth.sign_up("bob@example.com", PASSWORD)
    bobs = Authenticator(ORIGIN)
    register(auth, bobs, (bob_r.user, bob_r.token))
    register(auth, authenticator, alice)
    # Options for alice, answered with bob's passkey.
    options = auth.passkey_sign_in_options("alice@example.com").to_dict()
    answer = bobs.get({**options, "allowCredentials": []})
    with pytest.raises(InvalidCredentials):
        auth.sign_in_with_passkey(answer, options["state"])
    # Bob's credential claiming alice's user handle.
    with pytest.raises(InvalidCredentials):
        sign_in(auth, bobs, user_handle=str(alice[0].id).encode())
    # Options for an unknown address: nobody's passkey answers them.
    options = auth.passkey_sign_in_options("nobody@example.com").to_dict()
    with pytest.raises(InvalidCredentials):
        auth.sign_in_with_passkey(bobs.get({**options, "allowCredentials": []}),
                                  options["state"])  # fmt: skip
    reasons = {e.details.get("reason") for e in auth.audit.events(bob_r.user, kinds="sign_in")}
    assert {"other_user", "user_handle"} <= reasons


def test_an_unknown_or_deleted_passkey_is_refused(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    record = register(auth, authenticator, alice)
    auth.delete_passkey(alice[0], record.id, token=alice[1])
    with pytest.raises(InvalidCredentials):
        sign_in(auth, authenticator)


def test_required_user_verification_refuses_unverified_use(
    make_auth: Callable[..., Auth],
) -> None:
    auth = make_auth(webauthn_user_verification="required")
    r = auth.sign_up("dave@example.com", PASSWORD)
    sloppy = Authenticator(ORIGIN, user_verified=False)
    with pytest.raises(ValidationError):
        register(auth, sloppy, (r.user, r.token))
    careful = Authenticator(ORIGIN)
    register(auth, careful, (r.user, r.token))
    careful.user_verified = False
    with pytest.raises(InvalidCredentials):
        sign_in(auth, careful)


def test_a_deactivated_account_cannot_sign_in_with_its_passkey(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    from authgate.errors import AccountDisabled

    register(auth, authenticator, alice)
    auth.users.deactivate_user(alice[0])
    with pytest.raises(AccountDisabled):
        sign_in(auth, authenticator)


def test_jwt_mode_answers_a_token_pair(make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(jwt_access_tokens=True, jwt_algorithm="HS256")
    r = auth.sign_up("erin@example.com", PASSWORD)
    authenticator = Authenticator(ORIGIN)
    register(auth, authenticator, (r.user, r.session_token or r.token))
    result = sign_in(auth, authenticator)
    body = result.to_dict()
    assert (
        body["token_type"] == "Bearer" and body["refresh_token"] and body["token"].count(".") == 2
    )
    assert auth.verify_token(body["token"]).id == r.user.id


# -- management -----------------------------------------------------------------------------


def test_rename_and_delete_are_limited_to_the_owner(
    auth: Auth, authenticator: Authenticator, alice: User, mails: list[Any], clock: Clock
) -> None:
    record = register(auth, authenticator, alice)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    with pytest.raises(NotFound):
        auth.rename_passkey(bob.user, record.id, "mine now")
    with pytest.raises(NotFound):
        auth.delete_passkey(bob.user, record.id, token=bob.token)
    assert auth.rename_passkey(alice[0], record.id, "  Phone  ").name == "Phone"
    with pytest.raises(ValidationError):
        auth.rename_passkey(alice[0], record.id, "   ")
    with pytest.raises(ValidationError):
        auth.rename_passkey(alice[0], record.id, "x" * 101)
    clock.advance(auth.settings.freshness + 1)
    with pytest.raises(ReauthRequired):
        auth.delete_passkey(alice[0], record.id, token=alice[1])
    token = auth.reauthenticate(alice[1], PASSWORD)
    auth.delete_passkey(alice[0], record.id, token=token)
    assert auth.list_passkeys(alice[0]) == []
    assert mails[-1].kind == "passkey_removed" and "Phone" in mails[-1].text
    with pytest.raises(NotFound):
        auth.delete_passkey(alice[0], record.id, token=token)


def test_passkeys_go_with_their_user(auth: Auth, authenticator: Authenticator, alice: User) -> None:
    register(auth, authenticator, alice)
    auth.users.delete_user(alice[0])
    with pytest.raises(InvalidCredentials):
        sign_in(auth, authenticator)


# -- second factor ------------------------------------------------------------------------------


def test_second_factor_accepts_only_the_users_own_passkey(
    auth: Auth, authenticator: Authenticator, alice: User
) -> None:
    register(auth, authenticator, alice)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    options = auth.passkey_sign_in_options("alice@example.com").to_dict()
    body = {"credential": authenticator.get(options), "state": options["state"]}
    with pytest.raises(InvalidCode):  # alice's passkey is no factor of bob's
        flows.verify_second_factor(auth.ctx, bob.user, body)
    options = auth.passkey_sign_in_options("alice@example.com").to_dict()
    flows.verify_second_factor(
        auth.ctx, alice[0], {"credential": authenticator.get(options), "state": options["state"]}
    )
    with pytest.raises(InvalidCode):  # replayed
        flows.verify_second_factor(
            auth.ctx,
            alice[0],
            {"credential": authenticator.get(options), "state": options["state"]},
        )


def test_challenges_are_random_and_long(auth: Auth, alice: User) -> None:
    seen = {auth.passkey_sign_in_options().to_dict()["challenge"] for _ in range(200)}
    assert len(seen) == 200 and all(len(unb64(c)) == 32 for c in seen)


# -- freshness with a passkey (SECURITY.md #45) -----------------------------------------------


def test_a_passkey_of_the_sessions_user_makes_it_fresh_another_users_never(
    auth: Auth, authenticator: Authenticator, alice: User, clock: Clock
) -> None:
    register(auth, authenticator, alice)
    bob = auth.sign_up("bob@example.com", PASSWORD)
    bobs = Authenticator(ORIGIN)
    register(auth, bobs, (bob.user, bob.token))
    clock.advance(auth.settings.freshness + 1)
    with pytest.raises(ReauthRequired):
        auth.passkey_registration_options(alice[0], token=alice[1])
    options = auth.passkey_sign_in_options()
    with pytest.raises(InvalidCredentials):  # Bob's passkey on Alice's session
        auth.reauthenticate_with_passkey(alice[1], bobs.get(options.to_dict()), options.state)
    with pytest.raises(ReauthRequired):  # still stale
        auth.passkey_registration_options(alice[0], token=alice[1])
    events = auth.audit.events(alice[0], kinds="reauthenticate")
    assert events[0].outcome == "failure" and events[0].details["reason"] == "other_user"
    options = auth.passkey_sign_in_options()
    token = auth.reauthenticate_with_passkey(
        alice[1], authenticator.get(options.to_dict()), options.state, rotate=True
    )
    assert token != alice[1] and auth.verify_token(alice[1]) is None
    auth.passkey_registration_options(alice[0], token=token)  # fresh now


# -- a passkey without user verification is one factor ---------------------------------------


def test_unverified_passkey_sign_in_asks_for_the_other_factor(
    make_auth: Callable[..., Auth], clock: Clock, authenticator: Authenticator
) -> None:
    """Possession alone (no PIN or biometric on the authenticator) is one factor: an account
    with an authenticator app is asked for its code, and the passkey cannot be its own second
    factor; with user verification the passkey signs in at once."""
    import pyotp

    from authgate import TwoFactorRequired

    auth = make_auth(two_factor=True)
    r = auth.sign_up("alice@example.com", PASSWORD)
    alice = (r.user, r.token)
    register(auth, authenticator, alice)
    setup = auth.totp_setup(r.user, token=r.token)
    totp = pyotp.TOTP(setup["secret"])
    auth.totp_enable(r.user, totp.at(auth.clock()), token=r.token)
    clock.advance(30)

    authenticator.user_verified = False
    with pytest.raises(TwoFactorRequired) as raised:
        sign_in(auth, authenticator)
    assert raised.value.methods and "passkey" not in raised.value.methods
    challenge = raised.value.challenge
    options = auth.passkey_sign_in_options("alice@example.com").to_dict()
    with pytest.raises(ValidationError):  # the same passkey again proves nothing more
        auth.verify_two_factor(
            challenge, None, method="passkey",
            credential=authenticator.get(options), state=options["state"],
        )  # fmt: skip
    done = auth.verify_two_factor(challenge, totp.at(auth.clock()))
    assert done.token and auth.get_session(done.token).user.id == r.user.id
    events = auth.audit.events(r.user, kinds="sign_in")
    assert events[0].details.get("factor") == "passkey"

    authenticator.user_verified = True
    assert sign_in(auth, authenticator).token  # verified: two factors in one


def test_unverified_passkey_alone_cannot_sign_in_an_account_with_a_second_factor(
    make_auth: Callable[..., Auth], authenticator: Authenticator
) -> None:
    """An account whose only second factor is its passkey: without user verification the
    passkey is one factor; an emailed code is the other when email is a method, and with no
    other method the sign-in is refused (the password, then the passkey, still works)."""
    from authgate import TwoFactorRequired

    auth = make_auth(two_factor=True)
    r = auth.sign_up("bob@example.com", PASSWORD)
    register(auth, authenticator, (r.user, r.token))
    authenticator.user_verified = False
    with pytest.raises(TwoFactorRequired) as raised:
        sign_in(auth, authenticator)
    assert raised.value.methods == ["email"]

    auth = make_auth(two_factor=True, two_factor_methods=["totp"])
    authenticator = Authenticator(ORIGIN)
    r = auth.sign_up("alice@example.com", PASSWORD)
    register(auth, authenticator, (r.user, r.token))
    authenticator.user_verified = False
    with pytest.raises(InvalidCredentials):
        sign_in(auth, authenticator)
    with pytest.raises(TwoFactorRequired) as raised:
        auth.sign_in("alice@example.com", PASSWORD)
    assert raised.value.methods == ["passkey"]
    options = auth.passkey_sign_in_options("alice@example.com").to_dict()
    done = auth.verify_two_factor(
        raised.value.challenge, None, method="passkey",
        credential=authenticator.get(options), state=options["state"],
    )  # fmt: skip
    assert done.token
