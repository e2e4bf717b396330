"""`./pants run src/python/mcp_stack:bin`: start the local stack and keep it running.

Starts a local Entra ID (the development issuer, see `mcp_stack.identity`), the three domain
servers and the aggregator, each service its own process, with authentication on every hop
as on AKS; waits until every one is ready, and prints the endpoint, a developer token and a
client configuration. Data lives in ./var (SQLite files), logs in ./var/logs, the aggregator's
registry in ./var/upstreams.yaml and its authorization policy in ./var/policy.yaml (edit them
while the stack runs: the aggregator applies the change). `--no-auth` runs without
authentication (loopback only). Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import yaml

from mcp_stack.identity import StackIdentity, local_identity
from mcp_stack.stack import (
    AGGREGATOR,
    DOMAIN_SERVICES,
    Service,
    StackError,
    client_config,
    registry_document,
    start,
    stop,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcp-stack", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-auth", action="store_true", help="no authentication (auth=none, loopback only)"
    )
    options = parser.parse_args(argv)
    var = Path("var")
    var.mkdir(exist_ok=True)
    with contextlib.ExitStack() as resources:
        identity = None if options.no_auth else resources.enter_context(local_identity(var))
        return run(var, identity)


def run(var: Path, identity: StackIdentity | None) -> int:
    log_dir = var / "logs"
    registry = var / "upstreams.yaml"
    registry.write_text(
        "# The aggregator's upstreams (Envoy v3 clusters); edits apply while it runs.\n"
        + yaml.safe_dump(
            registry_document(DOMAIN_SERVICES, authenticated=identity is not None),
            sort_keys=False,
        )
    )
    # Domains first: the aggregator's first look at its upstreams then finds them up.
    stages: list[Sequence[Service]] = [DOMAIN_SERVICES, [AGGREGATOR]]
    services = (*DOMAIN_SERVICES, AGGREGATOR)
    env = {"MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry.resolve())}
    token = None
    if identity is not None:
        env.update(identity.environment(services))
        token = identity.identity.user_token()
        (var / "dev-token").write_text(token)
    print(f"starting the local stack ({', '.join(s.name for s in services)}) ...", flush=True)
    try:
        running = start(stages, log_dir, env)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    endpoint = f"{AGGREGATOR.url}/mcp"
    print("\nready. MCP endpoint for clients (all tools, one namespace):\n")
    print(f"  {endpoint}\n")
    print("domain servers (each also reachable on its own):")
    for item in running:
        print(f"  {item.service.name:<10} {item.service.url}/mcp   (pid {item.process.pid})")
    if identity is not None:
        entra = identity.identity.entra
        print(
            f"\nauthentication: Entra ID tokens from the local issuer {entra.authority} "
            f"(tenant {entra.tenant_id});\npolicy: {identity.policy_file}; a developer token "
            f"(12 h, scopes mcp.access tickets.write) is in {var / 'dev-token'}:\n"
            f"  MCP_BEARER_TOKEN=$(cat {var / 'dev-token'}) dist/mcp-client.pex tools"
        )
    else:
        print("\nauthentication: OFF (--no-auth); anyone on this machine can call every tool")
    print("\nmcp.json for VS Code, Claude Desktop, Cursor and other MCP clients:\n")
    print(client_config(endpoint, token))
    print(
        f"\nlogs: {log_dir}/*.log   data: {var}/*.sqlite3   registry: {registry}   stop: Ctrl-C\n",
        flush=True,
    )
    try:
        while True:
            for item in running:
                code = item.process.poll()
                if code is not None:
                    print(
                        f"{item.service.name} exited with code {code}; see {item.log_path}",
                        flush=True,
                    )
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping ...", flush=True)
        return 0
    finally:
        stop(running)


if __name__ == "__main__":
    sys.exit(main())
