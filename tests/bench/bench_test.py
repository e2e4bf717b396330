"""The benchmark's own arithmetic: splitting a load, joining its parts, comparing schemas, and
which baseline each domain server's goals are read against. (What it measures is checked by
running it: it prints every figure it compares.)"""

from __future__ import annotations

from typing import Any

from bench import report
from bench.contract import dereferenced
from bench.load import Sample, combine
from bench.load_pool import split


def test_split_gives_shares_that_add_up_and_differ_by_at_most_one() -> None:
    for total in range(0, 70):
        for parts in range(1, 6):
            shares = split(total, parts)
            assert len(shares) == parts
            assert sum(shares) == total
            assert max(shares) - min(shares) <= 1


def _part(started: float, elapsed: float, calls: int, client_cpu: float) -> Sample:
    sample = Sample(workers=4, planned=calls, workers_ready=4)
    sample.started, sample.elapsed = started, elapsed
    sample.latencies = [0.01] * calls
    sample.cpu_seconds = {"client": client_cpu}
    return sample


def test_parts_side_by_side_span_first_start_to_last_finish_and_add_calls_and_cpu() -> None:
    joined = combine([_part(100.0, 2.0, 30, 0.5), _part(100.5, 2.5, 20, 0.25)])

    assert joined.started == 100.0
    assert joined.elapsed == 3.0  # 100.0 to 103.0
    assert len(joined.latencies) == 50
    assert (joined.workers, joined.workers_ready, joined.planned) == (8, 8, 50)
    assert joined.cpu_seconds == {"client": 0.75}


def test_a_part_whose_clock_never_started_does_not_stretch_the_time() -> None:
    never = Sample(workers=4, planned=10, setup_error="connect: refused")
    joined = combine([_part(100.0, 2.0, 30, 0.5), never])

    assert joined.elapsed == 2.0
    assert joined.workers_ready == 4
    assert joined.setup_error == "connect: refused"


def test_dereferenced_schemas_compare_equal_whether_definitions_are_inlined_or_not() -> None:
    with_refs: dict[str, Any] = {
        "$defs": {"Row": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Row"}},
            "first": {"anyOf": [{"$ref": "#/$defs/Row"}, {"type": "null"}]},
        },
    }
    inlined: dict[str, Any] = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
            "first": {
                "anyOf": [
                    {"type": "object", "properties": {"id": {"type": "string"}}},
                    {"type": "null"},
                ]
            },
        },
    }
    assert dereferenced(with_refs) == dereferenced(inlined)
    other = {**inlined, "properties": {**inlined["properties"], "items": {"type": "array"}}}
    assert dereferenced(with_refs) != dereferenced(other)


def _result(target: str, protocol: str, concurrency: int, **numbers: float) -> report.Result:
    return report.Result(
        target=target,
        protocol=protocol,
        concurrency=concurrency,
        ok=100,
        errors=0,
        p50_ms=numbers.get("p50"),
        p99_ms=None,
        calls_per_second=numbers.get("calls"),
        cpu_ms_per_call={"server": numbers["cpu"], "client": 1.0} if "cpu" in numbers else {},
        negotiated=protocol,
        note=None,
    )


def test_each_domain_server_is_compared_with_the_floor_of_its_own_tool() -> None:
    protocol = "2026-07-28"
    results = [
        _result(report.FLOOR, protocol, 8, cpu=0.4),
        _result(report.FLOOR_DATA, protocol, 8, cpu=0.5),
        _result(report.DATA, protocol, 8, cpu=0.7),
        _result(report.FLOOR_DATA, protocol, 32, calls=1000.0),
        _result(report.DATA, protocol, 32, calls=790.0),
    ]
    found = {(r.goal.target, r.goal.baseline, r.goal.metric): r for r in report.ratios(results)}

    cpu = found[(report.DATA, report.FLOOR_DATA, "server cpu")]
    assert cpu.value == 0.7 / 0.5  # against floor-data, not the users floor (0.4)
    assert cpu.met is True
    throughput = found[(report.DATA, report.FLOOR_DATA, "throughput")]
    assert throughput.value == 0.79
    assert throughput.met is False
    assert (report.DATA, report.FLOOR, "server cpu") not in found
