"""Measure tools/call CPU, latency and throughput: the domain servers against the Python MCP
floor, and the aggregator's hop.

    ./pants package src/python/mcp_users:bin src/python/mcp_tickets:bin \
        src/python/mcp_data:bin src/python/mcp_aggregator:bin
    ./pants run tests/bench:bin                   # full run, about twenty minutes
    ./pants run tests/bench:bin -- --quick --json dist/bench.json

Starts, each as its own process on 127.0.0.1: the SDK floor server and a FastMCP server of the
users tools (fixed rows, `bench.peers`); the users, tickets and data servers (embedded SQLite);
the production path: a users server whose `api_url` is the users REST API in another process,
and a FastMCP server calling that API with httpx; the aggregator (also a second one with
authentication on) and fastmcp's proxy in front of the users server. Measures each target for
both protocol generations at each concurrency; prints one table with the CPU every process
spends per call, and the goals as MET / NOT MET; stops every server it started, also on Ctrl-C
or failure.
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import anyio

from bench import report
from bench.contract import ContractError, capture, check_published
from bench.issuer import AUDIENCE, ROLE, Issuer, running_issuer
from bench.load import Load, Sample, ToolCall, merge
from bench.load_pool import LoadPool, LoadPoolError
from bench.peers import Published, write_contract
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
"""The users tool the users-based targets (floor, FastMCP, users, the hops) are called with."""
DOMAIN_CALLS: Mapping[str, ToolCall] = {
    report.TICKETS: ToolCall("list_tickets", {"limit": 5}),
    report.DATA: ToolCall("query_data", {"dataset": "sales", "limit": 5}),
}
PEXES = ("users", "tickets", "data", "aggregator")
BUILD_COMMAND = "./pants package " + " ".join(f"src/python/mcp_{name}:bin" for name in PEXES)


@dataclass(frozen=True)
class Target:
    """What the load generator calls, and the processes whose CPU it counts, by role."""

    name: str
    url: str
    call: ToolCall
    roles: tuple[tuple[str, RunningServer], ...]
    token: str | None = None

    def cpu(self) -> dict[str, float]:
        """The servers' CPU seconds so far (the client's: the load pool's processes)."""
        return {role: server.cpu_seconds() for role, server in self.roles}


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


FULL = Plan(calls={1: 300, 8: 2000, 32: 2000}, time_limit=30.0, warmup_calls=30, rounds=4)
QUICK = Plan(calls={1: 60, 8: 200, 32: 200}, time_limit=5.0, warmup_calls=10, rounds=2)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./pants run tests/bench:bin --",
        description="tools/call CPU, latency and throughput: the domain servers against the "
        "SDK floor and FastMCP, the production path, the aggregator's hop; both protocol "
        "generations. Build the servers first: " + BUILD_COMMAND,
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls, 5 s per measurement")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--tool",
        choices=sorted(TOOLS),
        default="list_users",
        help="the users tool (tickets and data servers: list_tickets, query_data, limit 5)",
    )
    parser.add_argument(
        "--load-processes",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="load generator processes (default: one per CPU; a measurement at concurrency c "
        "uses min(N, c))",
    )
    parser.add_argument(
        "--only",
        choices=["floor", "aggregator"],
        help="measure one section of the table only (default: both)",
    )
    for name in PEXES:
        parser.add_argument(
            f"--{name}-pex", type=Path, default=Path(f"dist/mcp-{name}.pex"), metavar="PEX"
        )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the servers' logs and database here (default: a temporary folder, removed)",
    )
    return parser.parse_args(argv)


def _upstreams_file(users_port: int, sessions: str | None = None) -> str:
    """The aggregator's registry (an Envoy bootstrap, see mcp_aggregator/config.py): users only
    (with `sessions`, a session-based upstream in that mode)."""
    extra = f", sessions: {sessions}" if sessions else ""
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
          mcp.aggregator: {{path: /mcp, call_timeout: 60s{extra}}}
"""


STATEFUL_FLOOR = "floor-stateful"
"""The SDK floor keeping 2025-11-25 sessions: the session-based upstream of AGGREGATOR_SESSIONS."""


def _ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _domain_spec(
    name: str, pex: Path, port: int, env: Mapping[str, str], service: str | None = None
) -> ServerSpec:
    """`pex` (the server of `service`, default `name`) on `port` of 127.0.0.1 with `env`."""
    prefix = f"MCP_{(service or name).upper()}_"
    return ServerSpec(
        name=name,
        command=(str(pex.resolve()),),
        port=port,
        env={f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(port), **env},
    )


DOMAIN_PROCESSES = (report.USERS, report.TICKETS, report.DATA, "users-api")
"""Started first: the peers publish their tools (bench.contract)."""
PEER_PROCESSES = (report.FLOOR, report.FASTMCP, "fastmcp-remote", STATEFUL_FLOOR)
"""Started second, on the domain servers' contract; the hops, which check their upstreams
when they start, come last."""
CONTRACT_FILE = "contract.json"
"""In the work folder: the domain servers' tools as the peers publish them (bench.contract)."""


def _peer_spec(name: str, kind: str, port: int, work_dir: Path, *extra: str) -> ServerSpec:
    contract = str(work_dir / CONTRACT_FILE)
    return ServerSpec(
        name=name,
        # This venv holds mcp, fastmcp and these sources (the bench PEX runs in venv mode).
        command=(
            sys.executable,
            "-m",
            "bench.peers",
            kind,
            "--port",
            str(port),
            "--contract",
            contract,
            *extra,
        ),
        port=port,
        env={"FASTMCP_CHECK_FOR_UPDATES": "off", "FASTMCP_SHOW_SERVER_BANNER": "false"},
    )


def server_specs(args: argparse.Namespace, work_dir: Path, issuer: Issuer) -> dict[str, ServerSpec]:
    """Every process the chosen sections need, by name; each on a free port of 127.0.0.1."""
    ports = iter(_ports(13))
    database = f"sqlite+aiosqlite:///{work_dir}/%s.sqlite3"
    specs: dict[str, ServerSpec] = {}
    users = _domain_spec(
        report.USERS,
        args.users_pex,
        next(ports),
        {"MCP_USERS_DEMO": "true", "MCP_USERS_DATABASE_URL": database % "users"},
    )
    specs[users.name] = users
    if args.only != "aggregator":
        specs[report.FLOOR] = _peer_spec(report.FLOOR, "floor", next(ports), work_dir)
        specs[report.FASTMCP] = _peer_spec(report.FASTMCP, "fastmcp", next(ports), work_dir)
        for name in (report.TICKETS, report.DATA):
            specs[name] = _domain_spec(
                name,
                getattr(args, f"{name}_pex"),
                next(ports),
                {
                    f"MCP_{name.upper()}_DEMO": "true",
                    f"MCP_{name.upper()}_DATABASE_URL": database % name,
                },
            )
        # The system of record in its own process: the users reference REST API, served at
        # /api by a users server of its own (its embedded API, over its own database).
        api = _domain_spec(
            "users-api",
            args.users_pex,
            next(ports),
            {"MCP_USERS_DEMO": "true", "MCP_USERS_DATABASE_URL": database % "api"},
            service="users",
        )
        api_url = f"http://127.0.0.1:{api.port}/api"
        specs[api.name] = api
        specs[report.USERS_REMOTE] = _domain_spec(
            "users-remote",
            args.users_pex,
            next(ports),
            {"MCP_USERS_API_URL": api_url},
            service="users",
        )
        specs[report.FASTMCP_REMOTE] = _peer_spec(
            "fastmcp-remote", "fastmcp", next(ports), work_dir, "--api-url", api_url
        )
    if args.only != "floor":
        registry = work_dir / "upstreams.yaml"
        registry.write_text(_upstreams_file(users.port))
        policy = work_dir / "policy.yaml"
        policy.write_text(f'default: deny\ntools:\n  "*": {{roles: [{ROLE}]}}\n')
        common = {"MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry)}
        specs[report.AGGREGATOR] = _domain_spec(
            "aggregator", args.aggregator_pex, next(ports), common
        )
        specs[report.AGGREGATOR_AUTH] = _domain_spec(
            "aggregator-auth",
            args.aggregator_pex,
            next(ports),
            {
                **common,
                "MCP_AGGREGATOR_AUTH": "entra",
                "MCP_AGGREGATOR_TENANT_ID": issuer.tenant_id,
                "MCP_AGGREGATOR_AUDIENCES": json.dumps([AUDIENCE]),
                "MCP_AGGREGATOR_AUTHORITY_HOST": issuer.authority,
                "MCP_AGGREGATOR_POLICY_FILE": str(policy),
            },
            service="aggregator",
        )
        stateful = _peer_spec(STATEFUL_FLOOR, "floor", next(ports), work_dir, "--stateful")
        specs[stateful.name] = stateful
        stateful_registry = work_dir / "upstreams-stateful.yaml"
        stateful_registry.write_text(_upstreams_file(stateful.port, sessions="per-client"))
        specs[report.AGGREGATOR_SESSIONS] = _domain_spec(
            "aggregator-sessions",
            args.aggregator_pex,
            next(ports),
            {"MCP_AGGREGATOR_UPSTREAMS_FILE": str(stateful_registry)},
            service="aggregator",
        )
        proxy_port = next(ports)
        specs[report.FASTMCP_PROXY] = ServerSpec(
            name=report.FASTMCP_PROXY,
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
    return specs


def build_targets(
    args: argparse.Namespace, running: Mapping[str, RunningServer], token: str
) -> list[Target]:
    """The targets, in the table's order, with the processes each one's CPU is read from."""
    call = TOOLS[args.tool]
    users = running[report.USERS]
    targets: list[Target] = []
    for name in report.TARGETS:
        process, domain = report.PEER_CALLS.get(name, (name, None))
        if process not in running:
            continue
        server = running[process]
        roles: tuple[tuple[str, RunningServer], ...] = ((report.SERVER_ROLE, server),)
        if name in (report.USERS_REMOTE, report.FASTMCP_REMOTE):
            roles += ((report.API_ROLE, running["users-api"]),)
        if name in report.AGGREGATOR_SECTION:
            behind = running[STATEFUL_FLOOR] if name == report.AGGREGATOR_SESSIONS else users
            roles = ((report.SERVER_ROLE, behind), (report.HOP_ROLE, server))
        targets.append(
            Target(
                name=name,
                url=server.spec.mcp_url,
                call=DOMAIN_CALLS.get(domain or name, call),
                roles=roles,
                token=token if name == report.AGGREGATOR_AUTH else None,
            )
        )
    return targets


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _skipped(target: str, protocol: str, concurrency: int, why: str) -> report.Result:
    return report.Result(
        target, protocol, concurrency, 0, 0, None, None, None, {}, None, f"not measured: {why}"
    )


async def measure_all(targets: Sequence[Target], plan: Plan, processes: int) -> list[report.Result]:
    """Every target x protocol x concurrency; the targets alternate, so drift hits all alike."""
    async with LoadPool(processes) as pool:
        return await _measure_all(pool, targets, plan)


def spread(concurrency: int) -> int | None:
    """How many load processes a measurement at `concurrency` uses (None: all of the pool's).

    Calls/s at c=32 is read with every process, so that one Python client process is not the
    limit (see bench.load_pool); CPU per call at c=8 and latency at c=1 with one, which keeps
    the machine's CPUs from being oversubscribed (the client then uses at most one CPU and the
    server the other) and the CPU figures free of the scheduler's contention.
    """
    return None if concurrency >= report.THROUGHPUT_CONCURRENCY else 1


async def _measure_all(
    pool: LoadPool, targets: Sequence[Target], plan: Plan
) -> list[report.Result]:
    results: list[report.Result] = []
    for protocol, mode in PROTOCOLS.items():
        unsupported: dict[str, str] = {}
        for target in targets:
            warmup = Load(concurrency=1, calls=plan.warmup_calls, time_limit=plan.time_limit)
            sample = await pool.measure(
                target.url, mode, target.call, warmup, target.cpu, target.token
            )
            if not sample.latencies:
                why = sample.setup_error or sample.first_error or "no call worked"
                unsupported[target.name] = why
                _progress(f"warm-up  {target.name:<15} {protocol}: FAILED ({why})")
            else:
                _progress(
                    f"warm-up  {target.name:<15} {protocol}: ok (negotiated {sample.negotiated})"
                )
        measured = [target for target in targets if target.name not in unsupported]
        for concurrency in plan.calls:
            rounds: dict[str, list[Sample]] = {target.name: [] for target in measured}
            for index in range(plan.rounds):
                for target in measured:
                    load = Load(
                        concurrency=concurrency,
                        calls=plan.round_calls(concurrency, index),
                        time_limit=plan.time_limit / plan.rounds,
                    )
                    sample = await pool.measure(
                        target.url,
                        mode,
                        target.call,
                        load,
                        target.cpu,
                        target.token,
                        processes=spread(concurrency),
                    )
                    rounds[target.name].append(sample)
            for target in targets:
                if target.name in unsupported:
                    why = unsupported[target.name]
                    results.append(_skipped(target.name, protocol, concurrency, why))
                    continue
                merged = merge(rounds[target.name])
                result = report.summarize(target.name, protocol, concurrency, merged)
                results.append(result)
                _progress(_progress_line(result, merged))
    return results


def _progress_line(result: report.Result, sample: Sample) -> str:
    return (
        f"measured {result.target:<15} {result.protocol} c={result.concurrency:<3} "
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


def _header(args: argparse.Namespace, plan: Plan) -> list[str]:
    cpus = os.cpu_count() or 1
    versions = _versions()
    load1, load5, _ = os.getloadavg()
    calls = ", ".join(f"c={c}: {n}" for c, n in plan.calls.items())
    call = TOOLS[args.tool]
    others = "; ".join(
        f"{name}: {c.name} {json.dumps(dict(c.arguments))}" for name, c in DOMAIN_CALLS.items()
    )
    paragraphs = [
        f"tools/call {call.name} {json.dumps(dict(call.arguments))} ({others}); "
        f"{'quick' if args.quick else 'full'} run. Every server runs with auth=none on "
        "loopback, except aggregator+auth.",
        f"floor = the SDK's MCPServer (mcp {versions['mcp']}) and fastmcp = FastMCP "
        f"{versions['fastmcp']}, stateless, SSE answers, like the domain servers, serving "
        "each domain's tool (floor, fastmcp: users; -tickets, -data: the others) with the "
        "domain server's published outputSchema (checked equal) and its answer, captured at "
        "start, as a fixed answer; users, tickets, data = the domain servers over "
        "their embedded SQLite store; users->api = the users server calling the users REST API "
        "in another process over HTTP (its api_url), fastmcp->api = FastMCP calling the same "
        "API with httpx.",
        "aggregator = mcp_aggregator -> users; aggregator+auth = the same with Entra ID token "
        "checks (a cached RS256 token) and a per-tool policy; fastmcp-proxy = "
        "fastmcp create_proxy(url), its defaults -> users. The users row is their 'direct'. "
        "aggregator->stateful = the aggregator in front of the SDK floor keeping 2025-11-25 "
        "sessions (sessions: per-client; 2026-07-28 clients take the fast path to it).",
        "cpu ms/call, read from /proc per process: server = the process whose tools answer "
        "(behind the hop, if any), hop = the aggregator or fastmcp's proxy, api = the REST API "
        "process, client = the load generator's processes.",
        "clients: one mcp.Client session per concurrent worker; at c=32 the workers are split "
        f"between {args.load_processes} load generator processes (bench.load_pool), so one "
        "Python client process is not the limit; at c=1 and c=8 one process (no CPU "
        "oversubscribed while CPU per call is read); 2025-11-25 = mode='legacy', "
        "2026-07-28 = mode='2026-07-28'.",
        f"calls per measurement: {calls}, at most {plan.time_limit:g} s each, in "
        f"{plan.rounds} round(s) alternating between the targets. Latency is per call; "
        "throughput = calls that succeeded / measured time.",
        f"machine: {cpus} CPUs, {platform.system()} {platform.machine()}, load average "
        f"{load1:.2f} (1 min), {load5:.2f} (5 min) at start; Python {versions['python']}.",
        f"note: the load generator and every server share these {cpus} CPUs, and so does any "
        "other work on the machine: calls/s measure the CPU the whole chain spends per call; "
        "the cpu columns are the robust numbers.",
    ]
    return [textwrap.fill(text, width=100, subsequent_indent="  ") for text in paragraphs]


def _run(
    args: argparse.Namespace, plan: Plan, work_dir: Path, servers: list[RunningServer]
) -> list[report.Result]:
    """Start the servers (appending each to `servers`, for the caller to stop) and measure.

    In three waves: the domain servers (whose tools the peers publish, `bench.contract`), then
    the peers (the session-based floor among them), then the hops, which check their
    upstreams when they start.

    Raises:
        ServerError: a server did not start or become ready, or a peer could not publish the
            domain servers' tools as they do.
    """
    with running_issuer() as issuer:
        specs = server_specs(args, work_dir, issuer)
        _progress(f"starting {len(specs)} servers (logs in {work_dir}) ...")
        running: dict[str, RunningServer] = {}

        def start_wave(names: Sequence[str]) -> None:
            started = [name for name in names if name in specs]
            for name in started:
                running[name] = start(specs[name], work_dir)
                servers.append(running[name])
            for name in started:
                wait_ready(running[name])

        start_wave(DOMAIN_PROCESSES)
        contract = _capture_contract(running)
        write_contract(work_dir / CONTRACT_FILE, contract)
        start_wave(PEER_PROCESSES)
        _check_peers(running, contract)
        start_wave([name for name in specs if name not in DOMAIN_PROCESSES + PEER_PROCESSES])
        targets = build_targets(args, running, issuer.token())
        return anyio.run(measure_all, targets, plan, args.load_processes)


def _capture_contract(running: Mapping[str, RunningServer]) -> dict[str, Published]:
    calls: dict[str, list[ToolCall]] = {running[report.USERS].spec.mcp_url: list(TOOLS.values())}
    for domain, call in DOMAIN_CALLS.items():
        if domain in running:
            calls[running[domain].spec.mcp_url] = [call]
    try:
        contract = anyio.run(capture, calls)
    except ContractError as exc:
        raise ServerError(f"cannot read the domain servers' tools: {exc}") from exc
    return contract


def _check_peers(running: Mapping[str, RunningServer], contract: Mapping[str, Published]) -> None:
    for name in PEER_PROCESSES:
        if name in running:
            try:
                anyio.run(check_published, running[name].spec.mcp_url, contract)
            except ContractError as exc:
                raise ServerError(
                    f"{name} does not publish the domain servers' tools: {exc}"
                ) from exc


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    pexes = [getattr(args, f"{name}_pex") for name in PEXES]
    missing = [str(p) for p in pexes if not p.is_file()]
    if missing:
        print(
            f"error: {', '.join(missing)} not found (relative to {Path.cwd()}); build them first:"
            f"\n  {BUILD_COMMAND}",
            file=sys.stderr,
        )
        return 2
    plan = QUICK if args.quick else FULL
    header = _header(args, plan)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with _work_dir(args.work_dir) as work_dir:
        servers: list[RunningServer] = []
        try:
            results = _run(args, plan, work_dir, servers)
        except (ServerError, LoadPoolError) as exc:
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
        "goals (per protocol generation): each domain server's CPU per call at most 1.5x the "
        "floor's and below FastMCP's, its throughput at c=32 at least 0.8x the floor's; "
        "users->api within 1.5x of fastmcp->api; the aggregator's hop at most 1.0 ms of CPU "
        "per call, its p50 at c=1 at most 1.3x direct (users) and its throughput at c=32 at "
        "least 0.7x direct"
    )
    print(report.format_ratios(found))
    load1, load5, _ = os.getloadavg()
    print(
        f"\nload average at the end: {load1:.2f} (1 min), {load5:.2f} (5 min); other work on "
        "the machine skews every number"
    )
    if args.json is not None:
        meta: dict[str, Any] = {
            "started_at": started_at,
            "tool": args.tool,
            "arguments": dict(TOOLS[args.tool].arguments),
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
