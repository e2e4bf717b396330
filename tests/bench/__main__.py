"""Measure tools/call latency and throughput: direct, through the aggregator, through fastmcp.

    ./pants package src/python/mcp_users:bin src/python/mcp_aggregator:bin
    ./pants run tests/bench:bin                   # full run, about six minutes
    ./pants run tests/bench:bin -- --quick --json dist/bench.json

Starts the users server (the upstream, with its embedded SQLite directory), the aggregator (also
a second one with authentication on) in
front of it and fastmcp's proxy in front of it, each as its own process on 127.0.0.1; measures
each target for both protocol generations at each concurrency; prints a table and the ratios
against the targets; stops every server it started, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import anyio

from bench import report
from bench.issuer import AUDIENCE, ROLE, Issuer, running_issuer
from bench.load import Load, Sample, ToolCall, measure, merge
from bench.servers import (
    RunningServer,
    ServerError,
    ServerSpec,
    free_port,
    start,
    stop_all,
    wait_ready,
)

PROTOCOLS: Mapping[str, str] = {"2025-11-25": "legacy", "2026-07-28": "2026-07-28"}
"""Protocol generation (as printed) -> `mcp.Client` mode."""
TOOLS: Mapping[str, ToolCall] = {
    "get_user_profile": ToolCall("get_user_profile", {"user_id": "u-0001"}),
    "list_users": ToolCall("list_users", {"limit": 5}),
}
TARGETS = (report.DIRECT, report.AGGREGATOR, report.AGGREGATOR_AUTH, report.FASTMCP_PROXY)
BUILD_COMMAND = "./pants package src/python/mcp_users:bin src/python/mcp_aggregator:bin"


@dataclass(frozen=True)
class Plan:
    calls: Mapping[int, int]
    """Calls per measurement, by concurrency."""
    time_limit: float
    """Seconds a measurement may take; it stops early with fewer calls."""
    warmup_calls: int
    """Calls per target and protocol before any measurement."""
    rounds: int
    """Each measurement is split into rounds that alternate between the targets, so a burst
    of other work on the machine hits every target alike."""

    def round_calls(self, concurrency: int, index: int) -> int:
        calls = self.calls[concurrency]
        return calls // self.rounds + (1 if index < calls % self.rounds else 0)


FULL = Plan(calls={1: 300, 8: 1000, 32: 1000}, time_limit=30.0, warmup_calls=50, rounds=5)
QUICK = Plan(calls={1: 60, 8: 200, 32: 200}, time_limit=5.0, warmup_calls=10, rounds=2)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./pants run tests/bench:bin --",
        description="tools/call latency and throughput: direct, through the aggregator and "
        "through fastmcp's proxy, for both protocol generations. Build the servers first: "
        + BUILD_COMMAND,
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls, 5 s per measurement")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--tool", choices=sorted(TOOLS), default="get_user_profile")
    parser.add_argument("--users-pex", type=Path, default=Path("dist/mcp-users.pex"))
    parser.add_argument("--aggregator-pex", type=Path, default=Path("dist/mcp-aggregator.pex"))
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the servers' logs and database here (default: a temporary folder, removed)",
    )
    return parser.parse_args(argv)


def _upstreams_file(users_port: int) -> str:
    """The aggregator's registry (an Envoy bootstrap, see mcp_aggregator/config.py): users only."""
    return f"""static_resources:
  clusters:
    - name: users
      connect_timeout: 1s
      type: STATIC
      load_assignment:
        cluster_name: users
        endpoints:
          - lb_endpoints:
              - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {users_port}}}}}}}
      metadata:
        filter_metadata:
          mcp.aggregator: {{path: /mcp, call_timeout: 60s}}
"""


def _ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def server_specs(
    args: argparse.Namespace, work_dir: Path, issuer: Issuer
) -> tuple[ServerSpec, ...]:
    users_port, aggregator_port, auth_port, proxy_port = _ports(4)
    registry = work_dir / "upstreams.yaml"
    registry.write_text(_upstreams_file(users_port))
    policy = work_dir / "policy.yaml"
    policy.write_text(f'default: deny\ntools:\n  "*": {{roles: [{ROLE}]}}\n')
    users = ServerSpec(
        name="users",
        command=(str(args.users_pex.resolve()),),
        port=users_port,
        env={
            "MCP_USERS_HOST": "127.0.0.1",
            "MCP_USERS_DEMO": "true",
            "MCP_USERS_PORT": str(users_port),
            "MCP_USERS_DATABASE_URL": f"sqlite+aiosqlite:///{work_dir / 'users.sqlite3'}",
        },
    )
    aggregator = ServerSpec(
        name=report.AGGREGATOR,
        command=(str(args.aggregator_pex.resolve()),),
        port=aggregator_port,
        env={
            "MCP_AGGREGATOR_HOST": "127.0.0.1",
            "MCP_AGGREGATOR_PORT": str(aggregator_port),
            "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
        },
    )
    authenticated = ServerSpec(
        name=report.AGGREGATOR_AUTH,
        command=(str(args.aggregator_pex.resolve()),),
        port=auth_port,
        env={
            "MCP_AGGREGATOR_HOST": "127.0.0.1",
            "MCP_AGGREGATOR_PORT": str(auth_port),
            "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
            "MCP_AGGREGATOR_AUTH": "entra",
            "MCP_AGGREGATOR_TENANT_ID": issuer.tenant_id,
            "MCP_AGGREGATOR_AUDIENCES": json.dumps([AUDIENCE]),
            "MCP_AGGREGATOR_AUTHORITY_HOST": issuer.authority,
            "MCP_AGGREGATOR_POLICY_FILE": str(policy),
        },
    )
    proxy = ServerSpec(
        name=report.FASTMCP_PROXY,
        # This venv holds fastmcp and these sources (the bench PEX runs in venv mode).
        command=(
            sys.executable,
            "-m",
            "bench.fastmcp_proxy",
            "--upstream",
            users.mcp_url,
            "--port",
            str(proxy_port),
        ),
        port=proxy_port,
        env={"FASTMCP_CHECK_FOR_UPDATES": "off", "FASTMCP_SHOW_SERVER_BANNER": "false"},
        ready_path="/mcp",
        ready_on_any_answer=True,
    )
    return users, aggregator, authenticated, proxy


def _cpu_probe(*roles: tuple[str, RunningServer]) -> Callable[[], dict[str, float]]:
    def probe() -> dict[str, float]:
        seconds = {role: server.cpu_seconds() for role, server in roles}
        seconds[report.CLIENT_ROLE] = time.process_time()
        return seconds

    return probe


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _skipped(target: str, protocol: str, concurrency: int, why: str) -> report.Result:
    return report.Result(
        target, protocol, concurrency, 0, 0, None, None, None, {}, None, f"not measured: {why}"
    )


async def measure_all(
    urls: Mapping[str, str],
    probes: Mapping[str, Callable[[], dict[str, float]]],
    call: ToolCall,
    plan: Plan,
    tokens: Mapping[str, str],
) -> list[report.Result]:
    """Every target x protocol x concurrency; the targets alternate, so drift hits all alike."""
    results: list[report.Result] = []
    for protocol, mode in PROTOCOLS.items():
        unsupported: dict[str, str] = {}
        for target in TARGETS:
            warmup = Load(concurrency=1, calls=plan.warmup_calls, time_limit=plan.time_limit)
            sample = await measure(
                urls[target], mode, call, warmup, probes[target], tokens.get(target)
            )
            if not sample.latencies:
                unsupported[target] = sample.setup_error or sample.first_error or "no call worked"
                _progress(f"warm-up  {target:<14} {protocol}: FAILED ({unsupported[target]})")
            else:
                _progress(f"warm-up  {target:<14} {protocol}: ok (negotiated {sample.negotiated})")
        measured = [target for target in TARGETS if target not in unsupported]
        for concurrency in plan.calls:
            rounds: dict[str, list[Sample]] = {target: [] for target in measured}
            for index in range(plan.rounds):
                for target in measured:
                    load = Load(
                        concurrency=concurrency,
                        calls=plan.round_calls(concurrency, index),
                        time_limit=plan.time_limit / plan.rounds,
                    )
                    sample = await measure(
                        urls[target], mode, call, load, probes[target], tokens.get(target)
                    )
                    rounds[target].append(sample)
            for target in TARGETS:
                if target in unsupported:
                    why = unsupported[target]
                    results.append(_skipped(target, protocol, concurrency, why))
                    continue
                merged = merge(rounds[target])
                result = report.summarize(target, protocol, concurrency, merged)
                results.append(result)
                _progress(_progress_line(result, merged))
    return results


def _progress_line(result: report.Result, sample: Sample) -> str:
    return (
        f"measured {result.target:<14} {result.protocol} c={result.concurrency:<3} "
        f"{result.ok:>5} ok {result.errors:>3} errors in {sample.elapsed:5.1f}s  "
        f"p50 {report.number(result.p50_ms, 2)} ms  {report.number(result.calls_per_second)}/s"
    )


@contextlib.contextmanager
def _work_dir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as scratch:
        yield Path(scratch)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("mcp", "fastmcp"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _header(call: ToolCall, plan: Plan, quick: bool) -> list[str]:
    cpus = os.cpu_count() or 1
    versions = _versions()
    load1, _, _ = os.getloadavg()
    calls = ", ".join(f"c={c}: {n}" for c, n in plan.calls.items())
    paragraphs = [
        f"tools/call {call.name} {json.dumps(dict(call.arguments))} on the users server "
        f"(embedded SQLite); {'quick' if quick else 'full'} run.",
        "targets: direct = the users server; aggregator = mcp_aggregator -> users; "
        "aggregator+auth = the same with Entra ID token checks (a cached RS256 token) and a "
        "per-tool policy; "
        f"fastmcp-proxy = fastmcp {versions['fastmcp']} create_proxy(url), its defaults -> users. "
        "Each is its own process on 127.0.0.1.",
        "clients: one mcp.Client session per concurrent worker; 2025-11-25 = mode='legacy', "
        "2026-07-28 = mode='2026-07-28'.",
        f"calls per measurement: {calls}, at most {plan.time_limit:g} s each, in "
        f"{plan.rounds} round(s) alternating between the targets. Latency is per call; "
        "throughput = calls that succeeded / measured time.",
        f"machine: {cpus} CPUs, {platform.system()} {platform.machine()}, load average "
        f"{load1:.2f} at start; Python {versions['python']}, mcp {versions['mcp']}.",
        f"note: the load generator (this process) and every server share these {cpus} CPUs. "
        "Once they are busy, throughput measures the CPU the whole chain spends per call, "
        "the client's included, not one server's capacity; the cpu ms/call columns show "
        "where it goes (hop = the aggregator or fastmcp's proxy).",
    ]
    return [textwrap.fill(text, width=100, subsequent_indent="  ") for text in paragraphs]


def _run(
    args: argparse.Namespace,
    call: ToolCall,
    plan: Plan,
    work_dir: Path,
    servers: list[RunningServer],
) -> list[report.Result]:
    """Start the servers (appending each to `servers`, for the caller to stop) and measure.

    Raises:
        ServerError: a server did not start or become ready.
    """
    with running_issuer() as issuer:
        return _run_with(args, call, plan, work_dir, servers, issuer)


def _run_with(
    args: argparse.Namespace,
    call: ToolCall,
    plan: Plan,
    work_dir: Path,
    servers: list[RunningServer],
    issuer: Issuer,
) -> list[report.Result]:
    users, aggregator, authenticated, proxy = server_specs(args, work_dir, issuer)
    _progress(f"starting the servers (logs in {work_dir}) ...")
    servers.append(start(users, work_dir))
    wait_ready(servers[0])
    servers.append(start(aggregator, work_dir))
    servers.append(start(authenticated, work_dir))
    servers.append(start(proxy, work_dir))
    for server in servers[1:]:
        wait_ready(server)
    running = {server.spec.name: server for server in servers}
    upstream = (report.UPSTREAM_ROLE, running[users.name])
    urls = {
        report.DIRECT: users.mcp_url,
        report.AGGREGATOR: aggregator.mcp_url,
        report.AGGREGATOR_AUTH: authenticated.mcp_url,
        report.FASTMCP_PROXY: proxy.mcp_url,
    }
    probes = {
        report.DIRECT: _cpu_probe(upstream),
        report.AGGREGATOR: _cpu_probe(upstream, (report.HOP_ROLE, running[aggregator.name])),
        report.AGGREGATOR_AUTH: _cpu_probe(
            upstream, (report.HOP_ROLE, running[authenticated.name])
        ),
        report.FASTMCP_PROXY: _cpu_probe(upstream, (report.HOP_ROLE, running[proxy.name])),
    }
    tokens = {report.AGGREGATOR_AUTH: issuer.token()}
    return anyio.run(measure_all, urls, probes, call, plan, tokens)


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    missing = [str(p) for p in (args.users_pex, args.aggregator_pex) if not p.is_file()]
    if missing:
        print(
            f"error: {', '.join(missing)} not found (relative to {Path.cwd()}); build them first:"
            f"\n  {BUILD_COMMAND}",
            file=sys.stderr,
        )
        return 2
    plan = QUICK if args.quick else FULL
    call = TOOLS[args.tool]
    header = _header(call, plan, args.quick)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with _work_dir(args.work_dir) as work_dir:
        servers: list[RunningServer] = []
        try:
            results = _run(args, call, plan, work_dir, servers)
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted: stopping the servers", file=sys.stderr)
            return 130
        finally:
            stop_all(servers)
    found = report.ratios(results)
    print("\n".join(header))
    print()
    print(report.format_table(results))
    print()
    print(report.format_support(results))
    print()
    print(
        f"ratios (targets for the aggregator: p50 at c=1 <= {report.P50_TARGET:g}x direct, "
        f"throughput at c=32 >= {report.THROUGHPUT_TARGET:g}x direct; fastmcp-proxy against "
        "the same bars, for comparison)"
    )
    print(report.format_ratios(found))
    load1, _, _ = os.getloadavg()
    print(f"\nload average at the end: {load1:.2f} (other work on the machine skews every number)")
    if args.json is not None:
        meta: dict[str, Any] = {
            "started_at": started_at,
            "tool": call.name,
            "arguments": dict(call.arguments),
            "quick": args.quick,
            "plan": {**asdict(plan), "calls": {str(c): n for c, n in plan.calls.items()}},
            "cpus": os.cpu_count(),
            "platform": f"{platform.system()} {platform.machine()}",
            "versions": _versions(),
            "protocol_modes": dict(PROTOCOLS),
        }
        args.json.write_text(report.to_json(meta, results, found) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
