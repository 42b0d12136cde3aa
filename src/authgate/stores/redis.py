"""Sessions in Redis: the :class:`~authgate.stores.base.SessionStore` behind ``redis_url``.

With several app processes or hosts, sessions live in Redis while users,
roles and used-link claims stay in the main store (single-use claims must
stay durable: a flushed Redis must never let a used link work again).

Redis holds an **allowlist**: a session exists while its key does. A flush,
a restart without persistence or an evicted key signs people out; nothing
can bring a revoked session back, since revoking deletes the key and no
list of revoked tokens is kept anywhere. The security stamp kept in each
session is still compared with the user's (R7), so a credential change ends
every session even if Redis missed a delete.

Layout, under the ``redis_prefix`` ``P`` (default ``authgate``):

* ``P:session:<token digest>`` — a hash: the session record. It expires with
  the session (the TTL is the time left until its absolute expiry, by the
  app's clock, so a skewed Redis clock changes nothing).
* ``P:sid:<session id>`` — the token digest, with the same TTL: revocation by id.
* ``P:user:<user id>`` — a sorted set of the user's session ids by creation
  time (listing, "sign out everywhere"); it lives as long as the user's
  longest session, and ids whose session has gone are dropped when listed.
* ``P:refresh:<token digest>`` — a hash: one refresh token
  (:class:`RedisRefreshTokenStore`), until it would expire (a retired one
  too, so that its reuse is recognised); ``P:family:<session id>`` — the set
  of its family's digests (ending a family).

Keys are built only from digests and ids authgate made, under the prefix:
a presented token is hashed (SHA-256) before any lookup, so no raw input
ever names a key (SECURITY #50, fastapi-users #1043). Every change is one
Lua script or one ``WATCH``/``MULTI`` transaction: atomic, like a SQL
transaction. Any Redis failure is
:class:`~authgate.errors.ServiceUnavailable` (503): a session check fails
closed, never open.

Redis must not evict keys it was not told to expire: configure
``maxmemory-policy noeviction`` (Redis refuses writes when full: sign-ins
fail with 503) or a ``volatile-*`` policy (Redis may evict sessions: those
users are signed out; or a user's index, whose sessions then no longer show
in their list nor end with "sign out other sessions" — a password change
still ends them, through the stamp). Redis 6 or later; Redis Cluster is not
supported (the scripts touch keys they compute); a single server, or one
with replicas and Sentinel, is.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'Redis support needs the redis package; run `pip install "authgate[redis]"`'
    ) from exc

from authgate.errors import ValidationError
from authgate.models import RefreshTokenRecord, SessionRecord, utcnow
from authgate.ratelimit import REDIS_POOL_SIZE, REDIS_POOL_WAIT
from authgate.stores._common import unavailable
from authgate.stores.base import UserStore

__all__ = ["RedisRefreshTokenStore", "RedisSessionStore", "connect", "redis_errors"]

T = TypeVar("T")

#: What a failing Redis raises: mapped to ``ServiceUnavailable``.
redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

#: Session fields that can be changed by :meth:`RedisSessionStore.update_session`.
_FIELDS = frozenset(
    ("token_hash", "user_id", "created_at", "last_seen_at", "expires_at", "authenticated_at",
     "security_stamp", "remember", "ip", "user_agent", "data")
)  # fmt: skip
_TIMES = ("created_at", "last_seen_at", "expires_at", "authenticated_at")

# Every script receives the key prefix as ARGV[1] and builds its keys from it.

#: Store a whole session: ARGV = prefix, ttl ms, old token digest ('' if new),
#: old user id ('' if new), score (created_at, µs), then field/value pairs.
_PUT = """
local p, ttl = ARGV[1], tonumber(ARGV[2])
local f = {}
for i = 6, #ARGV, 2 do f[ARGV[i]] = ARGV[i + 1] end
if ARGV[3] ~= '' and ARGV[3] ~= f.token_hash then
  redis.call('DEL', p .. ':session:' .. ARGV[3])
end
if ARGV[4] ~= '' and ARGV[4] ~= f.user_id then
  redis.call('ZREM', p .. ':user:' .. ARGV[4], f.id)
end
local key = p .. ':session:' .. f.token_hash
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 6))
redis.call('PEXPIRE', key, ttl)
redis.call('SET', p .. ':sid:' .. f.id, f.token_hash, 'PX', ttl)
local index = p .. ':user:' .. f.user_id
redis.call('ZADD', index, ARGV[5], f.id)
if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
return 1
"""

#: Record activity: ARGV = prefix, session id, last_seen_at.
_TOUCH = """
local th = redis.call('GET', ARGV[1] .. ':sid:' .. ARGV[2])
if not th then return 0 end
local key = ARGV[1] .. ':session:' .. th
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'last_seen_at', ARGV[3])
return 1
"""

#: Delete one session: ARGV = prefix, session id, owner's user id ('' for any).
_DELETE = """
local p = ARGV[1]
local sid = p .. ':sid:' .. ARGV[2]
local th = redis.call('GET', sid)
if not th then return 0 end
local key = p .. ':session:' .. th
local owner = redis.call('HGET', key, 'user_id')
if not owner then
  redis.call('DEL', sid)
  return 0
end
if ARGV[3] ~= '' and ARGV[3] ~= owner then return 0 end
redis.call('DEL', key, sid)
redis.call('ZREM', p .. ':user:' .. owner, ARGV[2])
return 1
"""

#: Delete a user's sessions: ARGV = prefix, user id, session id to keep ('' for none).
_DELETE_USER = """
local p = ARGV[1]
local index = p .. ':user:' .. ARGV[2]
local deleted = 0
for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  if id ~= ARGV[3] then
    local sid = p .. ':sid:' .. id
    local th = redis.call('GET', sid)
    if th then deleted = deleted + redis.call('DEL', p .. ':session:' .. th) end
    redis.call('DEL', sid)
    redis.call('ZREM', index, id)
  end
end
return deleted
"""

#: A user's sessions, newest first, as flat hashes: ARGV = prefix, user id.
_LIST = """
local p = ARGV[1]
local index = p .. ':user:' .. ARGV[2]
local found = {}
for _, id in ipairs(redis.call('ZREVRANGE', index, 0, -1)) do
  local th = redis.call('GET', p .. ':sid:' .. id)
  local fields = {}
  if th then fields = redis.call('HGETALL', p .. ':session:' .. th) end
  if #fields > 0 then
    found[#found + 1] = fields
  else
    redis.call('ZREM', index, id)
  end
end
return found
"""


def connect(url: str) -> Any:
    """A ``redis.Redis`` client for ``url`` with authgate's connection settings.

    Replies are decoded as text. At most :data:`~authgate.ratelimit.REDIS_POOL_SIZE`
    connections are open at once (more requests wait for one). Connections
    time out after 2 s (connect) and 5 s (reads), and a dropped pooled
    connection is retried once at once, so a session check with Redis down fails with a 503 within
    seconds, not minutes. Options in the URL's query
    (``?socket_timeout=1``) win.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        # A burst of requests waits for a connection instead of failing: redis-py's
        # default pool refuses past its maximum, a 503 while Redis is fine.
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT,
    )
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # type: ignore[attr-defined]  # close() closes the pool
    return client


def _text(value: Any) -> str:
    """A reply as text, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch (the index score of a session)."""
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(
        microseconds=1
    )


def _encode(record: SessionRecord) -> list[str]:
    """The record as field/value pairs (``None`` values are left out)."""
    pairs = [
        "id", record.id,
        "token_hash", record.token_hash,
        "user_id", str(record.user_id),
        "security_stamp", record.security_stamp,
        "remember", "1" if record.remember else "0",
        "data", json.dumps(record.data or {}, separators=(",", ":")),
    ]  # fmt: skip
    for name in _TIMES:
        pairs += [name, getattr(record, name).isoformat()]
    for name in ("ip", "user_agent"):
        value = getattr(record, name)
        if value is not None:
            pairs += [name, value]
    return pairs


def _decode(raw: Mapping[Any, Any] | list[Any]) -> SessionRecord:
    """A record from ``HGETALL`` (a mapping, or a flat list from a script)."""
    if isinstance(raw, list):
        raw = dict(zip(raw[::2], raw[1::2], strict=True))
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return SessionRecord(
        id=fields["id"],
        token_hash=fields["token_hash"],
        user_id=fields["user_id"],
        created_at=dt.datetime.fromisoformat(fields["created_at"]),
        last_seen_at=dt.datetime.fromisoformat(fields["last_seen_at"]),
        expires_at=dt.datetime.fromisoformat(fields["expires_at"]),
        authenticated_at=dt.datetime.fromisoformat(fields["authenticated_at"]),
        security_stamp=fields["security_stamp"],
        remember=fields.get("remember") == "1",
        ip=fields.get("ip"),
        user_agent=fields.get("user_agent"),
        data=json.loads(fields.get("data") or "{}"),
    )


class RedisSessionStore:
    """Server-side sessions in Redis, with their users from the main store.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL (a client is made
            with :func:`connect` and closed by :meth:`close`), or a ready
            ``redis.Redis`` client (yours to close; replies may be bytes or text).
        users: where :meth:`get_session` finds the session's user.
        prefix: the key prefix (``redis_prefix``).
        clock: the app's clock (aware UTC), from which the TTLs are reckoned.

    Examples:
        >>> from authgate.stores import MemoryStore
        >>> store = RedisSessionStore("redis://127.0.0.1:6379/15", MemoryStore())  # doctest: +SKIP
        >>> store.get_session("0" * 64) is None  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        redis: str | Any,
        users: UserStore,
        *,
        prefix: str = "authgate",
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._owns_client = isinstance(redis, str)
        self.client: Any = connect(redis) if isinstance(redis, str) else redis
        self.users = users
        #: How a session's user is loaded: the main store's fast path when it has
        #: one (the SQLAlchemy store's ``get_session_user``), else ``get_user``.
        self._user_of: Callable[[Any], Any | None] = getattr(
            users, "get_session_user", users.get_user
        )
        self.prefix = prefix
        self._clock = clock
        self._session_prefix = f"{prefix}:session:"
        self._put = self.client.register_script(_PUT)
        self._touch = self.client.register_script(_TOUCH)
        self._delete = self.client.register_script(_DELETE)
        self._delete_user = self.client.register_script(_DELETE_USER)
        self._list = self.client.register_script(_LIST)

    def __repr__(self) -> str:
        return f"<RedisSessionStore prefix={self.prefix!r}>"

    def close(self) -> None:
        """Close the client if this store made it (from a URL)."""
        if self._owns_client:
            self.client.close()

    def _call(self, work: Callable[[], T]) -> T:
        """Run ``work``; a Redis failure becomes ``ServiceUnavailable`` (logged once)."""
        try:
            return work()
        except redis_errors as exc:
            raise unavailable(exc) from None

    def _ttl_ms(self, expires_at: dt.datetime) -> int:
        return int((expires_at - self._clock()).total_seconds() * 1000)

    def _put_args(self, record: SessionRecord, ttl_ms: int, old: SessionRecord | None) -> list[Any]:
        return [
            self.prefix, ttl_ms,
            "" if old is None else old.token_hash, "" if old is None else old.user_id,
            _micros(record.created_at), *_encode(record),
        ]  # fmt: skip

    # -- the SessionStore protocol ------------------------------------------------

    def create_session(self, record: SessionRecord) -> None:
        """Store a new session until its absolute expiry (an expired one is not kept)."""
        ttl_ms = self._ttl_ms(record.expires_at)
        if ttl_ms <= 0:
            return
        args = self._put_args(record, ttl_ms, None)
        self._call(lambda: self._put(args=args))

    def get_session(self, token_hash: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this token digest and its user from the main store.

        One ``HGETALL`` of a key made of the prefix and the digest, then the
        user's lookup in the main store.
        """
        key = self._session_prefix + token_hash
        raw = self._call(lambda: self.client.hgetall(key))
        if not raw:
            return None
        record = _decode(raw)
        return record, self._user_of(record.user_id)

    def get_session_by_id(self, session_id: str) -> tuple[SessionRecord, Any | None] | None:
        """The session with this id (its ``sid`` key, then its hash) and its user."""
        sid = f"{self.prefix}:sid:{session_id}"

        def read() -> Any:
            token_hash = self.client.get(sid)
            if token_hash is None:
                return None
            return self.client.hgetall(self._session_prefix + _text(token_hash))

        raw = self._call(read)
        if not raw:
            return None
        record = _decode(raw)
        return record, self._user_of(record.user_id)

    def touch_session(self, session_id: str, last_seen_at: dt.datetime) -> None:
        """Record activity."""
        args = [self.prefix, session_id, last_seen_at.isoformat()]
        self._call(lambda: self._touch(args=args))

    def update_session(self, session_id: str, changes: Mapping[str, Any]) -> bool:
        """Change fields of a session in one ``WATCH``/``MULTI`` transaction.

        Raises:
            ValidationError: a name is not a session field (``unknown_field``).
        """
        unknown = {name: "unknown_field" for name in changes if name not in _FIELDS}
        if unknown:
            raise ValidationError(fields=unknown)
        sid = f"{self.prefix}:sid:{session_id}"

        def work(pipe: Any) -> bool:
            token_hash = pipe.get(sid)
            if token_hash is None:
                return False
            key = self._session_prefix + _text(token_hash)
            pipe.watch(key)
            raw = pipe.hgetall(key)
            if not raw:
                return False
            old = _decode(raw)
            new = dataclasses.replace(old, **copy.deepcopy(dict(changes)))
            new.user_id = str(new.user_id)
            ttl_ms = self._ttl_ms(new.expires_at)
            pipe.multi()
            if ttl_ms <= 0:
                pipe.eval(_DELETE, 0, self.prefix, session_id, "")
            else:
                pipe.eval(_PUT, 0, *self._put_args(new, ttl_ms, old))
            return True

        return bool(
            self._call(lambda: self.client.transaction(work, sid, value_from_callable=True))
        )

    def list_sessions(self, user_id: Any) -> list[SessionRecord]:
        """The user's sessions, newest first (sessions Redis expired are left out)."""
        args = [self.prefix, str(user_id)]
        return [_decode(raw) for raw in self._call(lambda: self._list(args=args))]

    def delete_session(self, session_id: str, user_id: Any | None = None) -> bool:
        """Delete one session; with ``user_id``, only if it belongs to that user."""
        args = [self.prefix, session_id, "" if user_id is None else str(user_id)]
        return bool(self._call(lambda: self._delete(args=args)))

    def delete_user_sessions(self, user_id: Any, except_session_id: str | None = None) -> int:
        """Delete every session of the user but ``except_session_id``; returns how many."""
        args = [self.prefix, str(user_id), except_session_id or ""]
        return int(self._call(lambda: self._delete_user(args=args)))

    def purge_expired_sessions(self, now: dt.datetime) -> int:
        """Nothing to do: Redis removes each session at its absolute expiry. Returns 0."""
        return 0


#: Retire a refresh token and store its successor: ARGV = prefix, old digest,
#: used_at, now (µs since the epoch), new digest, ttl ms of the new one, session
#: id, then the new token's field/value pairs. 1 for the one caller that
#: retired it; 0 (nothing written) when it is gone, retired or expired at now.
_ROTATE = """
local p = ARGV[1]
local old = p .. ':refresh:' .. ARGV[2]
local expires = redis.call('HGET', old, 'exp_us')
if not expires or redis.call('HEXISTS', old, 'used_at') == 1 then return 0 end
if tonumber(expires) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', old, 'used_at', ARGV[3])
local key = p .. ':refresh:' .. ARGV[5]
local ttl = tonumber(ARGV[6])
redis.call('HSET', key, unpack(ARGV, 8))
redis.call('PEXPIRE', key, ttl)
local family = p .. ':family:' .. ARGV[7]
redis.call('SADD', family, ARGV[5])
if redis.call('PTTL', family) < ttl then redis.call('PEXPIRE', family, ttl) end
return 1
"""

#: Store a family's first token: ARGV = prefix, digest, ttl ms, session id, pairs.
_ADD = """
local p = ARGV[1]
local key = p .. ':refresh:' .. ARGV[2]
local ttl = tonumber(ARGV[3])
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 5))
redis.call('PEXPIRE', key, ttl)
local family = p .. ':family:' .. ARGV[4]
redis.call('SADD', family, ARGV[2])
if redis.call('PTTL', family) < ttl then redis.call('PEXPIRE', family, ttl) end
return 1
"""

#: End a family: ARGV = prefix, session id. Returns how many tokens went.
_END_FAMILY = """
local p = ARGV[1]
local family = p .. ':family:' .. ARGV[2]
local deleted = 0
for _, digest in ipairs(redis.call('SMEMBERS', family)) do
  deleted = deleted + redis.call('DEL', p .. ':refresh:' .. digest)
end
redis.call('DEL', family)
return deleted
"""


def _refresh_pairs(record: RefreshTokenRecord) -> list[str]:
    pairs = [
        "session_id", record.session_id,
        "user_id", str(record.user_id),
        "created_at", record.created_at.isoformat(),
        "expires_at", record.expires_at.isoformat(),
        "exp_us", str(_micros(record.expires_at)),
    ]  # fmt: skip
    if record.used_at is not None:
        pairs += ["used_at", record.used_at.isoformat()]
    return pairs


class RedisRefreshTokenStore:
    """Refresh tokens in Redis, next to the sessions they belong to (``redis_url``).

    An allowlist like the sessions: a token exists while its key does, so a
    flush or an eviction ends families and can never revive one. A rotation
    is one Lua script (retire, store the successor), so of concurrent
    refreshes with one token exactly one wins.

    Args:
        redis: a ``redis.Redis`` client (the sessions' own).
        prefix: the key prefix (``redis_prefix``).
        clock: the app's clock, from which the TTLs are reckoned.
    """

    def __init__(
        self, redis: Any, *, prefix: str = "authgate", clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.client = redis
        self.prefix = prefix
        self._clock = clock
        self._key_prefix = f"{prefix}:refresh:"
        self._rotate = self.client.register_script(_ROTATE)
        self._add = self.client.register_script(_ADD)
        self._end = self.client.register_script(_END_FAMILY)

    def __repr__(self) -> str:
        return f"<RedisRefreshTokenStore prefix={self.prefix!r}>"

    def _call(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except redis_errors as exc:
            raise unavailable(exc) from None

    def _ttl_ms(self, expires_at: dt.datetime) -> int:
        return int((expires_at - self._clock()).total_seconds() * 1000)

    def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        """Store a family's first token until it expires."""
        ttl = self._ttl_ms(record.expires_at)
        if ttl <= 0:
            return
        args = [self.prefix, record.token_hash, ttl, record.session_id, *_refresh_pairs(record)]
        self._call(lambda: self._add(args=args))

    def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        """One ``HGETALL`` of a key made of the prefix and the digest."""
        raw = self._call(lambda: self.client.hgetall(self._key_prefix + token_hash))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        used = fields.get("used_at")
        return RefreshTokenRecord(
            token_hash=token_hash,
            session_id=fields["session_id"],
            user_id=fields["user_id"],
            created_at=dt.datetime.fromisoformat(fields["created_at"]),
            expires_at=dt.datetime.fromisoformat(fields["expires_at"]),
            used_at=None if used is None else dt.datetime.fromisoformat(used),
        )

    def rotate_refresh_token(
        self, token_hash: str, new: RefreshTokenRecord, now: dt.datetime
    ) -> bool:
        """Retire ``token_hash`` and store ``new`` in one script; one caller wins."""
        ttl = self._ttl_ms(new.expires_at)
        if ttl <= 0:
            return False
        args = [
            self.prefix, token_hash, now.isoformat(), _micros(now), new.token_hash, ttl,
            new.session_id, *_refresh_pairs(new),
        ]  # fmt: skip
        return bool(self._call(lambda: self._rotate(args=args)))

    def delete_refresh_tokens(self, session_id: str) -> int:
        """Delete every token of a family; returns how many."""
        return int(self._call(lambda: self._end(args=[self.prefix, session_id])))

    def purge_refresh_tokens(self, now: dt.datetime) -> int:
        """Nothing to do: Redis removes each token when it expires. Returns 0."""
        return 0
