"""Turn the web measurements into ``WEB_RESULTS.md`` (and a section of ``RESULTS.md``)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peers import Peer
from timing import Result

__all__ = [
    "Anatomy",
    "PeerRun",
    "Responsiveness",
    "WebRun",
    "refresh_results_section",
    "render",
    "results_section",
]

#: Targets from the issue.
COST_TARGET_US = 100.0
RATIO_TARGET = 0.8
SCALING_LIMIT = 1.2
#: Responsiveness: the cheap endpoint's latency during sign-ins (90th and 99th
#: percentiles) may be at most this many times its latency under the control load
#: (the same CPU load from outside the server)...
RESPONSIVE_FACTOR = 2.0
#: ...plus this much (ms).
RESPONSIVE_SLACK_MS = 1.0
#: What the issue's author measured (µs per request, SQLite).
ISSUE_FIGURES = {
    "auth101": 273,
    "Flask-Login": 332,
    "Flask-Security-Too": 490,
    "fastapi-users": 1_828,
}
#: The best peer's protected ÷ unprotected figure in the issue.
ISSUE_BEST_RATIO = 0.50

MECH_LABELS = {
    "bearer": "bearer token",
    "jwt": "JWT access token",
    "cookie": "session cookie",
    "token": "token (`Authentication-Token` header)",
    "none": "none",
}


@dataclass
class PeerRun:
    """Everything measured for one app (both table sizes)."""

    peer: Peer
    version: str
    errors: dict[str, str] = field(default_factory=dict)
    hash_scheme: str = ""
    #: ``(size, mechanism, route)`` → per-round medians (ns) of in-process requests.
    in_process: dict[tuple[int, str, str], Result] = field(default_factory=dict)
    #: ``(size, mechanism, route)`` → (SQL statements, pool checkouts) per request.
    statements: dict[tuple[int, str, str], tuple[float, float]] = field(default_factory=dict)
    #: ``(size, mechanism, route)`` → requests per second, one per round.
    rates: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)
    #: Table sizes whose requests were timed with the slow plan.
    slow: set[int] = field(default_factory=set)
    #: ``(size, mechanism, route)`` → (failed requests, the first failure).
    load_errors: dict[tuple[int, str, str], tuple[int, str]] = field(default_factory=dict)

    def mechanisms(self) -> list[str]:
        found = {mech for _, mech, _ in self.in_process} | {mech for _, mech, _ in self.rates}
        return [m for m in self.peer.mechanisms if m in found]

    def cost(self, size: int, mech: str) -> Result | None:
        """Protected minus unprotected, round by round (both timed in the same round)."""
        protected = self.in_process.get((size, mech, "protected"))
        unprotected = self.in_process.get((size, mech, "open"))
        if protected is None or unprotected is None:
            return None
        return Result([p - o for p, o in zip(protected.rounds, unprotected.rounds, strict=True)])

    def ratio(self, size: int, mech: str) -> tuple[float, float, float] | None:
        """Protected ÷ unprotected requests per second, round by round: median, min, max."""
        protected = self.rates.get((size, mech, "protected"))
        unprotected = self.rates.get((size, mech, "open"))
        if not protected or not unprotected:
            return None
        ratios = [p / o for p, o in zip(protected, unprotected, strict=True) if o]
        return statistics.median(ratios), min(ratios), max(ratios)


@dataclass
class Responsiveness:
    """The cheap endpoint's latencies (s), idle and during bursts of sign-ins."""

    idle: list[float] = field(default_factory=list)
    #: While threads of the client process hash (the CPUs as busy, the server left alone).
    control: list[float] = field(default_factory=list)
    bursts: list[list[float]] = field(default_factory=list)
    sign_ins: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def during(self) -> list[float]:
        return [latency for burst in self.bursts for latency in burst]


@dataclass
class Anatomy:
    """authgate's protected request taken apart (``bench/webdiag.py``)."""

    #: ``(framework, route)`` → per-round medians (ns) of the diagnostic requests.
    parts: dict[tuple[str, str], Result] = field(default_factory=dict)
    #: The statements one protected request runs.
    sql: list[str] = field(default_factory=list)
    profile: str = ""
    #: ``(framework, route)`` → requests per second behind a real server, one per round.
    served: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def delta(self, framework: str, route: str) -> Result | None:
        """A diagnostic route minus ``/open``, round by round."""
        part, base = self.parts.get((framework, route)), self.parts.get((framework, "/open"))
        if part is None or base is None:
            return None
        return Result([p - o for p, o in zip(part.rounds, base.rounds, strict=True)])


@dataclass
class WebRun:
    machine: str
    quick: bool
    sizes: tuple[int, ...]
    plans: Any
    peers: list[PeerRun]
    anatomy: Anatomy | None
    responsiveness: dict[str, Responsiveness]
    sign_ins: int
    load: tuple[float, float]
    seconds: float
    date: str


# -- formatting ---------------------------------------------------------------------------


def _us(result: Result | None) -> str:
    return "—" if result is None else result.text()


def _ratio(ratio: tuple[float, float, float] | None, digits: int = 2) -> str:
    if ratio is None:
        return "—"
    median, low, high = ratio
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _users(count: int) -> str:
    return f"{count:,} user" + ("" if count == 1 else "s")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _cost_scaling(run: PeerRun, mech: str, low: int, high: int) -> tuple[float, float, float]:
    """Auth cost with many users ÷ with 1 user; the spread pairs rounds."""
    a, b = run.cost(high, mech), run.cost(low, mech)
    assert a is not None and b is not None
    ratios = [x / y for x, y in zip(a.rounds, b.rounds, strict=True) if y > 0]
    overall = a.median_us / b.median_us if b.median_us > 0 else float("inf")
    return overall, min(ratios, default=overall), max(ratios, default=overall)


def _statements(run: PeerRun, size: int, mech: str, route: str) -> str:
    found = run.statements.get((size, mech, route))
    if found is None:
        return "—"
    statements, checkouts = found
    return f"{statements:g} + {checkouts:g}"


def _authgate(runs: list[PeerRun], framework: str) -> PeerRun | None:
    for run in runs:
        if run.peer.is_authgate and run.peer.framework == framework and not run.errors:
            return run
    return None


#: Peers whose bearer credential is a JWT (fastapi-users' JWT strategy, auth101).
JWT_PEERS = frozenset({"fastapi_users_app", "auth101_fastapi"})


def _same_mech(authgate: PeerRun, mech: str, peer: PeerRun | None = None) -> str:
    """authgate's mechanism to compare a peer's with: a token header is a bearer token,
    and a peer's bearer JWT is compared with authgate's JWT access token."""
    if mech == "token":
        return "bearer"
    if mech == "bearer" and peer is not None and peer.peer.key in JWT_PEERS:
        return "jwt" if "jwt" in authgate.mechanisms() else "bearer"
    return mech


def responsive(found: Responsiveness) -> bool:
    """During sign-ins, the cheap endpoint stays within the noise of a busy machine."""
    if not found.control or not found.during:
        return False
    slack = RESPONSIVE_SLACK_MS / 1000
    return all(
        _percentile(found.during, q) <= RESPONSIVE_FACTOR * _percentile(found.control, q) + slack
        for q in (0.9, 0.99)
    )


# -- sections ------------------------------------------------------------------------------


def _verdict_section(run: WebRun) -> list[str]:
    low, high = min(run.sizes), max(run.sizes)
    columns: list[tuple[PeerRun, str]] = []
    for framework in ("flask", "fastapi"):
        ag = _authgate(run.peers, framework)
        if ag is not None:
            columns += [(ag, mech) for mech in ag.mechanisms()]
    if not columns:
        return ["No authgate app could be measured: see the errors below.", ""]
    header = "| target | " + " | ".join(
        f"{ag.peer.framework_label}, {MECH_LABELS[mech]}" for ag, mech in columns
    ) + " |"
    rows = [header, "|---|" + "---|" * len(columns)]

    def row(label: str, cell: Any) -> None:
        rows.append(f"| {label} | " + " | ".join(cell(ag, mech) for ag, mech in columns) + " |")

    def cost_cell(size: int) -> Any:
        def cell(ag: PeerRun, mech: str) -> str:
            cost = ag.cost(size, mech)
            if cost is None:
                return "—"
            return f"{_verdict(cost.median_us <= COST_TARGET_US)} {cost.text()} µs"

        return cell

    def sql_cell(ag: PeerRun, mech: str) -> str:
        found = [ag.statements.get((size, mech, "open")) for size in run.sizes]
        if any(f is None for f in found):
            return "—"
        ok = all(f == (0.0, 0.0) for f in found if f is not None)
        return f"{_verdict(ok)} " + " / ".join(f"{f[0]:g} + {f[1]:g}" for f in found if f)

    def scaling_cell(ag: PeerRun, mech: str) -> str:
        if ag.cost(high, mech) is None or ag.cost(low, mech) is None:
            return "—"
        scaling = _cost_scaling(ag, mech, low, high)
        return f"{_verdict(scaling[0] <= SCALING_LIMIT)} {_ratio(scaling)}×"

    def ratio_cell(size: int) -> Any:
        def cell(ag: PeerRun, mech: str) -> str:
            ratio = ag.ratio(size, mech)
            if ratio is None:
                return "—"
            return f"{_verdict(ratio[0] >= RATIO_TARGET)} {_ratio(ratio)}"

        return cell

    def ratio_scaling_cell(ag: PeerRun, mech: str) -> str:
        a, b = ag.ratio(low, mech), ag.ratio(high, mech)
        if a is None or b is None:
            return "—"
        value = a[0] / b[0]
        return f"{_verdict(value <= SCALING_LIMIT)} {value:.2f}×"

    def responsive_cell(ag: PeerRun, mech: str) -> str:
        found = run.responsiveness.get(ag.peer.key)
        if ag.peer.framework != "fastapi" or mech != "bearer":
            return ""
        if found is None or not found.during:
            return "—"
        during, control = found.during, found.control
        return (
            f"{_verdict(responsive(found))} p90 / p99 {_ms(_percentile(during, 0.9))} / "
            f"{_ms(_percentile(during, 0.99))} ms (control {_ms(_percentile(control, 0.9))} / "
            f"{_ms(_percentile(control, 0.99))} ms)"
        )

    row(f"1. auth cost per request ≤ {COST_TARGET_US:g} µs, {_users(low)}", cost_cell(low))
    row(f"3. auth cost per request ≤ {COST_TARGET_US:g} µs, {_users(high)}", cost_cell(high))
    row(f"3. auth cost {_users(high)} ÷ {_users(low)} ≤ {SCALING_LIMIT}×", scaling_cell)
    row(
        f"1. SQL on the unprotected route = 0 (statements + checkouts; {_users(low)} / "
        f"{_users(high)})",
        sql_cell,
    )
    row(
        f"2. server: protected ÷ unprotected req/s ≥ {RATIO_TARGET}, {_users(low)}",
        ratio_cell(low),
    )
    row(
        f"3. server: protected ÷ unprotected req/s ≥ {RATIO_TARGET}, {_users(high)}",
        ratio_cell(high),
    )
    row(f"3. server: that ratio, {_users(low)} ÷ {_users(high)} ≤ {SCALING_LIMIT}×",
        ratio_scaling_cell)  # fmt: skip
    row(
        f"4. `/open` latency during {run.sign_ins} concurrent sign-ins within noise "
        f"(p90 and p99 ≤ {RESPONSIVE_FACTOR:g}× the control load's + {RESPONSIVE_SLACK_MS:g} ms)",
        responsive_cell,
    )
    return [*rows, ""]


def _baseline(runs: list[PeerRun], framework: str) -> PeerRun | None:
    for run in runs:
        if run.peer.baseline and run.peer.framework == framework and run.in_process:
            return run
    return None


def _minus(a: Result | None, b: Result | None) -> Result | None:
    if a is None or b is None:
        return None
    return Result([x - y for x, y in zip(a.rounds, b.rounds, strict=True)])


def _cost_section(run: WebRun) -> list[str]:
    low, high = min(run.sizes), max(run.sizes)
    lines = [
        "## 1 and 3. Cost of authentication per request (in-process)",
        "",
        "**Auth cost** = `GET /protected` minus the same request (same headers) to the "
        "unprotected `GET /open` of the same app, both timed in the same rounds: µs per "
        "request, median (min–max) over rounds. *Open − plain*: that app's unprotected request "
        "minus a plain app's without any auth library (what the library costs on routes that "
        "do not ask for it; Flask-Security-Too loads the user on every request, so its auth "
        "cost alone understates it). *SQL*: statements + pool checkouts per request, "
        "unprotected / protected. *÷ authgate*: this library's auth cost over authgate's, same "
        "framework, same kind of credential, same table size (above 1: slower than authgate). "
        "† timed with fewer calls (its requests take over 15 ms), in its own rounds: the "
        "plain app's figure it is compared with comes from other rounds.",
        "",
    ]
    for framework, label in (("flask", "Flask (Werkzeug test client)"),
                             ("fastapi", "FastAPI (httpx `ASGITransport`)")):  # fmt: skip
        group = [r for r in run.peers if r.peer.framework == framework]
        if not group:
            continue
        ag = _authgate(run.peers, framework)
        plain = _baseline(run.peers, framework)
        plain_open = plain.in_process.get((low, "none", "open")) if plain else None
        lines += [
            f"### {label}",
            "",
            f"| library | credential | unprotected µs ({_users(low)} / {_users(high)}) "
            f"| protected µs (same) | **auth cost µs, {_users(low)}** | **auth cost µs, "
            f"{_users(high)}** | {high:,} ÷ 1 | open − plain µs (same) | SQL, {_users(low)} "
            f"| SQL, {_users(high)} | ÷ authgate ({_users(low)} / {_users(high)}) "
            "| issue's figure |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for peer_run in group:
            name = f"{peer_run.peer.library} {peer_run.version}"
            if peer_run.peer.baseline:
                if plain_open is not None:
                    lines.append(
                        f"| plain {peer_run.peer.framework_label} app (no auth library) | — "
                        f"| {_us(plain_open)} | | | | | | | | | |"
                    )
                continue
            if not peer_run.in_process:
                reason = _short_error(peer_run)
                lines.append(f"| {name} | not measured: {reason} | | | | | | | | | | |")
                continue
            for mech in peer_run.mechanisms():
                costs = [peer_run.cost(size, mech) for size in (low, high)]
                versus = "—"
                if ag is not None and ag is not peer_run:
                    ours = [ag.cost(size, _same_mech(ag, mech, peer_run)) for size in (low, high)]
                    if all(c is not None for c in [*ours, *costs]):
                        versus = " / ".join(
                            f"{c.median_us / o.median_us:.1f}×"  # type: ignore[union-attr]
                            for c, o in zip(costs, ours, strict=True)
                        )
                scaling = (
                    _ratio(_cost_scaling(peer_run, mech, low, high)) + "×"
                    if all(c is not None for c in costs)
                    else "—"
                )

                def pair(route: str, run: PeerRun = peer_run, mech: str = mech) -> str:
                    cells = []
                    for size in (low, high):
                        found = run.in_process.get((size, mech, route))
                        mark = " †" if size in run.slow else ""
                        cells.append("—" if found is None else f"{found.median_us:,.0f}{mark}")
                    return " / ".join(cells)

                extra = [
                    _minus(peer_run.in_process.get((size, mech, "open")), plain_open)
                    for size in (low, high)
                ]
                over_plain = " / ".join("—" if r is None else f"{r.median_us:,.0f}" for r in extra)
                figure = ISSUE_FIGURES.get(peer_run.peer.library)
                lines.append(
                    f"| {name} | {MECH_LABELS[mech]} | {pair('open')} | {pair('protected')} "
                    f"| **{_us(costs[0])}** | **{_us(costs[1])}** | {scaling} | {over_plain} "
                    f"| {_statements(peer_run, low, mech, 'open')} / "
                    f"{_statements(peer_run, low, mech, 'protected')} "
                    f"| {_statements(peer_run, high, mech, 'open')} / "
                    f"{_statements(peer_run, high, mech, 'protected')} "
                    f"| {versus} | {f'{figure:,}' if figure else ''} |"
                )
        lines.append("")
    return lines


def _server_section(run: WebRun) -> list[str]:
    low, high = min(run.sizes), max(run.sizes)
    plans = run.plans
    lines = [
        "## 2 and 3. Protected ÷ unprotected requests per second, real server on 127.0.0.1",
        "",
        f"Flask apps under gunicorn (`--workers 1 --worker-class sync`), FastAPI apps under "
        f"uvicorn (one process, default `h11` + `asyncio`). Each figure: {plans.load_rounds} "
        f"runs of {plans.load_seconds:g} s with {plans.load_threads} client threads "
        f"(`http.client`, one connection each, in the bench's process), the runs of every app "
        f"and route taking turns; req/s are medians; **ratio** = protected ÷ unprotected of "
        f"the same app, per round, median (min–max). *÷ plain*: protected req/s over a plain "
        f"app's (no auth library) unprotected req/s, {_users(low)}. *authgate ÷ this*: "
        f"authgate's ratio over this library's (above 1: authgate loses less throughput to "
        f"authentication). The issue's best peer: {ISSUE_BEST_RATIO:.2f}.",
        "",
        f"| library | credential | req/s unprotected, {_users(low)} | req/s protected "
        f"| **ratio, {_users(low)}** | req/s unprotected, {_users(high)} | req/s protected "
        f"| **ratio, {_users(high)}** | {_users(low)} ÷ {_users(high)} | ÷ plain "
        f"| authgate ÷ this ({_users(low)} / {_users(high)}) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for peer_run in run.peers:
        name = f"{peer_run.peer.label} {peer_run.version}"
        if peer_run.peer.baseline:
            rates = peer_run.rates.get((low, "none", "open"))
            if rates:
                lines.append(
                    f"| plain {peer_run.peer.framework_label} app (no auth library) | — "
                    f"| {statistics.median(rates):,.0f} | | | | | | | | |"
                )
            continue
        if not peer_run.rates:
            lines.append(f"| {name} | not measured: {_short_error(peer_run)} | | | | | | | | | |")
            continue
        ag = _authgate(run.peers, peer_run.peer.framework)
        framework = peer_run.peer.framework
        plain = next(
            (r for r in run.peers if r.peer.baseline and r.peer.framework == framework), None
        )
        plain_rates = plain.rates.get((low, "none", "open")) if plain else None
        for mech in peer_run.mechanisms():
            cells = []
            for size in (low, high):
                for route in ("open", "protected"):
                    rates = peer_run.rates.get((size, mech, route))
                    cells.append(f"{statistics.median(rates):,.0f}" if rates else "—")
                cells.append(f"**{_ratio(peer_run.ratio(size, mech))}**")
            a, b = peer_run.ratio(low, mech), peer_run.ratio(high, mech)
            scaling = f"{a[0] / b[0]:.2f}×" if a and b else "—"
            protected = peer_run.rates.get((low, mech, "protected"))
            over_plain = (
                f"{statistics.median(protected) / statistics.median(plain_rates):.2f}"
                if protected and plain_rates
                else "—"
            )
            versus = "—"
            if ag is not None and ag is not peer_run:
                ours = [ag.ratio(size, _same_mech(ag, mech, peer_run)) for size in (low, high)]
                theirs = [a, b]
                if all(ours) and all(theirs):
                    versus = " / ".join(
                        f"{o[0] / t[0]:.2f}×"  # type: ignore[index]
                        for o, t in zip(ours, theirs, strict=True)
                    )
            errors = [
                f"{count} failed ({first[:80]})"
                for (size, m, _), (count, first) in peer_run.load_errors.items()
                if m == mech
            ]
            note = f" — {'; '.join(errors)}" if errors else ""
            lines.append(
                f"| {name} | {MECH_LABELS[mech]}{note} | {cells[0]} | {cells[1]} | {cells[2]} "
                f"| {cells[3]} | {cells[4]} | {cells[5]} | {scaling} | {over_plain} | {versus} |"
            )
    return [*lines, ""]


def _latencies(values: list[float]) -> str:
    if not values:
        return "—"
    return (
        f"{_ms(statistics.median(values))} / {_ms(_percentile(values, 0.9))} / "
        f"{_ms(_percentile(values, 0.99))} / {_ms(max(values))}"
    )


def _responsiveness_section(run: WebRun) -> list[str]:
    plans = run.plans
    lines = [
        f"## 4. FastAPI: `GET /open` latency while {run.sign_ins} sign-ins hash",
        "",
        f"uvicorn servers over the 1-user databases, {plans.bursts} bursts per library "
        "(libraries taking turns). Each burst: `/open` is probed alone for "
        f"{plans.idle_seconds:g} s (*idle*); then for {plans.idle_seconds:g} s while "
        f"{run.sign_ins} threads of the bench's own process compute argon2id hashes "
        "(m=19456, t=2, p=1), the CPUs as busy as during a burst but nothing asked of the "
        "server (*control*: the noise of a saturated 2-core machine); then "
        f"{run.sign_ins} sign-ins go at once, each on its own connection, to the library's "
        "own sign-in endpoint, and `/open` is probed until the last one answers (*during*). "
        "Probes go one after another on one keep-alive connection. Each library hashes with "
        "its production (default) parameters. "
        f"**Target** (unaffected beyond noise): p90 and p99 *during* ≤ {RESPONSIVE_FACTOR:g}× "
        f"those of the *control* + {RESPONSIVE_SLACK_MS:g} ms. A library that hashes on the "
        "event loop stalls `/open` for whole hashes.",
        "",
        "| library | hashing | sign-in ms, median (max) | `/open` idle ms: median / p90 / "
        "p99 / max | control | during | samples during | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for peer_run in run.peers:
        if not peer_run.peer.signs_in:
            continue
        name = f"{peer_run.peer.library} {peer_run.version}"
        found = run.responsiveness.get(peer_run.peer.key)
        if found is None or not found.during:
            lines.append(f"| {name} | not measured: {_short_error(peer_run)} | | | | | | |")
            continue
        sign_in = (
            f"{_ms(statistics.median(found.sign_ins))} ({_ms(max(found.sign_ins))})"
            if found.sign_ins
            else "—"
        )
        if found.failures:
            sign_in += f"; {len(found.failures)} failed: {found.failures[0][:80]}"
        lines.append(
            f"| {name} | {peer_run.hash_scheme} | {sign_in} | {_latencies(found.idle)} "
            f"| {_latencies(found.control)} | {_latencies(found.during)} "
            f"| {len(found.during):,} | {_verdict(responsive(found))} |"
        )
    return [*lines, ""]


def _anatomy_section(run: WebRun) -> list[str]:
    from webdiag import FASTAPI_PARTS, FLASK_PARTS, served_cost

    anatomy = run.anatomy
    if anatomy is None or not anatomy.parts:
        return []
    plan = run.plans.anatomy
    lines = [
        "## Where authgate's time goes (bearer token, 1 user)",
        "",
        "Each part of the protected request has its own route in a diagnostic copy of the "
        "authgate app (`bench/webdiag.py`), doing that part and nothing else; its cost is "
        "that route minus `/open`, timed in the same rounds "
        f"({plan.rounds} rounds × {plan.calls:,} requests), µs per request, median (min–max). "
        "Parts timed in a tight loop instead would look ~1.7× cheaper: a request evicts the "
        "interpreter's caches. The last column: the same routes behind gunicorn / uvicorn, "
        f"loaded as in section 2 ({run.plans.load_rounds + 2} rounds); the server's time per "
        "request over `/open`, 1/rate(route) − 1/rate(`/open`), median (min–max) over rounds: "
        "a difference of two request rates, so a few tens of µs of it are noise.",
        "",
        "| framework | route: what it does | cost over `/open`, µs (in-process) "
        "| step over the row above, µs | behind the server, µs |",
        "|---|---|---|---|---|",
    ]
    for framework, parts in (("flask", FLASK_PARTS), ("fastapi", FASTAPI_PARTS)):
        for route, (what, base) in parts.items():
            delta = anatomy.delta(framework, route)
            if delta is None:
                continue
            under = None if base is None else anatomy.delta(framework, base)
            step = "" if under is None else f"{delta.median_us - under.median_us:+,.0f}"
            if framework == "fastapi" and route == "/protected":
                shape = anatomy.delta("fastapi", "/dependency")
                inline = anatomy.delta("fastapi", "/inline")
                if shape is not None and inline is not None:
                    rest = delta.median_us - shape.median_us - inline.median_us
                    step = f"{rest:+,.0f} (over `/dependency` + `/inline`)"
            label = "Flask" if framework == "flask" else "FastAPI"
            cost = served_cost(anatomy, framework, route)
            behind = "—" if cost is None else "{:,.0f} ({:,.0f}–{:,.0f})".format(*cost)
            lines.append(f"| {label} | `{route}`: {what} | {delta.text()} | {step} | {behind} |")
    notes = []
    uncached, cached = anatomy.delta("flask", "/uncached"), anatomy.delta("flask", "/flow")
    if uncached is not None and cached is not None and cached.median_us > 0:
        notes.append(
            f"- Flask: the session lookup answered from the session cache costs "
            f"{cached.median_us:,.0f} µs against {uncached.median_us:,.0f} µs from the store "
            f"({uncached.median_us / cached.median_us:.1f}×); the store is asked on a miss "
            "only: a session's first request, then at most once per `session_cache_ttl` "
            "(2 s) or activity interval."
        )
    shape, whole = (served_cost(anatomy, "fastapi", r) for r in ("/dependency", "/protected"))
    if shape and whole and whole[0] > 0:
        notes.append(
            f"- FastAPI behind uvicorn: the do-nothing `/dependency` (FastAPI's own dependency "
            f"machinery, no authgate code) is {shape[0]:,.0f} of the protected route's "
            f"{whole[0]:,.0f} µs."
        )
    if notes:
        lines += ["", *notes]
    if anatomy.sql:
        lines += ["", "The SQL of one protected request on a session cache miss:", ""]
        lines += [f"- `{' '.join(statement.split())[:600]}`" for statement in anatomy.sql]
    if anatomy.profile:
        lines += [
            "",
            "<details><summary>cProfile of protected requests (Flask test client, bearer, "
            "1 user), by cumulative time</summary>",
            "",
            "```",
            anatomy.profile,
            "```",
            "",
            "</details>",
        ]
    return [*lines, ""]


def _short_error(peer_run: PeerRun) -> str:
    if not peer_run.errors:
        return "see the log"
    stage, message = next(iter(peer_run.errors.items()))
    last = message.strip().splitlines()[-1] if message.strip() else ""
    return f"{stage} failed ({last[:120]})"


def _errors_section(run: WebRun) -> list[str]:
    failed = [r for r in run.peers if r.errors]
    if not failed:
        return []
    lines = ["## Peers (or stages) that failed", ""]
    for peer_run in failed:
        for stage, message in peer_run.errors.items():
            lines += [f"**{peer_run.peer.label}**, {stage}:", "", "```", message, "```", ""]
    return lines


def _method_section(run: WebRun) -> list[str]:
    p = run.plans.in_process
    high = max(run.sizes)
    return [
        "## Method",
        "",
        "- Environment: the peers live in `bench/.venv` only (created and refreshed by "
        "`bench/web.py`: `pip install -e .[flask,fastapi]`, gunicorn, uvicorn, httpx, then "
        "one `pip install` per peer). All apps share it, so they run on the same Flask, "
        "FastAPI and SQLAlchemy (the versions in the machine line; fastapi-users' SQLAlchemy "
        "adapter caps SQLAlchemy below 2.1, so authgate runs on 2.0 here, not on the 2.1 of "
        "the project's own environment).",
        "- The apps (`bench/peers/*.py`, each file says which quick start it follows): "
        "authgate after its README (Flask and FastAPI); Flask-Login after its documentation "
        "(`user_loader` for the session cookie, the documented `request_loader` for an API "
        "key sent as a bearer token); Flask-Security-Too after its quick start "
        "(`fsqla_v3` models, `@auth_required()`: session or `Authentication-Token`); "
        "fastapi-users after its full SQLAlchemy example (aiosqlite, JWT strategy, bearer "
        "transport, plus the documented cookie transport); auth101 after its README's "
        "FastAPI section (bearer JWT only: it has no cookie transport). Credentials come from "
        "each library's own sign-in (or login) endpoint.",
        f"- Data: one SQLite file per app and table size. The known user is created through "
        f"the library (or with its model), the other {high - 1:,} users are bulk-inserted with "
        "SQLAlchemy Core and one precomputed hash of the library's own kind; where the library "
        "has roles (authgate, Flask-Security-Too) every user holds one through its link "
        "table, and every authgate user also has a live session row.",
        f"- In-process: every request of every app of a framework (credential × route × table "
        f"size) takes turns batch by batch: {p.rounds} rounds × {p.calls} requests per "
        f"variant, timed {p.batch} at a time, {p.warmup} warm-up requests first "
        "(`bench/timing.py`'s `interleaved`). The garbage collector stays on.",
        "- SQL counted over 5 requests of each kind by `bench/websql.py`: SQLite's own trace "
        "callback on every connection checked out from the app's engine (it sees statements "
        "run on raw DBAPI cursors too, as authgate's session lookup runs), and SQLAlchemy's "
        "`before_cursor_execute` where SQLite cannot be traced (aiosqlite); checkouts from the "
        "pool's `checkout` event. A pool's pre-ping (`SELECT 1`) counts as a statement. "
        "authgate answers a session it confirmed in the last `session_cache_ttl` seconds "
        "from its session cache: a protected request asks the store (one statement, one "
        "checkout) only on a miss, so its figure is the share of misses among the 5.",
        "- Settings: every library's defaults (authgate's session cache included, "
        "`session_cache_ttl=2`), except authgate's `throttle_sign_in=False` "
        "(the bench signs one user in many times).",
        f"- Load average (1 min) at start / end: {run.load[0]:.1f} / {run.load[1]:.1f}.",
        "",
    ]


def render(run: WebRun) -> str:
    lines = [
        "# authgate web benchmarks: authgate beside its peers",
        "",
        "Written by `make bench` (`bench/web.py`"
        + (" --quick, a smoke run: few, short rounds, a small table" if run.quick else "")
        + f") in {run.seconds / 60:.1f} min. Rerun it rather than editing this file.",
        "",
        f"**Machine:** {run.machine}",
        "",
        "## Verdicts (authgate, against the issue's targets)",
        "",
        *_verdict_section(run),
        *_cost_section(run),
        *_server_section(run),
        *_responsiveness_section(run),
        *_anatomy_section(run),
        *_errors_section(run),
        *_method_section(run),
    ]
    return "\n".join(lines).rstrip() + "\n"


# -- RESULTS.md ---------------------------------------------------------------------------

BEGIN = "<!-- web benchmarks: begin -->"
END = "<!-- web benchmarks: end -->"


def results_section(web_results: Path) -> list[str]:
    """The section of ``RESULTS.md`` that points at ``WEB_RESULTS.md`` (with its verdicts)."""
    lines = [
        BEGIN,
        "## Web benchmarks: authgate beside Flask-Login, Flask-Security-Too, fastapi-users, "
        "auth101",
        "",
    ]
    if not web_results.exists():
        lines += [f"Not run yet: `make bench` writes [{web_results.name}]({web_results.name}).", ""]
        return [*lines, END]
    text = web_results.read_text(encoding="utf-8").splitlines()
    lines += [
        f"The cost of authentication per request, requests per second behind a real server, "
        f"the same with 100,000 users, and FastAPI's responsiveness while sign-ins hash: "
        f"[{web_results.name}]({web_results.name}).",
        "",
    ]
    machine = next((line for line in text if line.startswith("**Machine:**")), "")
    written = next((line for line in text if line.startswith("Written by")), "")
    if written:
        lines += [written.replace("Rerun it rather than editing this file.", "").strip(), ""]
    if machine:
        lines += [machine, ""]
    try:
        start = text.index("## Verdicts (authgate, against the issue's targets)") + 2
    except ValueError:
        return [*lines, END]
    end = start
    while end < len(text) and not text[end].startswith("## "):
        end += 1
    lines += text[start:end]
    return [*lines, END]


def refresh_results_section(results: Path, web_results: Path) -> None:
    """Replace (or append) the web section of ``RESULTS.md``."""
    text = results.read_text(encoding="utf-8")
    block = "\n".join(results_section(web_results))
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    results.write_text(text, encoding="utf-8")
