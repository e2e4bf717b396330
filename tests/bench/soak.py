"""A load command (not a test): N concurrent MCP clients for T seconds through the aggregator.

    ./pants package src/python/mcp_users:bin src/python/mcp_aggregator:bin
    ./pants run tests/bench:soak -- --clients 200 --seconds 60

Starts the users server and the aggregator in front of it (the PEXes, each its own process on
127.0.0.1), runs the same load for a warm-up first (15 s: N clients, one MCP session each,
2026-07-28 by default, calling `get_user_profile` as fast as they can), then again for T
seconds. Prints the calls, the errors (target 0) with the first one, p50/p99 latency, and
every server's resident memory after the warm-up and after the load (target: growth under
10%; memory that N concurrent requests need is reached during the warm-up). Stops every server it started, also on
Ctrl-C. Exit code 1 when any call failed or memory grew by 10% or more.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import anyio

from bench.load import Load, ToolCall, measure
from bench.report import percentile
from bench.servers import (
    RunningServer,
    ServerError,
    ServerSpec,
    free_port,
    process_rss_bytes,
    start,
    stop_all,
    wait_ready,
)

CALL = ToolCall("get_user_profile", {"user_id": "u-0001"})
RSS_GROWTH_TARGET = 0.10
MODES = {"2026-07-28": "2026-07-28", "2025-11-25": "legacy"}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent MCP sessions")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they call")
    parser.add_argument("--protocol", choices=sorted(MODES), default="2026-07-28")
    parser.add_argument(
        "--warmup", type=float, default=15.0, help="seconds of the same load before measuring"
    )
    parser.add_argument("--users-pex", type=Path, default=Path("dist/mcp-users.pex"))
    parser.add_argument("--aggregator-pex", type=Path, default=Path("dist/mcp-aggregator.pex"))
    return parser.parse_args(argv)


def _specs(args: argparse.Namespace, work_dir: Path) -> tuple[ServerSpec, ServerSpec]:
    users_port, aggregator_port = free_port(), free_port()
    registry = work_dir / "upstreams.yaml"
    registry.write_text(
        "static_resources:\n  clusters:\n  - name: users\n    type: STATIC\n"
        "    load_assignment:\n      cluster_name: users\n      endpoints:\n"
        "      - lb_endpoints:\n        - endpoint: {address: {socket_address: "
        f"{{address: 127.0.0.1, port_value: {users_port}}}}}}}\n"
    )
    users = ServerSpec(
        name="users",
        command=(str(args.users_pex.resolve()),),
        port=users_port,
        env={
            "MCP_USERS_PORT": str(users_port),
            "MCP_USERS_DATABASE_URL": f"sqlite+aiosqlite:///{work_dir / 'users.sqlite3'}",
            "MCP_USERS_DEMO": "true",
            "MCP_USERS_LOG_LEVEL": "WARNING",
        },
    )
    aggregator = ServerSpec(
        name="aggregator",
        command=(str(args.aggregator_pex.resolve()),),
        port=aggregator_port,
        env={
            "MCP_AGGREGATOR_PORT": str(aggregator_port),
            "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
            "MCP_AGGREGATOR_LOG_LEVEL": "WARNING",
            # Every client is the same anonymous caller here: room for all their streams.
            "MCP_AGGREGATOR_MAX_STREAMS_PER_PRINCIPAL": str(max(8, args.clients * 2)),
        },
    )
    return users, aggregator


def _rss(servers: Sequence[RunningServer]) -> dict[str, int | None]:
    return {server.spec.name: process_rss_bytes(server.process.pid) for server in servers}


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


async def _soak(
    args: argparse.Namespace, url: str, servers: Sequence[RunningServer]
) -> tuple[int, dict[str, int | None], dict[str, int | None]]:
    mode = MODES[args.protocol]
    # Warm up at the full concurrency: memory that N concurrent requests need (connections,
    # buffers, the allocator's arenas) is the baseline; growth after it is what leaks.
    warm = Load(concurrency=args.clients, calls=10**9, time_limit=args.warmup, call_timeout=60)
    await measure(url, mode, CALL, warm, lambda: {})
    before = _rss(servers)
    load = Load(concurrency=args.clients, calls=10**9, time_limit=args.seconds, call_timeout=60)
    sample = await measure(url, mode, CALL, load, lambda: {})
    after = _rss(servers)
    latencies = sorted(sample.latencies)
    print(f"clients: {args.clients} ({sample.workers_ready} connected), protocol {args.protocol}")
    print(
        f"calls: {len(latencies)} ok, {sample.errors} errors in {sample.elapsed:.1f} s "
        f"({len(latencies) / sample.elapsed if sample.elapsed else 0:.0f}/s)"
    )
    if sample.first_error or sample.setup_error:
        print(f"first error: {sample.first_error or sample.setup_error}")
    if latencies:
        print(
            f"latency: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
        )
    errors = sample.errors + (args.clients - sample.workers_ready)
    return errors, before, after


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    servers: list[RunningServer] = []
    with tempfile.TemporaryDirectory(prefix="mcp-soak-") as scratch:
        work_dir = Path(scratch)
        try:
            for spec in _specs(args, work_dir):
                servers.append(start(spec, work_dir))
                wait_ready(servers[-1])
            url = servers[-1].spec.mcp_url
            errors, before, after = anyio.run(_soak, args, url, servers)
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted: stopping the servers", file=sys.stderr)
            return 130
        finally:
            stop_all(servers)
    grew = False
    print(f"{'server':<12} {'RSS before':>12} {'RSS after':>12} {'growth':>8}")
    for name in before:
        first, last = before[name], after[name]
        growth = (last - first) / first if first and last else None
        grew = grew or (growth is not None and growth >= RSS_GROWTH_TARGET)
        shown = "-" if growth is None else f"{growth * 100:+.1f}%"
        print(f"{name:<12} {_mib(first):>12} {_mib(last):>12} {shown:>8}")
    verdict = "MET" if errors == 0 and not grew else "NOT MET"
    print(f"targets (0 errors, RSS growth < {RSS_GROWTH_TARGET:.0%}): {verdict}")
    return 0 if verdict == "MET" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
