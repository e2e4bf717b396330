"""From samples to numbers: percentiles, the table, the ratios against the targets, JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.load import Sample

DIRECT = "direct"
AGGREGATOR = "aggregator"
AGGREGATOR_AUTH = "aggregator+auth"
"""The aggregator with Entra ID authentication and a per-tool policy on."""
FASTMCP_PROXY = "fastmcp-proxy"
HOP_ROLE = "hop"
"""CPU role name of the process between client and upstream (aggregator or fastmcp's proxy)."""
UPSTREAM_ROLE = "upstream"
CLIENT_ROLE = "client"

P50_TARGET = 1.3
"""Aggregated p50 at concurrency 1 may be at most this many times direct p50."""
THROUGHPUT_TARGET = 0.7
"""Aggregator throughput at concurrency 32 must be at least this fraction of direct."""
P50_CONCURRENCY = 1
THROUGHPUT_CONCURRENCY = 32


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
    protocol: str
    target: str
    metric: str
    value: float | None
    limit: float
    at_most: bool

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit


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


def ratios(results: Sequence[Result]) -> list[Ratio]:
    """Each proxying target against direct, per protocol: p50 at c=1, throughput at c=32."""
    out: list[Ratio] = []
    protocols = list(dict.fromkeys(r.protocol for r in results))
    targets = [t for t in dict.fromkeys(r.target for r in results) if t != DIRECT]
    for protocol in protocols:
        for target in targets:
            slow = _find(results, target, protocol, P50_CONCURRENCY)
            base = _find(results, DIRECT, protocol, P50_CONCURRENCY)
            p50 = _quotient(slow.p50_ms if slow else None, base.p50_ms if base else None)
            out.append(Ratio(protocol, target, f"p50 @ c={P50_CONCURRENCY}", p50, P50_TARGET, True))
            busy = _find(results, target, protocol, THROUGHPUT_CONCURRENCY)
            base = _find(results, DIRECT, protocol, THROUGHPUT_CONCURRENCY)
            rate = _quotient(
                busy.calls_per_second if busy else None, base.calls_per_second if base else None
            )
            out.append(
                Ratio(
                    protocol,
                    target,
                    f"throughput @ c={THROUGHPUT_CONCURRENCY}",
                    rate,
                    THROUGHPUT_TARGET,
                    False,
                )
            )
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
    header = [
        "target",
        "protocol",
        "conc",
        "ok",
        "errors",
        "p50 ms",
        "p99 ms",
        "calls/s",
        "cpu ms/call: upstream",
        "hop",
        "client",
    ]
    rows = [header]
    for r in results:
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
                number(cpu.get(UPSTREAM_ROLE), 2),
                number(cpu.get(HOP_ROLE), 2),
                number(cpu.get(CLIENT_ROLE), 2),
            ]
        )
    lines = _aligned(rows, right=set(range(2, len(header))))
    lines.insert(1, "-" * max(len(line) for line in lines))
    notes = [f"  {r.target} {r.protocol} c={r.concurrency}: {r.note}" for r in results if r.note]
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
    # Rounded towards "worse" (p50 up, throughput down), so the two decimals printed never
    # read as meeting a target that the exact value misses.
    hundredths = math.ceil(value * 100) if ratio.at_most else math.floor(value * 100)
    return f"{hundredths / 100:.2f}x"


def format_ratios(found: Sequence[Ratio]) -> str:
    rows = [["protocol", "target / direct", "metric", "ratio", "target", "verdict"]]
    for ratio in found:
        verdict = {True: "MET", False: "NOT MET", None: "n/a (no data)"}[ratio.met]
        rows.append(
            [
                ratio.protocol,
                f"{ratio.target} / {DIRECT}",
                ratio.metric,
                "-" if ratio.value is None else _ratio_text(ratio, ratio.value),
                f"{'<=' if ratio.at_most else '>='} {ratio.limit:g}x",
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
