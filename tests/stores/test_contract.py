"""The store contract (authgate.stores.base), run on every backend.

Memory, SQLite, PostgreSQL and MariaDB must give the same answers, including
under concurrency and when the database fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from authgate.errors import ServiceUnavailable, UserExists, ValidationError
from authgate.models import (
    ApiKeyRecord,
    Notice,
    PasskeyRecord,
    RefreshTokenRecord,
    SecurityEvent,
    SessionRecord,
    canonical_email,
    canonical_username,
    utcnow,
)
from authgate.stores import MemoryStore, Store
from authgate.stores.sqlalchemy import SQLAlchemyStore

THREADS = 20


def make_user(store: Store, email: str = "alice@example.com", **fields: Any) -> Any:
    return store.create_user({"email": email, **fields})


def make_session(
    store: Store,
    user: Any,
    *,
    sid: str | None = None,
    created_at: dt.datetime | None = None,
    expires_in: dt.timedelta = dt.timedelta(days=1),
) -> SessionRecord:
    now = created_at or utcnow()
    record = SessionRecord(
        id=sid or str(uuid.uuid4()),
        token_hash=uuid.uuid4().hex,
        user_id=str(user.id),
        created_at=now,
        last_seen_at=now,
        expires_at=now + expires_in,
        authenticated_at=now,
        security_stamp=user.security_stamp,
        ip="203.0.113.7",
        user_agent="pytest",
        data={"mfa": True, "n": 1},
    )
    store.create_session(record)
    return record


def run_together(count: int, task: Callable[[int], Any]) -> list[Any]:
    """Run ``task(i)`` in ``count`` threads released at once; results or raised exceptions."""
    barrier = threading.Barrier(count)

    def call(i: int) -> Any:
        barrier.wait()
        try:
            return task(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


# -- users ------------------------------------------------------------------------


def test_create_and_get_user(store: Store) -> None:
    user = make_user(store, "Alice@Example.COM", username="Alice", password_hash="$argon2id$x")

    assert user.email == "Alice@Example.COM"
    assert user.email_canonical == "alice@example.com"
    assert user.username_canonical == "alice"
    assert user.is_active is True
    assert user.security_stamp
    assert user.roles == []
    for found in (
        store.get_user(user.id),
        store.get_user(str(user.id)),
        store.get_user_by_email("alice@example.com"),
        store.get_user_by_username("alice"),
    ):
        assert found is not None
        assert found.id == user.id
        assert found.password_hash == "$argon2id$x"
        assert found.created_at.tzinfo is not None
    data = user.to_dict()
    assert data["email"] == "Alice@Example.COM"
    assert "password_hash" not in data
    assert "security_stamp" not in data


def test_unknown_users_are_none(store: Store) -> None:
    make_user(store)
    assert store.get_user(str(uuid.uuid4())) is None
    assert store.get_user("not-an-id") is None
    assert store.get_user_by_email("bob@example.com") is None
    assert store.get_user_by_username("bob") is None


def test_create_user_requires_email(store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        store.create_user({"username": "alice"})
    assert info.value.fields == {"email": "required"}


def test_email_is_unique_case_insensitively(store: Store) -> None:
    make_user(store, "Alice@Example.COM")
    with pytest.raises(UserExists) as info:
        make_user(store, "alice@example.com")
    assert info.value.field == "email"
    assert store.count_users() == 1


def test_username_is_unique_case_insensitively(store: Store) -> None:
    make_user(store, "alice@example.com", username="Alice")
    with pytest.raises(UserExists) as info:
        make_user(store, "other@example.com", username="ALICE")
    assert info.value.field == "username"
    assert store.count_users() == 1


DOTLESS_I = "\u0131"  # LATIN SMALL LETTER DOTLESS I: case-folds to itself, not to "i"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("mike", f"m{DOTLESS_I}ke"),
        ("jose", "jos\u00e9"),  # an accent-insensitive collation would merge these
    ],
)
def test_lookalike_identifiers_are_distinct_users(store: Store, first: str, second: str) -> None:
    a = make_user(store, f"{first}@example.com", username=first)
    b = make_user(store, f"{second}@example.com", username=second)

    assert a.id != b.id
    for user, name in ((a, first), (b, second)):
        found = store.get_user_by_email(canonical_email(f"{name}@example.com"))
        assert found is not None and found.id == user.id
        found = store.get_user_by_username(canonical_username(name))
        assert found is not None and found.id == user.id


def test_find_users(store: Store) -> None:
    alice = make_user(store, "alice@example.com", username="alice")
    bob = make_user(store, "bob@example.com", is_active=False)
    carol = make_user(store, "carol@example.com")

    assert [u.id for u in store.find_users({"email": "ALICE@example.com"})] == [alice.id]
    assert [u.id for u in store.find_users({"username": "Alice"})] == [alice.id]
    assert [u.id for u in store.find_users({"is_active": False})] == [bob.id]
    assert [u.id for u in store.find_users({"is_active": True})] == [alice.id, carol.id]
    assert [u.id for u in store.find_users({"id": str(carol.id)})] == [carol.id]
    assert store.find_users({"email": "nobody@example.com"}) == []
    with pytest.raises(ValidationError) as info:
        store.find_users({"shoe_size": 42})
    assert info.value.fields == {"shoe_size": "unknown_field"}


def test_list_and_count_users(store: Store) -> None:
    users = [make_user(store, f"user{i}@example.com") for i in range(5)]

    assert store.count_users() == 5
    assert [u.id for u in store.list_users()] == [u.id for u in users]
    assert [u.id for u in store.list_users(offset=1, limit=2)] == [users[1].id, users[2].id]


def test_update_user(store: Store) -> None:
    user = make_user(store, "alice@example.com")

    updated = store.update_user(user.id, {"email": "Alice@New.example", "username": "Ally"})

    assert updated is not None
    assert updated.email == "Alice@New.example"
    assert updated.email_canonical == "alice@new.example"
    assert updated.username_canonical == "ally"
    assert store.get_user_by_email("alice@example.com") is None
    found = store.get_user_by_email("alice@new.example")
    assert found is not None and found.id == user.id
    found = store.get_user_by_username("ally")
    assert found is not None and found.id == user.id
    cleared = store.update_user(str(user.id), {"username": None})
    assert cleared is not None and cleared.username_canonical is None
    assert store.update_user(str(uuid.uuid4()), {"is_active": False}) is None


def test_update_user_to_a_taken_identifier(store: Store) -> None:
    make_user(store, "alice@example.com", username="alice")
    bob = make_user(store, "bob@example.com", username="bob")

    with pytest.raises(UserExists) as info:
        store.update_user(bob.id, {"email": "ALICE@example.com"})
    assert info.value.field == "email"
    with pytest.raises(UserExists) as info:
        store.update_user(bob.id, {"username": "Alice"})
    assert info.value.field == "username"
    unchanged = store.get_user(bob.id)
    assert unchanged is not None
    assert (unchanged.email, unchanged.username) == ("bob@example.com", "bob")


def test_update_user_rejects_unknown_and_derived_fields(store: Store) -> None:
    user = make_user(store)
    for name in ("shoe_size", "email_canonical", "id"):
        with pytest.raises(ValidationError) as info:
            store.update_user(user.id, {name: "x"})
        assert info.value.fields == {name: "unknown_field"}


def test_update_user_compare_and_swap(store: Store) -> None:
    user = make_user(store, password_hash="old-hash")
    stamp = user.security_stamp

    updated = store.update_user(
        user.id,
        {"password_hash": "new-hash", "security_stamp": "new-stamp"},
        expect={"password_hash": "old-hash", "security_stamp": stamp},
    )
    assert updated is not None
    assert (updated.password_hash, updated.security_stamp) == ("new-hash", "new-stamp")

    stale = store.update_user(
        user.id, {"password_hash": "other-hash"}, expect={"security_stamp": stamp}
    )
    assert stale is None
    current = store.get_user(user.id)
    assert current is not None and current.password_hash == "new-hash"
    same = store.update_user(user.id, {}, expect={"security_stamp": "new-stamp"})
    assert same is not None and same.id == user.id
    assert store.update_user(user.id, {}, expect={"security_stamp": stamp}) is None


def test_delete_user(store: Store) -> None:
    user = make_user(store, "alice@example.com", username="alice")

    assert store.delete_user(str(user.id)) is True
    assert store.delete_user(user.id) is False
    assert store.get_user(user.id) is None
    assert store.count_users() == 0
    again = make_user(store, "alice@example.com", username="alice")
    assert again.id != user.id


# -- roles ------------------------------------------------------------------------


def test_create_and_list_roles(store: Store) -> None:
    role = store.create_role("editor", "Edits things", ["post:edit", "post:create"])
    store.create_role("admin")

    assert role.name == "editor"
    assert role.get_permissions() == {"post:edit", "post:create"}
    found = store.get_role("editor")
    assert found is not None and found.description == "Edits things"
    assert [r.name for r in store.list_roles()] == ["admin", "editor"]
    assert store.get_role("nope") is None
    with pytest.raises(ValidationError) as info:
        store.create_role("editor")
    assert info.value.fields == {"name": "taken"}


def test_update_role(store: Store) -> None:
    store.create_role("editor")

    role = store.update_role("editor", {"description": "Edits", "permissions": ["a", "b"]})

    assert role is not None and role.get_permissions() == {"a", "b"}
    found = store.get_role("editor")
    assert found is not None and (found.description, found.permissions) == ("Edits", "a,b")
    assert store.update_role("nope", {"description": "x"}) is None
    with pytest.raises(ValidationError):
        store.update_role("editor", {"colour": "red"})


def test_create_user_with_roles_creates_missing_ones(store: Store) -> None:
    store.create_role("member", permissions=["read"])

    user = store.create_user({"email": "alice@example.com"}, roles=["member", "admin"])

    assert user.role_names == ["admin", "member"]
    assert user.has_permission("read")
    assert store.get_role("admin") is not None
    found = store.get_user(user.id)
    assert found is not None and found.role_names == ["admin", "member"]


def test_add_and_remove_roles(store: Store) -> None:
    user = make_user(store)

    assert store.add_role_to_user(user.id, "admin") is True
    assert store.add_role_to_user(str(user.id), "admin") is False
    assert store.add_role_to_user(user.id, "editor") is True
    assert store.add_role_to_user(str(uuid.uuid4()), "admin") is False
    found = store.get_user(user.id)
    assert found is not None and found.role_names == ["admin", "editor"]

    assert store.remove_role_from_user(user.id, "admin") is True
    assert store.remove_role_from_user(user.id, "admin") is False
    assert store.remove_role_from_user(user.id, "nope") is False
    found = store.get_user(user.id)
    assert found is not None and found.role_names == ["editor"]
    assert store.get_role("admin") is not None


def test_delete_role_removes_links(store: Store) -> None:
    user = store.create_user({"email": "alice@example.com"}, roles=["admin", "editor"])

    assert store.delete_role("admin") is True
    assert store.delete_role("admin") is False
    assert store.get_role("admin") is None
    found = store.get_user(user.id)
    assert found is not None and found.role_names == ["editor"]


# -- sessions ---------------------------------------------------------------------


def test_session_round_trip(store: Store) -> None:
    user = make_user(store)
    record = make_session(store, user)

    found = store.get_session(record.token_hash)

    assert found is not None
    session, owner = found
    assert session == record
    assert owner is not None and owner.id == user.id
    assert owner.roles == []
    assert store.get_session("unknown-hash") is None


def test_touch_and_update_session(store: Store) -> None:
    user = make_user(store)
    record = make_session(store, user)
    later = record.created_at + dt.timedelta(minutes=5)

    store.touch_session(record.id, later)
    assert store.update_session(record.id, {"authenticated_at": later, "data": {"step": 2}})
    assert store.update_session("unknown", {"authenticated_at": later}) is False
    with pytest.raises(ValidationError):
        store.update_session(record.id, {"colour": "red"})

    found = store.get_session(record.token_hash)
    assert found is not None
    session, _ = found
    assert session.last_seen_at == later
    assert session.authenticated_at == later
    assert session.data == {"step": 2}


def test_list_sessions_newest_first(store: Store) -> None:
    user = make_user(store)
    other = make_user(store, "bob@example.com")
    start = utcnow()
    made = [make_session(store, user, created_at=start + dt.timedelta(minutes=i)) for i in range(3)]
    make_session(store, other)

    assert [s.id for s in store.list_sessions(user.id)] == [s.id for s in reversed(made)]
    assert [s.id for s in store.list_sessions(str(user.id))] == [s.id for s in reversed(made)]
    assert store.list_sessions(str(uuid.uuid4())) == []


def test_delete_session_only_for_its_owner(store: Store) -> None:
    alice = make_user(store)
    bob = make_user(store, "bob@example.com")
    record = make_session(store, alice)

    assert store.delete_session(record.id, user_id=bob.id) is False
    assert store.get_session(record.token_hash) is not None
    assert store.delete_session(record.id, user_id=str(alice.id)) is True
    assert store.get_session(record.token_hash) is None
    assert store.delete_session(record.id) is False
    other = make_session(store, bob)
    assert store.delete_session(other.id) is True


def test_delete_other_sessions(store: Store) -> None:
    alice = make_user(store)
    bob = make_user(store, "bob@example.com")
    keep = make_session(store, alice)
    for _ in range(3):
        make_session(store, alice)
    bobs = make_session(store, bob)

    assert store.delete_user_sessions(alice.id, except_session_id=keep.id) == 3
    assert [s.id for s in store.list_sessions(alice.id)] == [keep.id]
    assert store.get_session(bobs.token_hash) is not None
    assert store.delete_user_sessions(str(alice.id)) == 1
    assert store.list_sessions(alice.id) == []


def test_purge_expired_sessions(store: Store) -> None:
    user = make_user(store)
    past = utcnow() - dt.timedelta(days=2)
    expired = make_session(store, user, created_at=past, expires_in=dt.timedelta(days=1))
    live = make_session(store, user)

    # Redis drops a session at its expiry by itself: nothing is left to purge.
    assert store.purge_expired_sessions(utcnow()) == (0 if _expires_by_itself(store) else 1)
    assert store.get_session(expired.token_hash) is None
    assert [s.id for s in store.list_sessions(user.id)] == [live.id]
    assert store.get_session(live.token_hash) is not None


def _expires_by_itself(store: Store) -> bool:
    from authgate.stores.split import SplitStore

    return isinstance(store, SplitStore)


def test_deleting_a_user_deletes_their_sessions(store: Store) -> None:
    user = store.create_user({"email": "alice@example.com"}, roles=["admin"])
    record = make_session(store, user)

    assert store.delete_user(user.id) is True
    assert store.get_session(record.token_hash) is None
    assert store.list_sessions(user.id) == []
    role = store.get_role("admin")
    assert role is not None


# -- token claims -----------------------------------------------------------------


def test_claim_token_once(store: Store) -> None:
    user = make_user(store)
    now = utcnow()
    later = now + dt.timedelta(hours=1)

    assert store.claim_token("jti-1", "reset_password", user.id, later, now) is True
    assert store.claim_token("jti-1", "reset_password", user.id, later, now) is False
    assert store.claim_token("jti-2", "confirm", None, now - dt.timedelta(seconds=1), now)
    assert store.is_claimed("jti-1") and store.is_claimed("jti-2")
    assert not store.is_claimed("jti-3")
    assert store.purge_used_tokens(now) == 1
    assert not store.is_claimed("jti-2")
    assert store.claim_token("jti-1", "reset_password", user.id, later, now) is False


# -- security events --------------------------------------------------------------

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def make_event(store: Store, kind: str = "sign_in", *, minutes: float = 0, **fields: Any) -> None:
    store.add_event(SecurityEvent(kind=kind, at=T0 + dt.timedelta(minutes=minutes), **fields))


def test_security_events_round_trip(store: Store) -> None:
    make_event(store, "sign_in", outcome="failure", user_id="u1", actor="user", ip="203.0.113.7",
               user_agent="Mozilla/5.0 \u00e9", details={"reason": "password", "n": 2})  # fmt: skip
    make_event(store, "role_create", minutes=1, actor="cli", details={"role": "admin"})
    newest, oldest = store.list_events()
    assert (newest.kind, newest.actor, newest.user_id, newest.ip) == (
        "role_create",
        "cli",
        None,
        None,
    )
    assert newest.details == {"role": "admin"} and newest.at == T0 + dt.timedelta(minutes=1)
    assert oldest.to_dict() == {
        "id": oldest.id, "kind": "sign_in", "at": "2026-12-01T12:00:00+00:00",
        "outcome": "failure", "user_id": "u1", "actor": "user", "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 \u00e9", "details": {"reason": "password", "n": 2},
    }  # fmt: skip
    assert isinstance(oldest.id, int) and isinstance(newest.id, int) and newest.id > oldest.id
    assert oldest.at.tzinfo is not None


def test_security_events_filters(store: Store) -> None:
    for minute, (kind, user) in enumerate([("sign_in", "a"), ("sign_out", "a"), ("sign_in", "b"),
                                           ("password_change", "a"), ("sign_in", "a")]):  # fmt: skip
        make_event(store, kind, minutes=minute, user_id=user)

    def kinds(**filters: Any) -> list[tuple[str, str | None, int]]:
        return [(e.kind, e.user_id, int((e.at - T0).total_seconds() // 60))
                for e in store.list_events(**filters)]  # fmt: skip

    assert kinds(user_id="a") == [("sign_in", "a", 4), ("password_change", "a", 3),
                                  ("sign_out", "a", 1), ("sign_in", "a", 0)]  # fmt: skip
    assert kinds(user_id="b") == [("sign_in", "b", 2)]
    assert kinds(user_id="nobody") == []
    assert kinds(kinds=["sign_in"], user_id="a") == [("sign_in", "a", 4), ("sign_in", "a", 0)]
    assert kinds(kinds=["sign_out", "password_change"]) == [("password_change", "a", 3),
                                                            ("sign_out", "a", 1)]  # fmt: skip
    at = T0 + dt.timedelta(minutes=1)
    assert [m for _, _, m in kinds(since=at)] == [4, 3, 2, 1]  # since: inclusive
    assert [m for _, _, m in kinds(before=at)] == [0]  # before: exclusive
    assert [m for _, _, m in kinds(since=at, before=T0 + dt.timedelta(minutes=3))] == [2, 1]
    assert [m for _, _, m in kinds(limit=2)] == [4, 3]


def test_security_events_at_the_same_time_come_newest_id_first(store: Store) -> None:
    for n in range(3):
        make_event(store, "sign_in", details={"n": n})
    assert [e.details["n"] for e in store.list_events()] == [2, 1, 0]


def test_purge_security_events(store: Store) -> None:
    for minute in range(5):
        make_event(store, minutes=minute)
    assert store.purge_events(T0 + dt.timedelta(minutes=2)) == 2  # strictly older only
    assert len(store.list_events()) == 3
    assert store.purge_events(T0) == 0


def test_security_events_outlive_their_user(store: Store) -> None:
    alice = make_user(store)
    make_event(store, "account_delete", user_id=str(alice.id))
    assert store.delete_user(alice.id)
    assert [e.kind for e in store.list_events(user_id=str(alice.id))] == ["account_delete"]


# -- the notice outbox ------------------------------------------------------------


def make_notice(
    kind: str = "password_changed", *, due: dt.datetime = T0, user_id: str | None = None,
    **fields: Any,
) -> Notice:  # fmt: skip
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()), "kind": kind, "to": "Alice@Example.com",
        "subject": "Your password was changed \u2713", "text": "Hello \u00e9\n" * 3,
        "html": "<p>Hello &eacute;</p>\n", "created_at": T0, "next_attempt_at": due,
        "user_id": user_id, "sender": "Site <auth@example.com>",
        "headers": {"Auto-Submitted": "auto-generated"},
    }  # fmt: skip
    values.update(fields)
    return Notice(**values)


def notices_of(store: Store) -> list[Notice]:
    return store.list_notices(limit=1000)


def test_notices_round_trip(store: Store) -> None:
    notice = make_notice(user_id="someone", due=T0 + dt.timedelta(minutes=1))
    store.add_notices([notice])
    assert notices_of(store) == [notice]  # every field, headers, times (aware UTC) and text
    [stored] = notices_of(store)
    assert stored.next_attempt_at.tzinfo is not None and stored.attempts == 0
    assert stored.message().to_dict() == {
        "to": "Alice@Example.com", "subject": notice.subject, "text": notice.text,
        "html": notice.html, "kind": "password_changed", "sender": notice.sender,
        "headers": {"Auto-Submitted": "auto-generated"}, "user_id": "someone",
    }  # fmt: skip
    store.add_notices([])  # nothing to do


def test_notices_are_listed_soonest_due_first(store: Store) -> None:
    later, soon, now = (make_notice(due=T0 + dt.timedelta(minutes=m)) for m in (5, 1, 0))
    store.add_notices([later, soon, now])
    assert [n.id for n in notices_of(store)] == [now.id, soon.id, later.id]
    due = store.list_notices(due_by=T0 + dt.timedelta(minutes=1))
    assert [n.id for n in due] == [now.id, soon.id]  # due_by is inclusive
    assert store.list_notices(due_by=T0 - dt.timedelta(seconds=1)) == []
    assert [n.id for n in store.list_notices(limit=1)] == [now.id]


def test_update_user_keeps_its_notices_in_the_same_write(store: Store) -> None:
    alice = make_user(store)
    notice = make_notice()
    updated = store.update_user(
        alice.id, {"security_stamp": "s2"}, expect={"security_stamp": alice.security_stamp},
        outbox=[notice],
    )  # fmt: skip
    assert updated is not None and updated.security_stamp == "s2"
    [stored] = notices_of(store)
    assert stored.id == notice.id and stored.user_id == str(alice.id)  # filled in


def test_a_refused_write_keeps_no_notice(store: Store) -> None:
    alice = make_user(store)
    make_user(store, "bob@example.com", username="bob")
    stale = {"security_stamp": "old"}
    nobody = str(uuid.uuid4())
    refusals: list[Callable[[list[Notice]], Any]] = [
        lambda n: store.update_user(alice.id, {"security_stamp": "x"}, expect=stale, outbox=n),
        lambda n: store.update_user(nobody, {"username": "z"}, outbox=n),
        lambda n: store.delete_user(nobody, outbox=n),
        lambda n: store.swap_primary_email(alice.id, "none", alice.security_stamp, "s2", outbox=n),
    ]
    for refuse in refusals:
        assert not refuse([make_notice()])
    clashes: list[Callable[[list[Notice]], Any]] = [
        lambda n: store.create_user({"email": "ALICE@example.com"}, outbox=n),
        lambda n: store.update_user(alice.id, {"username": "BOB"}, outbox=n),
    ]
    for clash in clashes:
        with pytest.raises(UserExists):
            clash([make_notice()])
    assert notices_of(store) == []
    assert store.get_user(alice.id).security_stamp == alice.security_stamp


def test_create_user_gives_its_notices_the_new_id(store: Store) -> None:
    welcome, other = make_notice("welcome"), make_notice(user_id="given")
    user = store.create_user({"email": "alice@example.com"}, outbox=[welcome, other])
    by_id = {n.id: n.user_id for n in notices_of(store)}
    assert by_id == {welcome.id: str(user.id), other.id: "given"}


def test_delete_user_keeps_its_notice_after_the_user(store: Store) -> None:
    alice = make_user(store)
    notice = make_notice("account_deleted")
    assert store.delete_user(alice.id, outbox=[notice])
    assert store.get_user(alice.id) is None
    [stored] = notices_of(store)
    assert stored.id == notice.id and stored.user_id == str(alice.id)


def test_swap_primary_email_keeps_its_notice(store: Store) -> None:
    alice = make_user(store)
    record = store.add_email(alice.id, "work@example.com", confirmed_at=utcnow())
    assert (
        store.swap_primary_email(alice.id, record.id, "stale", "s2", outbox=[make_notice()]) is None
    )
    assert notices_of(store) == []
    notice = make_notice("email_changed")
    assert store.swap_primary_email(
        alice.id, record.id, alice.security_stamp, "s2", outbox=[notice]
    )
    assert [(n.id, n.user_id) for n in notices_of(store)] == [(notice.id, str(alice.id))]


def test_claim_and_delete_a_notice(store: Store) -> None:
    notice = make_notice()
    store.add_notices([notice])
    until = T0 + dt.timedelta(minutes=2)
    assert store.claim_notice(notice.id, 0, until) is True
    assert store.claim_notice(notice.id, 0, until) is False  # read before that claim: refused
    [claimed] = notices_of(store)
    assert (claimed.attempts, claimed.next_attempt_at) == (1, until)
    assert store.claim_notice(notice.id, 1, until + dt.timedelta(minutes=4)) is True
    assert notices_of(store)[0].attempts == 2
    assert store.claim_notice("no-such-notice", 0, until) is False
    assert store.delete_notice(notice.id) is True
    assert store.delete_notice(notice.id) is False
    assert notices_of(store) == []


def test_concurrent_notice_claims_have_one_winner(store: Store) -> None:
    notice = make_notice()
    store.add_notices([notice])

    results = run_together(
        THREADS, lambda i: store.claim_notice(notice.id, 0, T0 + dt.timedelta(seconds=i))
    )

    assert sorted(results, key=repr) == [False] * (THREADS - 1) + [True]
    assert notices_of(store)[0].attempts == 1


# -- concurrency ------------------------------------------------------------------


def test_extra_email_addresses(store: Store) -> None:
    alice = make_user(store)
    bob = make_user(store, "bob@example.com")
    record = store.add_email(alice.id, "Alice@Work.example")
    assert record.email_canonical == "alice@work.example" and record.confirmed_at is None
    assert store.get_email(record.id) == record
    assert store.find_email("alice@work.example") == record
    assert store.find_email("nobody@example.com") is None
    assert [r.id for r in store.list_emails(alice.id)] == [record.id]
    assert store.list_emails(bob.id) == []
    with pytest.raises(UserExists):
        store.add_email(bob.id, "ALICE@work.example")
    now = utcnow()
    assert store.confirm_email_address(record.id, now) is True
    assert store.confirm_email_address(record.id, now) is False
    assert store.get_email(record.id).confirmed_at is not None
    assert store.delete_email(record.id, bob.id) is False  # not bob's
    assert store.delete_email(record.id, alice.id) is True
    assert store.get_email(record.id) is None


def test_swap_primary_email(store: Store) -> None:
    alice = make_user(store, email_confirmed_at=utcnow())
    unconfirmed = store.add_email(alice.id, "draft@example.com")
    assert store.swap_primary_email(alice.id, unconfirmed.id, alice.security_stamp, "s2") is None
    record = store.add_email(alice.id, "work@example.com", confirmed_at=utcnow())
    assert store.swap_primary_email(alice.id, record.id, "stale-stamp", "s2") is None
    user = store.swap_primary_email(alice.id, record.id, alice.security_stamp, "s2")
    assert user is not None and user.email == "work@example.com" and user.security_stamp == "s2"
    assert store.get_user_by_email("work@example.com").id == alice.id
    assert store.get_user_by_email("alice@example.com") is None
    swapped = store.get_email(record.id)
    assert swapped.email == "alice@example.com" and swapped.confirmed_at is not None


def test_deleting_a_user_deletes_their_addresses(store: Store) -> None:
    alice = make_user(store)
    record = store.add_email(alice.id, "work@example.com")
    store.delete_user(alice.id)
    assert store.get_email(record.id) is None
    other = make_user(store, "bob@example.com")
    store.add_email(other.id, "work@example.com")  # the address is free again


def test_concurrent_address_confirmations_have_one_winner(store: Store) -> None:
    alice = make_user(store)
    record = store.add_email(alice.id, "work@example.com")
    with ThreadPoolExecutor(THREADS) as pool:
        wins = list(
            pool.map(lambda _: store.confirm_email_address(record.id, utcnow()), range(THREADS))
        )
    assert wins.count(True) == 1


def test_concurrent_sign_ups_create_one_user(store: Store) -> None:
    def sign_up(i: int) -> Any:
        email = "Race@Example.com".upper() if i % 2 else "race@example.com"
        return store.create_user({"email": email, "password_hash": f"h{i}"}, roles=["member"])

    results = run_together(THREADS, sign_up)

    users = [r for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(users) == 1, results
    assert all(isinstance(e, UserExists) and e.field == "email" for e in errors), errors
    assert store.count_users() == 1
    found = store.get_user_by_email("race@example.com")
    assert found is not None and found.role_names == ["member"]


# -- passkeys -----------------------------------------------------------------------


def make_passkey(store: Store, user: Any, *, name: str = "Laptop", minutes: int = 0,
                 credential_id: bytes | None = None) -> PasskeyRecord:  # fmt: skip
    record = PasskeyRecord(
        id=uuid.uuid4().hex[:24],
        user_id=str(user.id),
        credential_id=credential_id or uuid.uuid4().bytes * 4,
        public_key=bytes(range(77)),
        sign_count=0,
        name=name,
        created_at=utcnow() + dt.timedelta(minutes=minutes),
        transports=("internal", "hybrid"),
        aaguid="01234567-89ab-cdef-0123-456789abcdef",
        backup_eligible=True,
    )
    assert store.create_passkey(record)
    return record


def test_passkey_round_trip(store: Store) -> None:
    user = make_user(store)
    raw = bytes(range(256)) * 3 + b"\x00\xff" * 100  # 968 bytes, every byte value
    second = make_passkey(store, user, name="Phone", minutes=1, credential_id=raw)
    first = make_passkey(store, user)

    assert [p.id for p in store.list_passkeys(user.id)] == [first.id, second.id]  # oldest first
    found = store.get_passkey_by_credential(second.credential_hash)
    assert found is not None
    record, owner = found
    assert record == second and record.credential_id == raw and owner.id == user.id
    assert record.transports == ("internal", "hybrid") and record.backup_eligible
    assert store.get_passkey_by_credential("0" * 64) is None


def test_a_credential_id_is_registered_once(store: Store) -> None:
    alice, bob = make_user(store), make_user(store, "bob@example.com")
    taken = make_passkey(store, alice)
    again = PasskeyRecord(
        id=uuid.uuid4().hex[:24], user_id=str(bob.id), credential_id=taken.credential_id,
        public_key=b"k", sign_count=0, name="Copy", created_at=utcnow(),
    )  # fmt: skip
    assert store.create_passkey(again) is False
    assert store.list_passkeys(bob.id) == []
    ghost = PasskeyRecord(
        id=uuid.uuid4().hex[:24], user_id=str(uuid.uuid4()), credential_id=b"ghost",
        public_key=b"k", sign_count=0, name="Nobody's", created_at=utcnow(),
    )  # fmt: skip
    assert store.create_passkey(ghost) is False  # no such user


def test_passkeys_are_renamed_and_deleted_by_their_owner_only(store: Store) -> None:
    alice, bob = make_user(store), make_user(store, "bob@example.com")
    record = make_passkey(store, alice)

    assert store.rename_passkey(record.id, bob.id, "Mine") is None
    assert store.delete_passkey(record.id, bob.id) is False
    renamed = store.rename_passkey(record.id, alice.id, "Work laptop")
    assert renamed is not None and renamed.name == "Work laptop"
    again = store.rename_passkey(record.id, alice.id, "Work laptop")  # the same name
    assert again is not None and again.name == "Work laptop"
    assert store.delete_passkey(record.id, alice.id) is True
    assert store.delete_passkey(record.id, alice.id) is False
    assert store.list_passkeys(alice.id) == []


def test_a_passkey_use_is_one_conditional_write(store: Store) -> None:
    user = make_user(store)
    record = make_passkey(store, user)
    now = utcnow()

    assert store.use_passkey(record.id, 0, 5, now, True) is True
    assert store.use_passkey(record.id, 0, 6, now, True) is False  # the count moved
    found = store.get_passkey_by_credential(record.credential_hash)
    assert found is not None
    assert (found[0].sign_count, found[0].last_used_at, found[0].backed_up) == (5, now, True)
    results = run_together(THREADS, lambda i: store.use_passkey(record.id, 5, 6 + i, now, True))
    assert sorted(results, key=repr) == [False] * (THREADS - 1) + [True]


def test_deleting_a_user_deletes_their_passkeys(store: Store) -> None:
    user = make_user(store)
    record = make_passkey(store, user)
    assert store.delete_user(user.id)
    assert store.get_passkey_by_credential(record.credential_hash) is None


def test_concurrent_claims_have_one_winner(store: Store) -> None:
    now = utcnow()
    later = now + dt.timedelta(hours=1)

    results = run_together(THREADS, lambda i: store.claim_token("jti", "reset", None, later, now))

    assert sorted(results, key=repr) == [False] * (THREADS - 1) + [True]


def test_concurrent_compare_and_swap_has_one_winner(store: Store) -> None:
    user = make_user(store)
    stamp = user.security_stamp

    def change(i: int) -> Any:
        return store.update_user(
            user.id,
            {"password_hash": f"hash-{i}", "security_stamp": f"stamp-{i}"},
            expect={"security_stamp": stamp},
        )

    results = run_together(THREADS, change)

    winners = [r for r in results if r is not None]
    assert len(winners) == 1, results
    current = store.get_user(user.id)
    assert current is not None
    assert current.security_stamp == winners[0].security_stamp
    assert current.password_hash == "hash-" + current.security_stamp.removeprefix("stamp-")


# -- failures (SQL backends) ------------------------------------------------------

DEAD_URLS = [
    pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2", id="postgres"),
    pytest.param("mysql+pymysql://root@127.0.0.1:1/test?connect_timeout=2", id="mysql"),
    pytest.param("sqlite:////nonexistent-authgate-dir/auth.db", id="sqlite"),
]


@pytest.mark.parametrize("url", DEAD_URLS)
def test_unreachable_database_is_service_unavailable(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLAlchemyStore(url)
    try:
        with caplog.at_level(logging.ERROR, logger="authgate.store"):
            with pytest.raises(ServiceUnavailable) as info:
                store.create_user({"email": "alice@example.com"})
            with pytest.raises(ServiceUnavailable):
                store.get_user_by_email("alice@example.com")
    finally:
        store.close()

    message = info.value.message
    assert message.startswith(ServiceUnavailable.default_message)
    for secret in ("127.0.0.1", ":1", "postgres", "psycopg", "mysql", "sqlite", "nonexistent"):
        assert secret not in message.lower()
    assert info.value.to_dict()["error"]["code"] == "SERVICE_UNAVAILABLE"
    ref = message.rsplit("(ref ", 1)[1].rstrip(")")
    assert len(ref) == 12
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


@contextlib.contextmanager
def database_fails_at(engine: sa.Engine, point: str) -> Iterator[None]:
    """Make the database fail at ``point`` inside the block.

    Points: ``"links"`` (the INSERT of the role links, after the user and role
    INSERTs of the same transaction) and ``"commit"``.
    """

    def boom(*args: Any) -> None:
        raise OperationalError("injected", {}, Exception("server closed the connection"))

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUTHGATE_USER_ROLES"):
            boom()

    name, listener = {
        "links": ("before_cursor_execute", before_execute),
        "commit": ("commit", boom),
    }[point]
    sa.event.listen(engine, name, listener)
    try:
        yield
    finally:
        sa.event.remove(engine, name, listener)


@pytest.mark.parametrize("point", ["links", "commit"])
def test_failure_mid_create_user_leaves_nothing(sql_store: SQLAlchemyStore, point: str) -> None:
    with database_fails_at(sql_store.engine, point), pytest.raises(ServiceUnavailable):
        sql_store.create_user({"email": "alice@example.com"}, roles=["admin"])

    assert sql_store.count_users() == 0
    assert sql_store.get_user_by_email("alice@example.com") is None
    assert sql_store.get_role("admin") is None
    user = sql_store.create_user({"email": "alice@example.com"}, roles=["admin"])
    assert user.role_names == ["admin"]


def test_memory_store_is_thread_safe_under_one_lock() -> None:
    store = MemoryStore()
    results = run_together(
        THREADS, lambda i: store.create_user({"email": f"user{i}@example.com"}, roles=["r"])
    )

    assert all(not isinstance(r, Exception) for r in results), results
    assert store.count_users() == THREADS
    assert len(store.list_roles()) == 1


def test_session_user_behaves_like_a_detached_orm_object(sql_store: SQLAlchemyStore) -> None:
    """get_session builds the user without an ORM session; it must act as if loaded by one."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm import Session

    alice = sql_store.create_user({"email": "alice@example.com"}, roles=["b-role", "a-role"])
    record = make_session(sql_store, alice, sid="s1")
    found = sql_store.get_session(record.token_hash)
    assert found is not None
    user = found[1]
    state = sa_inspect(user)
    assert state.detached and not state.modified
    assert [r.name for r in user.roles] == ["a-role", "b-role"]
    assert user.to_dict()["roles"] == ["a-role", "b-role"]
    with Session(sql_store.engine) as session:
        session.add(user)  # an UPDATE on commit, not an INSERT
        user.username = "alice"
        session.commit()
    assert sql_store.get_user(alice.id).username == "alice"
    assert sql_store.count_users() == 1


def test_a_session_s_user_by_id_is_built_like_get_session_s(sql_store: SQLAlchemyStore) -> None:
    """``get_session_user``: the user of a session kept elsewhere (Redis), by the fast path."""
    from sqlalchemy import inspect as sa_inspect

    alice = sql_store.create_user({"email": "alice@example.com"}, roles=["b-role", "a-role"])
    bob = sql_store.create_user({"email": "bob@example.com"})
    record = make_session(sql_store, alice, sid="s1")
    found = sql_store.get_session(record.token_hash)
    assert found is not None and found[1] is not None

    for user_id in (alice.id, str(alice.id)):
        user = sql_store.get_session_user(user_id)
        assert user is not None
        assert sa_inspect(user).detached and not sa_inspect(user).modified
        assert user.to_dict() == found[1].to_dict() == sql_store.get_user(alice.id).to_dict()
        assert user.security_stamp == alice.security_stamp and user.is_active is True
    no_roles = sql_store.get_session_user(bob.id)
    assert no_roles is not None and no_roles.roles == [] and no_roles.email == "bob@example.com"
    assert sql_store.get_session_user(str(uuid.uuid4())) is None
    sql_store.delete_user(bob.id)
    assert sql_store.get_session_user(bob.id) is None


# -- refresh tokens (SPEC §10) ------------------------------------------------------


def make_refresh(
    session: SessionRecord,
    token_hash: str | None = None,
    *,
    expires_in: dt.timedelta = dt.timedelta(hours=1),
    now: dt.datetime | None = None,
) -> RefreshTokenRecord:
    moment = now or utcnow()
    return RefreshTokenRecord(
        token_hash=token_hash or uuid.uuid4().hex,
        session_id=session.id,
        user_id=session.user_id,
        created_at=moment,
        expires_at=moment + expires_in,
    )


def test_refresh_token_round_trip_and_rotation(store: Store) -> None:
    user = make_user(store)
    session = make_session(store, user)
    first = make_refresh(session, "a" * 64)
    store.add_refresh_token(first)
    found = store.get_refresh_token("a" * 64)
    assert found is not None and found.used_at is None
    assert (found.session_id, found.user_id) == (session.id, str(user.id))
    assert abs(found.expires_at - first.expires_at) < dt.timedelta(milliseconds=1)
    assert store.get_refresh_token("b" * 64) is None

    now = utcnow()
    second = make_refresh(session, "b" * 64, now=now)
    assert store.rotate_refresh_token("a" * 64, second, now) is True
    retired = store.get_refresh_token("a" * 64)
    assert retired is not None and retired.used_at is not None  # kept: its reuse is recognised
    assert store.get_refresh_token("b" * 64) is not None
    # A retired, unknown or expired token is never rotated (nothing is written).
    third = make_refresh(session, "c" * 64, now=now)
    assert store.rotate_refresh_token("a" * 64, third, now) is False
    assert store.rotate_refresh_token("z" * 64, third, now) is False
    assert store.rotate_refresh_token("b" * 64, third, now + dt.timedelta(hours=2)) is False
    assert store.get_refresh_token("c" * 64) is None


def test_concurrent_rotations_of_one_refresh_token_have_one_winner(store: Store) -> None:
    user = make_user(store)
    session = make_session(store, user)
    store.add_refresh_token(make_refresh(session, "r" * 64))
    now = utcnow()
    successors = [make_refresh(session, f"{i:064x}", now=now) for i in range(THREADS)]
    results = run_together(
        THREADS, lambda i: store.rotate_refresh_token("r" * 64, successors[i], now)
    )
    assert results.count(True) == 1, results
    assert results.count(False) == THREADS - 1
    stored = [s for s in successors if store.get_refresh_token(s.token_hash) is not None]
    assert len(stored) == 1  # the family never forks
    assert stored[0] is successors[results.index(True)]


def test_ending_a_family(store: Store) -> None:
    user = make_user(store)
    one, two = make_session(store, user), make_session(store, user)
    for token_hash, session in (("1" * 64, one), ("2" * 64, one), ("3" * 64, two)):
        store.add_refresh_token(make_refresh(session, token_hash))
    assert store.delete_refresh_tokens(one.id) == 2
    assert store.get_refresh_token("1" * 64) is None and store.get_refresh_token("2" * 64) is None
    assert store.get_refresh_token("3" * 64) is not None
    # A session's deletion leaves its tokens worthless (the SQL stores delete them too).
    assert store.delete_session(two.id) is True
    assert store.get_session_by_id(two.id) is None


def test_purge_refresh_tokens(store: Store) -> None:
    user = make_user(store)
    session = make_session(store, user)
    now = utcnow()
    store.add_refresh_token(make_refresh(session, "o" * 64, expires_in=dt.timedelta(seconds=1)))
    store.add_refresh_token(make_refresh(session, "n" * 64))
    purged = store.purge_refresh_tokens(now + dt.timedelta(seconds=2))
    assert purged == (0 if _expires_by_itself(store) else 1)
    assert store.get_refresh_token("n" * 64) is not None


def test_get_session_by_id(store: Store) -> None:
    user = store.create_user({"email": "alice@example.com"}, roles=["admin"])
    record = make_session(store, user)
    found = store.get_session_by_id(record.id)
    assert found is not None
    session, owner = found
    assert session.token_hash == record.token_hash and session.data == {"mfa": True, "n": 1}
    assert owner is not None and owner.email == "alice@example.com"
    assert [r.name for r in owner.roles] == ["admin"]
    assert store.get_session_by_id("nope") is None


# -- personal API keys (SPEC §10) ----------------------------------------------------


def make_api_key(
    store: Store, user: Any, key_hash: str | None = None, **fields: Any
) -> ApiKeyRecord:
    record = ApiKeyRecord(
        id=uuid.uuid4().hex[:16],
        key_hash=key_hash or uuid.uuid4().hex * 2,
        user_id=str(user.id),
        name="ci",
        prefix="ag_abcdefgh",
        created_at=fields.pop("created_at", utcnow()),
        **fields,
    )
    store.create_api_key(record)
    return record


def test_api_key_round_trip(store: Store) -> None:
    user = store.create_user({"email": "alice@example.com"}, roles=["admin"])
    later = utcnow() + dt.timedelta(days=1)
    record = make_api_key(store, user, "k" * 64, scopes=("read:a", "write:b"),
                          allowed_ips=("10.0.0.0/8",), expires_at=later)  # fmt: skip
    found = store.get_api_key("k" * 64)
    assert found is not None
    key, owner = found
    assert (key.id, key.name, key.prefix, key.scopes, key.allowed_ips) == (
        record.id,
        "ci",
        "ag_abcdefgh",
        ("read:a", "write:b"),
        ("10.0.0.0/8",),
    )
    assert key.expires_at is not None and abs(key.expires_at - later) < dt.timedelta(milliseconds=1)
    assert key.last_used_at is None and key.user_id == str(user.id)
    assert owner is not None and owner.email == "alice@example.com" and owner.has_role("admin")
    assert store.get_api_key("x" * 64) is None


def test_api_keys_belong_to_their_user(store: Store) -> None:
    alice, bob = make_user(store), make_user(store, "bob@example.com")
    old = make_api_key(store, alice, created_at=utcnow() - dt.timedelta(minutes=1))
    new = make_api_key(store, alice)
    bobs = make_api_key(store, bob)
    assert [k.id for k in store.list_api_keys(alice.id)] == [new.id, old.id]
    assert store.delete_api_key(bobs.id, alice.id) is False  # not hers
    assert store.get_api_key(bobs.key_hash) is not None
    assert store.delete_api_key(old.id, alice.id) is True
    assert store.delete_api_key(old.id, alice.id) is False
    assert store.delete_api_key(bobs.id) is True  # an administrator's revocation
    assert store.delete_user(alice.id) is True
    assert store.get_api_key(new.key_hash) is None


def test_api_key_use_is_recorded_at_most_once_per_interval(store: Store) -> None:
    user = make_user(store)
    record = make_api_key(store, user)
    now = utcnow()
    minute = dt.timedelta(minutes=1)
    assert store.touch_api_key(record.id, now, "203.0.113.7", now - minute) is True
    assert store.touch_api_key(record.id, now, "203.0.113.8", now - minute) is False
    results = run_together(
        THREADS, lambda i: store.touch_api_key(record.id, now + 2 * minute, "::1", now + minute)
    )
    assert results.count(True) == 1
    key = store.list_api_keys(user.id)[0]
    assert key.last_used_ip == "::1"
    assert key.last_used_at is not None
    assert abs(key.last_used_at - (now + 2 * minute)) < dt.timedelta(milliseconds=1)


# -- second factors ---------------------------------------------------------------


def test_store_claims_are_single_use(store: Store) -> None:
    user = make_user(store, "bob@example.com")
    row = store.ensure_two_factor(user.id, "e" * 32)
    assert row.totp_last_step == 0 and row.trust_epoch == "e" * 32
    assert store.ensure_two_factor(user.id, "f" * 32).trust_epoch == "e" * 32  # kept
    assert not store.advance_totp_step(user.id, 5)  # TOTP off: nothing to advance
    assert store.update_two_factor(user.id, {"totp_enabled_at": utcnow(), "totp_secret": "c"})
    results = run_together(8, lambda i: store.advance_totp_step(user.id, 100))
    assert results.count(True) == 1
    assert not store.advance_totp_step(user.id, 99)
    store.replace_recovery_codes(user.id, ["a" * 64, "b" * 64], utcnow())
    results = run_together(8, lambda i: store.use_recovery_code(user.id, "a" * 64, utcnow()))
    assert results.count(True) == 1
    assert store.count_recovery_codes(user.id) == 1
    store.replace_recovery_codes(user.id, ["c" * 64], utcnow())
    assert not store.use_recovery_code(user.id, "b" * 64, utcnow())  # the old set is void
    assert not store.update_two_factor(user.id, {"totp_secret": "x"}, {"totp_secret": "nope"})
    assert store.get_two_factor("no-such-user") is None
    assert store.delete_user(user.id)
    assert store.get_two_factor(user.id) is None
    assert store.count_recovery_codes(user.id) == 0
