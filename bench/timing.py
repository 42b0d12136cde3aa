"""Timing and bookkeeping shared by the benchmarks: no authgate imports here.

Every measurement is a number of *rounds*; a round times ``calls`` calls in
batches of ``batch`` and keeps the median per-call time of its batches. A
result is the median of the round medians, and its spread is the min-max of
the round medians. Operations measured together take turns batch by batch
(the order reversed at every turn), so that drift and bursts of load (other
processes on the machine, CPU frequency, the database's own background work)
hit every operation alike, and a ratio of two operations can be taken round
by round (:func:`paired_ratio`).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

__all__ = [
    "Plan",
    "Result",
    "StatementCounter",
    "interleaved",
    "load_average",
    "machine_line",
    "package_version",
    "paired_ratio",
]


@dataclass(frozen=True)
class Plan:
    """How much to measure: ``rounds`` rounds of ``calls`` calls timed ``batch`` at a time."""

    rounds: int
    calls: int
    batch: int = 1
    warmup: int = 0


@dataclass
class Result:
    """The per-round median per-call times of one operation, in nanoseconds."""

    rounds: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.rounds) / 1000

    @property
    def low_us(self) -> float:
        return min(self.rounds) / 1000

    @property
    def high_us(self) -> float:
        return max(self.rounds) / 1000

    def text(self) -> str:
        """``median (min–max)`` in µs (no unit written), or in ms (written) when large."""
        if self.median_us >= 10_000:
            return (
                f"{self.median_us / 1000:,.1f} ms "
                f"({self.low_us / 1000:,.1f}–{self.high_us / 1000:,.1f})"
            )
        digits = 2 if self.median_us < 10 else 1
        return (
            f"{self.median_us:,.{digits}f} ({self.low_us:,.{digits}f}–{self.high_us:,.{digits}f})"
        )


def interleaved(tasks: Mapping[str, Callable[[], object]], plan: Plan) -> dict[str, Result]:
    """Measure every task with ``plan``, alternating between the tasks batch by batch.

    Each task is warmed up first (``plan.warmup`` calls). Within a round the
    tasks take turns, one batch each, in an order reversed at every turn, so
    that a burst of load from elsewhere hits every task alike; each round
    keeps, per task, the median per-call time of its batches.
    """
    names = list(tasks)
    functions = [tasks[name] for name in names]
    for fn in functions:
        for _ in range(plan.warmup):
            fn()
    clock = time.perf_counter_ns
    batch = plan.batch
    forward = list(range(len(names)))
    backward = forward[::-1]
    results = {name: Result() for name in names}
    for number in range(plan.rounds):
        samples: list[list[float]] = [[] for _ in names]
        for turn in range(max(1, plan.calls // batch)):
            for index in forward if (number + turn) % 2 == 0 else backward:
                fn = functions[index]
                start = clock()
                for _ in range(batch):
                    fn()
                samples[index].append((clock() - start) / batch)
        for index, name in enumerate(names):
            results[name].rounds.append(statistics.median(samples[index]))
    return results


def paired_ratio(numerator: Result, denominator: Result) -> tuple[float, float, float]:
    """Median, min and max over rounds of ``numerator / denominator`` measured in the same round.

    Both must come from one :func:`interleaved` call, so that round ``r`` of
    each ran under the same conditions.
    """
    ratios = [a / b for a, b in zip(numerator.rounds, denominator.rounds, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def load_average() -> float:
    """The 1-minute load average (``nan`` where unknown)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


class StatementCounter:
    """Counts what one call sends to the database through an SQLAlchemy engine.

    ``statements``: SQL statements that reach a DBAPI cursor, whether SQLAlchemy's
    Core/ORM ran them or code ran them on a raw pooled connection (authgate's
    session lookup does); the pool's pre-ping and the ``ROLLBACK``/``COMMIT``
    that ends each transaction are not in it. ``checkouts`` counts pool
    checkouts, each of which pings a server.
    """

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.statements = 0
        self.checkouts = 0
        #: ``(statement, parameters)`` as handed to the driver, in order.
        self.sql: list[tuple[str, Any]] = []
        self._event = event

    def _on_checkout(self, *args: Any) -> None:
        self.checkouts += 1

    def _counting_raw_connection(self, real: Callable[[], Any]) -> Callable[[], Any]:
        counter = self

        class Cursor:
            def __init__(self, cursor: Any) -> None:
                self._cursor = cursor

            def execute(self, statement: str, parameters: Any = None, *rest: Any) -> Any:
                counter.statements += 1
                counter.sql.append((statement, parameters))
                if parameters is None:
                    return self._cursor.execute(statement)
                return self._cursor.execute(statement, parameters, *rest)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._cursor, name)

        class Connection:
            def __init__(self, connection: Any) -> None:
                self._connection = connection

            def cursor(self, *args: Any, **kwargs: Any) -> Cursor:
                return Cursor(self._connection.cursor(*args, **kwargs))

            def __getattr__(self, name: str) -> Any:
                return getattr(self._connection, name)

        return lambda: Connection(real())

    def count(self, fn: Callable[[], object], calls: int = 10) -> tuple[float, float]:
        """Average ``(statements, checkouts)`` per call of ``fn``."""
        self.statements = self.checkouts = 0
        self.sql.clear()
        real = self.engine.raw_connection
        self.engine.raw_connection = self._counting_raw_connection(real)
        self._event.listen(self.engine.pool, "checkout", self._on_checkout)
        try:
            for _ in range(calls):
                fn()
        finally:
            del self.engine.raw_connection
            self._event.remove(self.engine.pool, "checkout", self._on_checkout)
        return self.statements / calls, self.checkouts / calls


def package_version(name: str) -> str:
    """The installed version of a distribution, or ``"not installed"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(extra: Mapping[str, str] = {}) -> str:
    """One line describing the machine and the software measured."""
    import sqlite3

    parts = [
        f"{_cpu_model()}, {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"SQLAlchemy {package_version('sqlalchemy')}",
        f"psycopg {package_version('psycopg')}",
        f"SQLite {sqlite3.sqlite_version}",
        f"argon2-cffi {package_version('argon2-cffi')}",
        f"authgate {package_version('authgate')}",
        *(f"{key} {value}" for key, value in extra.items()),
        dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    ]
    return " · ".join(parts)
