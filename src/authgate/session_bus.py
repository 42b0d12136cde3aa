"""Session-cache invalidation across processes, over Redis pub/sub (``redis_url``).

Every process keeps verified sessions in memory for ``session_cache_ttl``
seconds (:mod:`authgate.session_cache`). Within a process every write
through authgate forgets what it changes at once; :class:`RedisCacheBus`
does the same across processes:

* **Out:** whatever a process's cache group forgets (one session, every
  session of a user, everything) is published on the channel
  ``<redis_prefix>:invalidate`` right after the write, and the write's call
  returns once every process that received it has confirmed that it applied
  it (each pushes to ``<redis_prefix>:ack:<id>``; ``PUBLISH`` says how many
  received it). So when a sign-out's response leaves one process, no other
  process answers that session from memory any more: the very next request,
  wherever it goes, is refused. Confirmations take about a millisecond; a
  process that does not confirm within ``ACK_TIMEOUT`` seconds (stopped,
  overloaded) is logged and not waited for. A failed publish is logged
  (``authgate.session_cache``) and never turns a committed write into an
  error; the other processes then see the change within the ttl.
* **In:** a daemon thread, started at the first lookup the cache could keep,
  subscribes on its own connection, applies what the other processes
  publish to this process's caches, and confirms it.
* **Fail safe:** pub/sub delivers in order while connected and loses what is
  published while it is not. So the cache keeps nothing until the
  subscription is confirmed, and from the moment the connection is seen to
  fail (closed or reset: at once; silently dead: within
  ``HEARTBEAT + DEAD_AFTER`` seconds, by a PING the server must answer) until
  it is subscribed again; then it starts empty. Meanwhile every lookup asks
  the store, which is Redis itself for sessions: if Redis is down, sessions
  fail closed with 503.

Why pub/sub: it needs nothing on the server (no ``notify-keyspace-events``),
keeps nothing in Redis but the short-lived confirmations, and says "every
session of this user" in one message; a stream would replay missed messages
but must be trimmed, and a process that was away longer than the stream
reaches back would still have to start empty, which is what this does on
every reconnection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
import weakref
from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry

from authgate.session_cache import CacheGroup, SessionCache
from authgate.stores.redis import redis_errors

__all__ = ["ACK_TIMEOUT", "DEAD_AFTER", "HEARTBEAT", "RedisCacheBus"]

log = logging.getLogger("authgate.session_cache")

#: Seconds of silence on the subscription after which the server is pinged.
HEARTBEAT = 0.5
#: Seconds without an answer to that ping after which the connection is taken as dead.
DEAD_AFTER = 1.0
#: Seconds a write waits for the other processes to confirm its invalidation.
ACK_TIMEOUT = 0.5
#: Milliseconds a confirmation nobody waits for any more stays in Redis.
ACK_KEPT_MS = 60_000
#: Waits between attempts to subscribe again (doubling from the first to the second).
RETRY_DELAYS = (0.05, 2.0)

#: What ends a subscription: Redis or the network failing, or a reply that makes no sense.
_SUBSCRIPTION_ERRORS: tuple[type[BaseException], ...] = (*redis_errors, ValueError)

_BUSES: weakref.WeakSet[RedisCacheBus] = weakref.WeakSet()


class RedisCacheBus:
    """Publishes a cache group's forgets and applies the other processes' to it.

    Args:
        client: a ``redis.Redis`` client; publishing and confirming use it, and
            the subscription opens its own connection with the same settings.
        prefix: the ``redis_prefix``: the channel is ``<prefix>:invalidate``.
        group: the caches of this process over the same data.
        cache: this ``Auth``'s cache, kept suspended while the subscription is
            not up (``None``: publish only, nothing to subscribe for).
    """

    def __init__(
        self, client: Any, prefix: str, group: CacheGroup, cache: SessionCache | None
    ) -> None:
        self._client = client
        self.channel = f"{prefix}:invalidate"
        self._acks = f"{prefix}:ack:"
        self._group = group
        self._cache = cache
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Any = None
        self._closed = False
        #: Set while the subscription is confirmed and the cache may keep sessions.
        self.subscribed = threading.Event()
        if cache is not None:
            cache.suspend()
            cache.wake = self.start
        group.add_relay(self)
        _BUSES.add(self)

    def __repr__(self) -> str:
        state = "subscribed" if self.subscribed.is_set() else "not subscribed"
        return f"<RedisCacheBus {self.channel!r} {state}>"

    # -- out -------------------------------------------------------------------------

    def publish(self, message: str) -> None:
        """Tell the other processes to forget ``message``, and wait until they have.

        Never raises: a failure is logged (the other processes then follow
        within ``session_cache_ttl``).
        """
        ack = secrets.token_hex(8)
        try:
            receivers = int(self._client.publish(self.channel, f"{ack} {message}"))
            if receivers:
                self._await(ack, receivers)
        except Exception as exc:  # the write has committed: it must not fail now
            log.error(
                "could not publish a session-cache invalidation (%s); other processes "
                "may answer the changed sessions from memory for up to session_cache_ttl "
                "seconds",
                type(exc).__name__,
                exc_info=exc,
            )

    def _await(self, ack: str, receivers: int) -> None:
        """Wait for ``receivers`` confirmations of ``ack``, up to :data:`ACK_TIMEOUT` s."""
        key = self._acks + ack
        deadline = time.monotonic() + ACK_TIMEOUT
        confirmed = 0
        while confirmed < receivers:
            left = deadline - time.monotonic()
            if left <= 0 or self._client.blpop([key], timeout=max(left, 0.001)) is None:
                log.warning(
                    "%d of %d processes did not confirm a session-cache invalidation within "
                    "%s s; they may answer the changed sessions from memory until they "
                    "apply it (at most session_cache_ttl seconds)",
                    receivers - confirmed, receivers, ACK_TIMEOUT,
                )  # fmt: skip
                return
            confirmed += 1

    # -- in --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the subscriber thread if it is not running (cheap when it is)."""
        if self._thread is None and not self._closed:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="authgate-session-bus", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the subscriber (waiting up to ``timeout`` s) and stop publishing.

        The cache stays suspended: with nobody to tell it what other processes
        change, it keeps nothing.
        """
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            self._stop.set()
            self._interrupt()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._group.remove_relay(self)
        if self._cache is not None:
            self._cache.wake = None
            self._cache.suspend()

    def _interrupt(self) -> None:
        """Wake the subscriber from its wait on the socket (the lock is held)."""
        sock = getattr(self._connection, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _run(self, stop: threading.Event) -> None:
        delay, longest = RETRY_DELAYS
        outage = False
        while not stop.is_set():
            connection = None
            try:
                connection = self._subscribe()
                with self._lock:
                    if stop.is_set():
                        break
                    self._connection = connection
                if self._cache is not None:
                    self._cache.resume()
                self.subscribed.set()
                if outage:
                    log.warning("session-cache invalidations received again; cache back on")
                    outage = False
                delay = RETRY_DELAYS[0]
                self._listen(connection, stop)
            except Exception as exc:  # whatever it is, the cache must not stay on without us
                if stop.is_set():
                    break
                self._down()
                if not outage:
                    log.warning(
                        "session-cache invalidations from other processes cannot be received "
                        "(%s); until they can, this process answers every session from the store",
                        type(exc).__name__,
                        exc_info=not isinstance(exc, _SUBSCRIPTION_ERRORS),
                    )
                    outage = True
            finally:
                self._down()
                with self._lock:
                    self._connection = None
                if connection is not None:
                    connection.disconnect()
            stop.wait(delay)
            delay = min(delay * 2, longest)

    def _down(self) -> None:
        self.subscribed.clear()
        if self._cache is not None:
            self._cache.suspend()

    def _subscribe(self) -> Any:
        """A new connection (the client's settings, no retries) subscribed to the channel."""
        pool = self._client.connection_pool
        # RESP2, no retries, none of the pool's maintenance-notification hooks
        # (they need RESP3): a plain connection whose failures reach us.
        options = {
            key: value
            for key, value in pool.connection_kwargs.items()
            if not key.startswith(("maint_notifications", "orig_"))
        }
        options.update(retry=Retry(NoBackoff(), 0), health_check_interval=0, protocol=2)
        options["socket_timeout"] = options.get("socket_timeout") or 5
        options["socket_connect_timeout"] = options.get("socket_connect_timeout") or 2
        connection = pool.connection_class(**options)
        try:
            connection.connect()
            connection.send_command("SUBSCRIBE", self.channel)
            reply = connection.read_response()
            if not reply or _text(reply[0]) != "subscribe":
                raise ValueError("unexpected answer to SUBSCRIBE")
        except BaseException:
            connection.disconnect()
            raise
        return connection

    def _listen(self, connection: Any, stop: threading.Event) -> None:
        """Apply messages until ``stop``; raise when the connection fails."""
        pinged_at: float | None = None
        while not stop.is_set():
            if connection.can_read(timeout=HEARTBEAT):
                reply = connection.read_response()
                pinged_at = None  # anything received proves the connection
                if _text(reply[0]) == "message":
                    self._apply(_text(reply[2]))
                continue
            now = time.monotonic()
            if pinged_at is None:
                connection.send_command("PING")
                pinged_at = now
            elif now - pinged_at >= DEAD_AFTER:
                raise TimeoutError("no answer to the heartbeat")

    def _apply(self, text: str) -> None:
        """Forget what a message says, then confirm it to its sender."""
        ack, _, message = text.partition(" ")
        self._group.receive(message)
        key = self._acks + ack
        pipe = self._client.pipeline(transaction=False)
        pipe.rpush(key, 1)
        pipe.pexpire(key, ACK_KEPT_MS)
        pipe.execute()

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread and connection are not ours."""
        self._lock = threading.Lock()
        self._thread = None
        self._connection = None
        self.subscribed = threading.Event()
        if self._cache is not None:
            self._cache.after_fork()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _after_fork_in_child() -> None:
    for bus in list(_BUSES):
        bus._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
