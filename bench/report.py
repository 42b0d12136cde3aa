"""Turn measurements into ``RESULTS.md`` (and the same text on stdout)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from diagnosis import (
    ANATOMY_BASELINE,
    ANATOMY_CORE,
    ANATOMY_CORE_ROLES,
    ANATOMY_FULL,
    ANATOMY_JOINED,
    ANATOMY_SELECTIN,
    ANATOMY_STORE,
    NESTED_JOINEDLOAD,
)
from timing import Plan, Result, paired_ratio
from webreport import results_section

__all__ = ["BASELINE_LIMIT", "SCALING_LIMIT", "BackendRun", "Run", "render"]

#: get_session with many users may cost at most this times what it costs with one.
SCALING_LIMIT = 1.2
#: get_session may cost at most this times a bare primary-key lookup (SQL engines).
BASELINE_LIMIT = 3.0

OPERATIONS = ("sign_in", "get_session", "get_session_cached", "verify_token", "baseline")


@dataclass
class BackendRun:
    """Everything measured on one backend."""

    name: str
    counts: list[int] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    #: ``(operation, users)`` -> per-round medians.
    results: dict[tuple[str, int], Result] = field(default_factory=dict)
    #: operation -> (SQL statements, pool checkouts) per call.
    statements: dict[str, tuple[float, float]] = field(default_factory=dict)
    anatomy_users: int = 0
    anatomy: dict[str, Result] = field(default_factory=dict)
    anatomy_statements: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: ``(statement, plan lines)`` of each statement of one get_session.
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    #: The ORM query with ``joinedload(User.roles)``, timed apart with few calls.
    nested: Result | None = None
    #: Query plans of other variants, by variant name.
    variant_plans: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    seconds: float = 0.0
    #: 1-minute load average when the backend's measurements started and ended.
    load: tuple[float, float] = (0.0, 0.0)
    skipped: str | None = None

    @property
    def is_sql(self) -> bool:
        return self.name != "memory"

    def scaling(self, operation: str) -> tuple[float, float, float]:
        """Many users ÷ 1 user, round by round: (median, min, max)."""
        low, high = min(self.counts), max(self.counts)
        return paired_ratio(self.results[operation, high], self.results[operation, low])

    def over_baseline(self, users: int) -> tuple[float, float, float]:
        """get_session ÷ the bare lookup, round by round: (median, min, max)."""
        return paired_ratio(self.results["get_session", users], self.results["baseline", users])


def _ratio(ratio: tuple[float, float, float]) -> str:
    median, low, high = ratio
    digits = 0 if median >= 100 else 2
    return f"{median:,.{digits}f}× ({low:,.{digits}f}–{high:,.{digits}f})"


@dataclass
class Run:
    """The whole run."""

    machine: str
    quick: bool
    session_plan: Plan
    sign_in_plan: Plan
    anatomy_plan: Plan
    hash_result: Result
    hash_parameters: str
    backends: list[BackendRun]
    seconds: float = 0.0


def _users(count: int) -> str:
    return f"{count:,} user" + ("" if count == 1 else "s")


def _with_unit(result: Result) -> str:
    return result.text() + ("" if result.median_us >= 10_000 else " µs")


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _label(backend: BackendRun, operation: str) -> str:
    if operation == "get_session":
        return "`get_session` from the store (`session_cache_ttl=0`)"
    if operation == "get_session_cached":
        return "`get_session` from the session cache (the default)"
    if operation == "baseline":
        if backend.is_sql:
            return "bare PK lookup (Core, checkout + execute + fetchone)"
        return "bare lookup by id (dict)"
    return f"`{operation}`"


def _verdict_rows(run: Run) -> list[str]:
    measured = [b for b in run.backends if b.skipped is None]
    if not measured:
        return []
    counts = measured[0].counts
    low, high = min(counts), max(counts)
    rows = [
        f"| backend | `get_session` {_users(high)} ÷ {_users(low)} ≤ {SCALING_LIMIT}× "
        f"| `get_session` ÷ bare PK lookup ≤ {BASELINE_LIMIT:g}× ({_users(low)}) "
        f"| same ({_users(high)}) |",
        "|---|---|---|---|",
    ]
    for b in run.backends:
        if b.skipped is not None:
            rows.append(f"| {b.name} | skipped: {b.skipped} | | |")
            continue
        scaling = b.scaling("get_session")
        cells = [f"{_verdict(scaling[0] <= SCALING_LIMIT)} {_ratio(scaling)}"]
        for count in (low, high):
            ratio = b.over_baseline(count)
            if b.is_sql:
                cells.append(f"{_verdict(ratio[0] <= BASELINE_LIMIT)} {_ratio(ratio)}")
            else:
                cells.append(f"n/a, informational: {_ratio(ratio)} a dict lookup")
        rows.append(f"| {b.name} | " + " | ".join(cells) + " |")
    return rows


def _backend_section(run: Run, b: BackendRun) -> list[str]:
    lines = [f"## {b.name}", ""]
    if b.skipped is not None:
        return [*lines, f"Skipped: {b.skipped}", ""]
    notes = {
        **b.notes,
        "load average (1 min) at start / end": f"{b.load[0]:.1f} / {b.load[1]:.1f}",
        "time": f"{b.seconds:.0f} s with loading",
    }
    lines += [" · ".join(f"{k}: {v}" for k, v in notes.items()), ""]
    low, high = min(b.counts), max(b.counts)
    lines += [
        f"| operation | {_users(low)}: median µs (min–max) "
        f"| {_users(high)}: median µs (min–max) | {high:,} ÷ 1 (min–max) |",
        "|---|---|---|---|",
    ]
    for operation in OPERATIONS:
        cells = [b.results[operation, count].text() for count in (low, high)]
        lines.append(
            f"| {_label(b, operation)} | {cells[0]} | {cells[1]} | {_ratio(b.scaling(operation))} |"
        )
    lines.append(
        f"| **`get_session` ÷ bare lookup** | {_ratio(b.over_baseline(low))} "
        f"| {_ratio(b.over_baseline(high))} | |"
    )
    lines.append("")
    if b.statements:
        parts = [
            f"`{op}` {stmts:g} statement{'s' if stmts != 1 else ''}, {checkouts:g} checkout"
            for op, (stmts, checkouts) in b.statements.items()
        ]
        lines += [
            "SQL per call (statements run by SQLAlchemy; each checkout also pings "
            "the server, and each transaction ends with a ROLLBACK or COMMIT): "
            + "; ".join(parts)
            + ".",
            "",
        ]
    return lines


def _plan_lines(plans: list[tuple[str, list[str]]]) -> list[str]:
    lines: list[str] = []
    for statement, plan in plans:
        short = " ".join(statement.split())
        if len(short) > 160:
            short = short[:90] + " … " + short[-65:]
        lines += [f"- `{short}`", "", "  ```", *[f"  {p}" for p in plan], "  ```", ""]
    return lines


def _anatomy_section(b: BackendRun) -> list[str]:
    if not b.anatomy:
        return []
    base = b.anatomy[ANATOMY_BASELINE].median_us
    lines = [
        f"### {b.name}: what one `get_session` costs ({_users(b.anatomy_users)})",
        "",
        "| variant | median µs (min–max) | ÷ bare PK | statements + checkouts per call |",
        "|---|---|---|---|",
    ]
    rows = list(b.anatomy.items())
    if b.nested is not None:
        rows.append((NESTED_JOINEDLOAD + " †", b.nested))
    for name, result in rows:
        stmts, checkouts = b.anatomy_statements.get(name.rstrip(" †"), (0.0, 0.0))
        lines.append(
            f"| {name} | {result.text()} | {result.median_us / base:.2f}× "
            f"| {stmts:g} + {checkouts:g} |"
        )
    a = {name: result.median_us for name, result in b.anatomy.items()}
    flow = a[ANATOMY_FULL] - a[ANATOMY_STORE]
    rebuild = a[ANATOMY_STORE] - a[ANATOMY_SELECTIN]
    selectin = a[ANATOMY_SELECTIN] - a[ANATOMY_JOINED]
    orm = a[ANATOMY_JOINED] - a[ANATOMY_CORE]
    second = a[ANATOMY_CORE_ROLES] - a[ANATOMY_CORE]
    estimate = a[ANATOMY_JOINED] + flow
    lines += [
        "",
        "† timed apart with few calls (it can be slow); see its query plan below.",
        "",
        "Differences between rows (µs per call):",
        "",
        f"- the flow on top of the store (token digest, checks, `SessionInfo`): {flow:,.0f}",
        f"- building the statement on every call and turning the row into a "
        f"`SessionRecord`: {rebuild:,.0f}",
        f"- roles by a second, `selectin`, query rather than flat LEFT JOINs in the same "
        f"statement: {selectin:,.0f} (the same second query in plain Core costs {second:,.0f})",
        f"- the ORM (Session, identity map, instances) and the two extra joined tables, over "
        f"one Core row of sessions⋈users: {orm:,.0f}",
        f"- estimate for `get_session` with the statement built once and roles joined in "
        f"flat: {estimate:,.0f} µs = {estimate / base:.1f}× the bare PK lookup",
        "",
        "Query plans of the statements of one `get_session` as it is:",
        "",
        *_plan_lines(b.plans),
    ]
    for name, plans in b.variant_plans.items():
        lines += [f"Query plan of: {name}:", "", *_plan_lines(plans)]
    return lines


def render(run: Run) -> str:
    """The whole report as Markdown."""
    s, si, an = run.session_plan, run.sign_in_plan, run.anatomy_plan
    measured = [b for b in run.backends if b.skipped is None]
    high = max(measured[0].counts) if measured else 0
    lines = [
        "# authgate benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`"
        + (" --quick, a smoke run: few iterations, small tables" if run.quick else "")
        + f") in {run.seconds / 60:.1f} min. Rerun it rather than editing this file.",
        "",
        f"**Machine:** {run.machine}",
        "",
        "## Method",
        "",
        f"- Each store is prepared twice, with 1 user and with {high:,} users in the user "
        "table; every user holds one role (a row in the link table) and every bulk-loaded "
        "user one live session, so the session table is full too. The known user is "
        "signed in once and its token is looked up. PostgreSQL: database "
        "`authgate_bench`, one schema per table size, `VACUUM ANALYZE` after loading. "
        "SQLite: one file per table size.",
        "- Settings: production defaults (argon2id, `trackable` on, session timeouts) "
        "except `throttle_sign_in=False`, so repeated sign-ins are not rate limited.",
        f"- `get_session`, `verify_token` and the bare lookup: {s.rounds} rounds × "
        f"{s.calls:,} calls (timed {s.batch} calls at a time, {s.warmup} warm-up calls "
        f"first). `sign_in`: {si.rounds} rounds × {si.calls} calls, each timed alone. "
        "A cell is the median over rounds of each round's median per-call time, in µs, "
        "with the min–max of the round medians as the spread. The operations and both "
        "table sizes take turns batch by batch within each round (order reversed at "
        "every turn), so load from other processes hits them alike; a ratio is taken "
        "round by round (same round, same conditions) and reported as the median "
        "(min–max) of those per-round ratios. The garbage collector stays on, as in "
        "production.",
        "- Bare PK lookup: SQLAlchemy Core `select(users).where(users.c.id == :id)`, "
        "run through a connection checked out from the store's own engine (checkout "
        "with its pre-ping + execute + `fetchone()`; the connection's ROLLBACK on "
        "return included). Memory store: a dict lookup of the user by id.",
        f"- `sign_in` uses the default (production) argon2id parameters "
        f"({run.hash_parameters}) and is dominated by the hash: one argon2id "
        f"verification alone takes {_with_unit(run.hash_result)} here.",
        f"- Diagnosis rows: {an.rounds} rounds × {an.calls:,} calls, on the larger table, "
        "through the store's engine and tables (nothing in the store is changed).",
        "",
        "## Verdicts: is `get_session` one indexed lookup?",
        "",
        *_verdict_rows(run),
        "",
    ]
    for b in run.backends:
        lines += _backend_section(run, b)
    diagnosis = [line for b in measured for line in _anatomy_section(b)]
    if diagnosis:
        lines += ["## Diagnosis", "", *diagnosis]
    # The web benchmarks' verdicts (bench/web.py refreshes this section after its run).
    lines += ["", *results_section(Path(__file__).with_name("WEB_RESULTS.md"))]
    return "\n".join(lines).rstrip() + "\n"
