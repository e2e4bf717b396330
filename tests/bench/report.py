"""From samples to numbers: percentiles, the table, the ratios against the targets, JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.load import Sample

# Targets, in the order the table shows them. The floor section: the SDK's own server and
# FastMCP, serving each domain's tool with its published contract and a fixed answer (see
# bench.peers), against the domain servers (embedded store), then the production path (a
# separate REST API process) for a domain server and for FastMCP.
FLOOR = "floor"
FASTMCP = "fastmcp"
USERS = "users"
TICKETS = "tickets"
DATA = "data"
FLOOR_TICKETS = "floor-tickets"
FLOOR_DATA = "floor-data"
FASTMCP_TICKETS = "fastmcp-tickets"
FASTMCP_DATA = "fastmcp-data"
PEER_CALLS = {
    FLOOR_TICKETS: (FLOOR, TICKETS),
    FLOOR_DATA: (FLOOR, DATA),
    FASTMCP_TICKETS: (FASTMCP, TICKETS),
    FASTMCP_DATA: (FASTMCP, DATA),
}
"""A peer's target for another domain's tool -> (the peer's process, the domain whose call it
takes). `floor` and `fastmcp` themselves take the users call."""
BASELINES = {
    USERS: (FLOOR, FASTMCP),
    TICKETS: (FLOOR_TICKETS, FASTMCP_TICKETS),
    DATA: (FLOOR_DATA, FASTMCP_DATA),
}
"""Each domain server's (floor, FastMCP) targets: the same tool, so the same client work."""
USERS_REMOTE = "users->api"
FASTMCP_REMOTE = "fastmcp->api"
# The aggregator section: hops in front of the users server (the `users` row is "direct").
AGGREGATOR = "aggregator"
AGGREGATOR_AUTH = "aggregator+auth"
"""The aggregator with Entra ID authentication and a per-tool policy on."""
FASTMCP_PROXY = "fastmcp-proxy"
AGGREGATOR_SESSIONS = "aggregator->stateful"
"""The aggregator in front of a session-based upstream (the SDK floor keeping 2025-11-25
sessions, `sessions: per-client`): the session relay's hop. Its `server` is that floor."""
FLOOR_SECTION = (
    FLOOR,
    FASTMCP,
    USERS,
    FLOOR_TICKETS,
    FASTMCP_TICKETS,
    TICKETS,
    FLOOR_DATA,
    FASTMCP_DATA,
    DATA,
    USERS_REMOTE,
    FASTMCP_REMOTE,
)
HOPS_BEFORE_USERS = (AGGREGATOR, AGGREGATOR_AUTH, FASTMCP_PROXY)
AGGREGATOR_SECTION = (*HOPS_BEFORE_USERS, AGGREGATOR_SESSIONS)
TARGETS = FLOOR_SECTION + AGGREGATOR_SECTION

# CPU roles: the process whose tools answer (a domain server, the floor, FastMCP), the hop in
# front of it (the aggregator or fastmcp's proxy), the REST API process behind it, the client.
SERVER_ROLE = "server"
HOP_ROLE = "hop"
API_ROLE = "api"
CLIENT_ROLE = "client"
ROLES = (SERVER_ROLE, HOP_ROLE, API_ROLE, CLIENT_ROLE)

CPU_CONCURRENCY = 8
"""CPU per call is compared where every process is busy but not saturated."""
THROUGHPUT_CONCURRENCY = 32


@dataclass(frozen=True)
class Goal:
    """`target`'s `metric` at `concurrency`, over `baseline`'s (None: the value itself)."""

    target: str
    baseline: str | None
    metric: str
    """"server cpu" or "hop cpu" (ms/call), "p50" (ms) or "throughput" (calls/s)."""
    concurrency: int
    op: str
    """"<=", "<" or ">=": how the ratio (or value) must compare with `limit`."""
    limit: float
    comparison: bool = False
    """A peer measured against the same bar, for comparison: not a goal of this platform."""


GOALS: tuple[Goal, ...] = (
    *(
        goal
        for domain, (floor, fastmcp) in BASELINES.items()
        for goal in (
            Goal(domain, floor, "server cpu", CPU_CONCURRENCY, "<=", 1.5),
            Goal(domain, fastmcp, "server cpu", CPU_CONCURRENCY, "<", 1.0),
            Goal(domain, floor, "throughput", THROUGHPUT_CONCURRENCY, ">=", 0.8),
        )
    ),
    Goal(USERS_REMOTE, FASTMCP_REMOTE, "server cpu", CPU_CONCURRENCY, "<=", 1.5),
    *(
        goal
        for hop in HOPS_BEFORE_USERS
        for goal in (
            Goal(hop, USERS, "p50", 1, "<=", 1.3, comparison=hop == FASTMCP_PROXY),
            Goal(
                hop,
                USERS,
                "throughput",
                THROUGHPUT_CONCURRENCY,
                ">=",
                0.7,
                comparison=hop == FASTMCP_PROXY,
            ),
        )
    ),
    Goal(AGGREGATOR, None, "hop cpu", CPU_CONCURRENCY, "<=", 1.0),
    Goal(AGGREGATOR_AUTH, None, "hop cpu", CPU_CONCURRENCY, "<=", 1.0),
    # Issue 13 asks the fast path to stay at about 1 ms; the session relay is shown beside it.
    Goal(AGGREGATOR_SESSIONS, None, "hop cpu", CPU_CONCURRENCY, "<=", 1.0, comparison=True),
)


@dataclass(frozen=True)
class Result:
    target: str
    protocol: str
    concurrency: int
    ok: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    calls_per_second: float | None
    cpu_ms_per_call: dict[str, float]
    negotiated: str | None
    note: str | None


@dataclass(frozen=True)
class Ratio:
    """One goal evaluated for one protocol generation."""

    protocol: str
    goal: Goal
    value: float | None
    """The ratio to the baseline (or the value itself); None without data."""
    note: str | None = None
    """For a throughput ratio: how busy the load generator was (see `load_generator_busy`)."""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        limit = self.goal.limit
        return {"<=": self.value <= limit, "<": self.value < limit, ">=": self.value >= limit}[
            self.goal.op
        ]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..1) of non-empty `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summarize(target: str, protocol: str, concurrency: int, sample: Sample) -> Result:
    ok = len(sample.latencies)
    notes = []
    if sample.workers_ready < sample.workers:
        failed = sample.workers - sample.workers_ready
        notes.append(f"{failed} of {sample.workers} clients failed: {sample.setup_error}")
    if sample.timed_out:
        notes.append("cut off at the time bound")
    elif sample.workers_ready and ok + sample.errors < sample.planned:
        notes.append(f"time limit reached after {ok + sample.errors} of {sample.planned} calls")
    if sample.negotiated and sample.negotiated != protocol:
        notes.append(f"the client negotiated {sample.negotiated}")
    if sample.first_error:
        notes.append(f"first error: {sample.first_error}")
    done = ok + sample.errors
    cpu = {role: 1000 * seconds / done for role, seconds in sample.cpu_seconds.items() if done}
    return Result(
        target=target,
        protocol=protocol,
        concurrency=concurrency,
        ok=ok,
        errors=sample.errors,
        p50_ms=1000 * percentile(sample.latencies, 0.50) if ok else None,
        p99_ms=1000 * percentile(sample.latencies, 0.99) if ok else None,
        calls_per_second=ok / sample.elapsed if ok and sample.elapsed > 0 else None,
        cpu_ms_per_call=cpu,
        negotiated=sample.negotiated,
        note="; ".join(notes) or None,
    )


def _find(results: Sequence[Result], target: str, protocol: str, concurrency: int) -> Result | None:
    for result in results:
        if (result.target, result.protocol, result.concurrency) == (target, protocol, concurrency):
            return result
    return None


def _quotient(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def metric_value(result: Result | None, metric: str) -> float | None:
    if result is None:
        return None
    if metric == "p50":
        return result.p50_ms
    if metric == "throughput":
        return result.calls_per_second
    role = metric.removesuffix(" cpu")
    return result.cpu_ms_per_call.get(role)


def load_generator_busy(result: Result | None) -> float | None:
    """The CPUs the load generator's processes used during `result` (1.0 = one CPU).

    Near the number of its processes, the measurement's calls/s is the client's limit, not the
    server's (see `bench.load_pool`).
    """
    if result is None or result.calls_per_second is None:
        return None
    client_ms = result.cpu_ms_per_call.get(CLIENT_ROLE)
    return None if client_ms is None else result.calls_per_second * client_ms / 1000


def _busy_note(target: Result | None, baseline: Result | None) -> str | None:
    mine, theirs = load_generator_busy(target), load_generator_busy(baseline)
    if mine is None or theirs is None:
        return None
    return f"load generator at {mine:.0%} / {theirs:.0%} of one CPU"


def ratios(results: Sequence[Result], goals: Sequence[Goal] = GOALS) -> list[Ratio]:
    """Every goal, per protocol generation, for the targets that were measured."""
    out: list[Ratio] = []
    protocols = list(dict.fromkeys(r.protocol for r in results))
    measured = {r.target for r in results}
    for protocol in protocols:
        for goal in goals:
            if goal.target not in measured:
                continue
            target = _find(results, goal.target, protocol, goal.concurrency)
            value = metric_value(target, goal.metric)
            note = None
            if goal.baseline is not None:
                baseline = _find(results, goal.baseline, protocol, goal.concurrency)
                value = _quotient(value, metric_value(baseline, goal.metric))
                if goal.metric == "throughput":
                    note = _busy_note(target, baseline)
            out.append(Ratio(protocol, goal, value, note))
    return out


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _aligned(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_table(results: Sequence[Result]) -> str:
    """One table: per protocol generation, the floor section, then the aggregator section."""
    header = ["target", "protocol", "conc", "ok", "errors", "p50 ms", "p99 ms", "calls/s"]
    header += ["cpu ms/call: server", "hop", "api", "client"]
    order = {target: index for index, target in enumerate(TARGETS)}
    protocols = list(dict.fromkeys(r.protocol for r in results))
    ordered = sorted(
        results,
        key=lambda r: (protocols.index(r.protocol), order.get(r.target, len(order)), r.concurrency),
    )
    rows: list[list[str]] = [header]
    breaks: list[int] = []
    previous: tuple[str, bool] | None = None
    for r in ordered:
        section = (r.protocol, r.target in AGGREGATOR_SECTION)
        if previous is not None and section != previous:
            breaks.append(len(rows))
        previous = section
        cpu = r.cpu_ms_per_call
        rows.append(
            [
                r.target,
                r.protocol,
                str(r.concurrency),
                str(r.ok),
                str(r.errors),
                number(r.p50_ms, 2),
                number(r.p99_ms, 2),
                number(r.calls_per_second),
                *(number(cpu.get(role), 2) for role in ROLES),
            ]
        )
    lines = _aligned(rows, right=set(range(2, len(header))))
    width = max(len(line) for line in lines)
    for index in reversed(breaks):
        lines.insert(index, "")
    lines.insert(1, "-" * width)
    notes = [f"  {r.target} {r.protocol} c={r.concurrency}: {r.note}" for r in ordered if r.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def format_support(results: Sequence[Result]) -> str:
    """Which protocol generations each target served (calls worked, the version matched)."""
    served: dict[str, list[str]] = {}
    for r in results:
        versions = served.setdefault(r.target, [])
        if r.ok and r.negotiated == r.protocol and r.protocol not in versions:
            versions.append(r.protocol)
    parts = [f"{target}: {', '.join(v) or 'none'}" for target, v in served.items()]
    return "protocol generations served: " + "; ".join(parts)


def _ratio_text(ratio: Ratio, value: float) -> str:
    # Rounded towards "worse" (up for an upper bound, down for a lower one), so the two
    # decimals printed never read as meeting a target that the exact value misses.
    upper = ratio.goal.op in ("<=", "<")
    hundredths = math.ceil(value * 100) if upper else math.floor(value * 100)
    unit = "x" if ratio.goal.baseline is not None else " ms"
    return f"{hundredths / 100:.2f}{unit}"


def format_ratios(found: Sequence[Ratio]) -> str:
    rows = [["protocol", "target", "metric", "value", "goal", "verdict"]]
    for ratio in found:
        goal = ratio.goal
        verdict = {True: "MET", False: "NOT MET", None: "n/a (no data)"}[ratio.met]
        if goal.comparison:
            verdict += " (a peer, for comparison)"
        if ratio.note:
            verdict += f" ({ratio.note})"
        unit = "x" if goal.baseline is not None else " ms"
        rows.append(
            [
                ratio.protocol,
                goal.target if goal.baseline is None else f"{goal.target} / {goal.baseline}",
                f"{goal.metric} @ c={goal.concurrency}",
                "-" if ratio.value is None else _ratio_text(ratio, ratio.value),
                f"{goal.op} {goal.limit:g}{unit}",
                verdict,
            ]
        )
    lines = _aligned(rows, right={3})
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def to_json(meta: Mapping[str, Any], results: Sequence[Result], found: Sequence[Ratio]) -> str:
    return json.dumps(
        {
            "meta": dict(meta),
            "results": [asdict(r) for r in results],
            "ratios": [{**asdict(r), "met": r.met} for r in found],
        },
        indent=2,
    )
