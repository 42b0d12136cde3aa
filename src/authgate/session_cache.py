"""A per-process cache of verified sessions, kept coherent with every write authgate makes.

Why: every authenticated request looks its session up. Done in the store, that
is a database round trip plus building the session, user and role objects;
and in FastAPI it is also a hop to the thread pool, since database calls must
not block the event loop. Answered from memory, it is a dictionary lookup,
cheap enough to run on the event loop.

What it holds: for each token digest whose session the store found valid
(stamp matching, user active), the session as :class:`~authgate.results.SessionInfo`
(with its user and roles), for at most ``session_cache_ttl`` seconds of the
monotonic clock, and never past the moment the flows would have to ask the
store again (expiry, idle timeout, activity to record). Only valid sessions
are kept: an unknown or revoked token always goes to the store.

How it stays right:

* Every write the flows make (and the Python API, the JSON API, the CLI and
  ``auth.users`` all go through the flows' context) passes through
  :class:`CoherentStore`, which forgets what the write may change *after* it
  returns or fails: one session, every session of a user (password, email,
  username, activation, role membership, deletion), or everything (a role's
  permissions changed or a role was deleted). It forgets in the caches of
  every ``Auth`` of the process over the same database (:class:`CacheGroup`),
  so an ``authgate`` command run in-process, or a second ``Auth`` built from
  the same settings, is seen at once too.
* A lookup that started before such a write does not put what it read back
  into the cache (:attr:`SessionCache.epoch`).
* The user object is shared by the requests of one session (one token) while
  it is cached: the requests of *other* sessions never see it. A request that
  changes it, or adds it to an ORM session of its own, makes the next request
  load a fresh one from the store (SQLAlchemy records both on the instance).
  Users bound to an ORM session when loaded (a Flask-SQLAlchemy ``db``) are
  never cached: they belong to the request that loaded them.

What it cannot see: writes made outside authgate's API (your own SQL on
authgate's tables, or the store object called directly), and, without
``redis_url``, writes made by other processes (other workers, ``authgate
users deactivate`` from a shell). Those take effect within
``session_cache_ttl`` seconds. With ``redis_url``, every group also relays
what it forgets to the other processes and applies what they relay
(:class:`Relay`, :mod:`authgate.session_bus`); a cache that may miss such a
message keeps nothing meanwhile (:meth:`SessionCache.suspend`).
``session_cache_ttl=0`` looks every request up in the store.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from authgate.models import Notice, SessionRecord
from authgate.results import SessionInfo

__all__ = [
    "MAX_ENTRIES",
    "CacheGroup",
    "CachedSession",
    "CoherentStore",
    "Relay",
    "SessionCache",
    "StoreNeeded",
    "group_for",
]

#: At most this many sessions are cached per process; the oldest go first.
MAX_ENTRIES = 10_000


class StoreNeeded(Exception):
    """A lookup asked to answer from memory only cannot: it needs the store.

    Async integrations catch it and run the same lookup in a worker thread.
    Never reaches an application.
    """


@dataclass(frozen=True)
class CachedSession:
    """What the cache returns: the session record and info, and how long they may be served."""

    record: SessionRecord
    info: SessionInfo
    #: The flows' own limit: the store must be asked again from this moment
    #: (expiry, idle timeout or activity to record), whatever the ttl says.
    until: dt.datetime
    #: ``time.monotonic()`` after which the entry is not served (the ttl).
    deadline: float
    #: The SQLAlchemy states of the user and roles, to notice changes to them.
    states: tuple[Any, ...] | None


class SessionCache:
    """Verified sessions by token digest, for ``ttl`` seconds at most.

    Reads take no lock (a dictionary lookup is atomic); writes and forgetting
    take one.

    Args:
        ttl: seconds an entry is served after the store confirmed it.
        max_entries: the size bound; the oldest entry is dropped first.
    """

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        if ttl <= 0:
            raise ValueError("a SessionCache needs a positive ttl")
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedSession] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        #: Session id -> the digests it is cached under (its token, its access tokens).
        self._by_session: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        #: Changes whenever anything is forgotten: a lookup notes it before
        #: reading the store and :meth:`put` refuses what was read before a change.
        self.epoch = 0
        #: Whether :meth:`put` keeps anything (see :meth:`suspend`).
        self._open = True
        #: Called (outside the lock) when :meth:`put` refuses because the cache
        #: is suspended: it starts whatever will :meth:`resume` it.
        self.wake: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> CachedSession | None:
        """The cached session, or ``None`` (not cached, too old, or its user was changed).

        The caller still compares :attr:`CachedSession.until` with its clock.
        """
        entry = self._entries.get(token_hash)
        if entry is None or entry.deadline <= time.monotonic() or not _untouched(entry.states):
            return None
        return entry

    def put(
        self,
        token_hash: str,
        record: SessionRecord,
        info: SessionInfo,
        until: dt.datetime,
        epoch: int,
    ) -> None:
        """Keep a session the store just confirmed, unless something changed since ``epoch``."""
        states = _states(info.user)
        if states is not None and states[0].session_id is not None:
            return  # bound to the ORM session of the request that loaded it
        entry = CachedSession(record, info, until, time.monotonic() + self.ttl, states)
        with self._lock:
            if epoch != self.epoch:
                return
            if self._open:
                self._drop(token_hash)
                while len(self._entries) >= self.max_entries:
                    self._drop(next(iter(self._entries)))
                self._entries[token_hash] = entry
                self._by_user.setdefault(record.user_id, set()).add(token_hash)
                self._by_session.setdefault(record.id, set()).add(token_hash)
                return
        wake = self.wake
        if wake is not None:
            wake()

    def forget_session(self, session_id: str) -> None:
        """Drop one session (revoked, changed or expired)."""
        with self._lock:
            self.epoch += 1
            for token_hash in list(self._by_session.get(session_id, ())):
                self._drop(token_hash)

    def forget_user(self, user_id: Any) -> None:
        """Drop every session of a user (their password, roles, state... changed)."""
        with self._lock:
            self.epoch += 1
            for token_hash in list(self._by_user.get(str(user_id), ())):
                self._drop(token_hash)

    def clear(self) -> None:
        """Drop everything (a role changed, so any user's permissions may have)."""
        self._reset(None)

    def suspend(self) -> None:
        """Drop everything and keep nothing until :meth:`resume`.

        For when this cache may miss what other processes forget (its
        subscription to their invalidations is down, or not up yet): every
        lookup then asks the store. The hit path is unchanged, the cache is
        simply empty. A lookup that started before is refused as by any forget.
        """
        self._reset(False)

    def resume(self) -> None:
        """Keep sessions again, starting empty (what was missed meanwhile is unknown)."""
        self._reset(True)

    @property
    def suspended(self) -> bool:
        """Whether the cache keeps nothing (see :meth:`suspend`)."""
        return not self._open

    def after_fork(self) -> None:
        """In a forked child: a new lock (a parent's thread may have held it), suspended."""
        self._lock = threading.Lock()
        self._reset(False)

    def _reset(self, open_: bool | None) -> None:
        """Drop everything; then keep sessions (``True``), not (``False``), or as before."""
        with self._lock:
            self.epoch += 1
            if open_ is not None:
                self._open = open_
            self._entries.clear()
            self._by_user.clear()
            self._by_session.clear()

    def _drop(self, token_hash: str) -> None:
        """Remove one entry and its index entries (the lock is held)."""
        entry = self._entries.pop(token_hash, None)
        if entry is None:
            return
        keys = self._by_session.get(entry.record.id)
        if keys is not None:
            keys.discard(token_hash)
            if not keys:
                del self._by_session[entry.record.id]
        digests = self._by_user.get(entry.record.user_id)
        if digests is not None:
            digests.discard(token_hash)
            if not digests:
                del self._by_user[entry.record.user_id]


def _states(user: Any) -> tuple[Any, ...] | None:
    """The SQLAlchemy instance states of a loaded ``user`` and its roles, to watch for changes.

    ``None`` when there is nothing to watch: not an ORM instance (Django), or a
    transient one that is the in-memory store's own record of the user.
    """
    state = getattr(user, "_sa_instance_state", None)
    if state is None or state.key is None:
        return None
    roles = state.dict.get("roles") or ()
    return (state, *(role._sa_instance_state for role in roles))


def _untouched(states: tuple[Any, ...] | None) -> bool:
    """Nobody changed the objects or added them to an ORM session since they were cached."""
    if states is not None:
        for state in states:  # a loop, not any(...): this runs on every cached request
            if state.modified or state.session_id is not None:
                return False
    return True


class Relay(Protocol):
    """Carries what a group forgets to the other processes (see :mod:`authgate.session_bus`)."""

    def publish(self, message: str) -> None:
        """Send ``message`` (made by the group) to the other processes; never raises."""


#: Messages a group relays and receives: what to forget.
_SESSION, _USER, _EVERYTHING = "s:", "u:", "*"


class CacheGroup:
    """The session caches of every ``Auth`` of this process over the same data.

    A write through any of them must be forgotten by all of them, and, when
    relays are attached (Redis, ``redis_url``), by the caches of the other
    processes too. Members and relays are held weakly: an ``Auth`` that is
    gone leaves its group.
    """

    def __init__(self) -> None:
        self._members: weakref.WeakSet[SessionCache] = weakref.WeakSet()
        self._relays: weakref.WeakSet[Relay] = weakref.WeakSet()

    def join(self, cache: SessionCache) -> None:
        """Keep ``cache`` coherent with the writes made through this group."""
        self._members.add(cache)

    def add_relay(self, relay: Relay) -> None:
        """Publish through ``relay`` everything this group forgets from now on."""
        self._relays.add(relay)

    def remove_relay(self, relay: Relay) -> None:
        """Stop publishing through ``relay``."""
        self._relays.discard(relay)

    def forget_session(self, session_id: str) -> None:
        """Forget one session here and in the other processes."""
        self._apply(_SESSION, session_id)
        self._relay(_SESSION + session_id)

    def forget_user(self, user_id: Any) -> None:
        """Forget every session of a user here and in the other processes."""
        self._apply(_USER, str(user_id))
        self._relay(_USER + str(user_id))

    def clear(self) -> None:
        """Forget everything here and in the other processes."""
        self._apply(_EVERYTHING, "")
        self._relay(_EVERYTHING)

    def receive(self, message: str) -> None:
        """Apply what another process forgot (a message :meth:`forget_session` & co. relayed).

        Applied here only, never relayed again. A message this version does not
        know clears everything: forgetting too much is only slower.
        """
        if message.startswith(_SESSION):
            self._apply(_SESSION, message[len(_SESSION) :])
        elif message.startswith(_USER):
            self._apply(_USER, message[len(_USER) :])
        else:
            self._apply(_EVERYTHING, "")

    def _apply(self, kind: str, key: str) -> None:
        for cache in list(self._members):
            if kind == _SESSION:
                cache.forget_session(key)
            elif kind == _USER:
                cache.forget_user(key)
            else:
                cache.clear()

    def _relay(self, message: str) -> None:
        for relay in list(self._relays):
            relay.publish(message)


#: Groups of stores that name their data (``data_key``), while some ``Auth`` uses them.
_GROUPS: weakref.WeakValueDictionary[Hashable, CacheGroup] = weakref.WeakValueDictionary()
#: Groups of stores that do not (the in-memory store): one per store object.
_OBJECT_GROUPS: weakref.WeakKeyDictionary[Any, CacheGroup] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def group_for(store: Any) -> CacheGroup:
    """The group of the caches in front of ``store``'s data.

    Stores that reach the same data say so with an equal ``data_key`` (the
    SQLAlchemy store: the SQLite file or the server and database, however the
    URL spells them; the Django store: the database its alias reaches). A store
    without one (the in-memory store) is its own data: every ``Auth`` built on
    that store object shares its group.
    """
    key = getattr(store, "data_key", None)
    with _GROUPS_LOCK:
        if key is not None:
            group = _GROUPS.get(key)
            if group is None:
                group = _GROUPS[key] = CacheGroup()
            return group
        try:
            group = _OBJECT_GROUPS.get(store)
            if group is None:
                group = _OBJECT_GROUPS[store] = CacheGroup()
        except TypeError:  # neither hashable nor weakly referenceable: its own group
            return CacheGroup()
        return group


class CoherentStore:
    """The store as the flows see it: writes reach the session caches.

    Every write that can change a cached answer forgets the entries it
    concerns, in every cache of the group, once the write has returned or
    failed (it may have committed before failing). Everything else is
    forwarded untouched.

    Args:
        store: the real store.
        caches: the caches to keep coherent.
    """

    def __init__(self, store: Any, caches: CacheGroup) -> None:
        self._store = store
        self._caches = caches

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __repr__(self) -> str:
        return f"<CoherentStore {self._store!r}>"

    # -- users -------------------------------------------------------------------
    def update_user(
        self,
        user_id: Any,
        changes: Mapping[str, Any],
        expect: Mapping[str, Any] | None = None,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        try:
            return self._store.update_user(user_id, changes, expect, outbox=outbox)
        finally:
            self._caches.forget_user(user_id)

    def delete_user(self, user_id: Any, *, outbox: Sequence[Notice] = ()) -> bool:
        try:
            return bool(self._store.delete_user(user_id, outbox=outbox))
        finally:
            self._caches.forget_user(user_id)

    def swap_primary_email(
        self,
        user_id: Any,
        email_id: str,
        expect_stamp: str,
        new_stamp: str,
        *,
        outbox: Sequence[Notice] = (),
    ) -> Any | None:
        try:
            return self._store.swap_primary_email(
                user_id, email_id, expect_stamp, new_stamp, outbox=outbox
            )
        finally:
            self._caches.forget_user(user_id)

    # -- roles -------------------------------------------------------------------
    def add_role_to_user(self, user_id: Any, role_name: str) -> bool:
        try:
            return bool(self._store.add_role_to_user(user_id, role_name))
        finally:
            self._caches.forget_user(user_id)

    def remove_role_from_user(self, user_id: Any, role_name: str) -> bool:
        try:
            return bool(self._store.remove_role_from_user(user_id, role_name))
        finally:
            self._caches.forget_user(user_id)

    def update_role(self, name: str, changes: Mapping[str, Any]) -> Any | None:
        try:
            return self._store.update_role(name, changes)
        finally:
            self._caches.clear()

    def delete_role(self, name: str) -> bool:
        try:
            return bool(self._store.delete_role(name))
        finally:
            self._caches.clear()

    # -- sessions ----------------------------------------------------------------
    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        try:
            return bool(self._store.update_session(session_id, changes))
        finally:
            self._caches.forget_session(session_id)

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        try:
            return bool(self._store.delete_session(session_id, user_id))
        finally:
            self._caches.forget_session(session_id)

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        try:
            return int(self._store.delete_user_sessions(user_id, except_session_id))
        finally:
            self._caches.forget_user(user_id)
