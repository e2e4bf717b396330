"""`./pants run src/python/mcp_stack:bin`: start the local stack and keep it running.

Starts the three domain servers and the aggregator, each its own process, waits until every
one is ready, and prints the endpoint and a client configuration. Data lives in ./var (SQLite
files), logs in ./var/logs, and the aggregator's registry in ./var/upstreams.yaml (edit it
while the stack runs: the aggregator applies the change). Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import yaml

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


def main() -> int:
    var = Path("var")
    log_dir = var / "logs"
    var.mkdir(exist_ok=True)
    registry = var / "upstreams.yaml"
    registry.write_text(
        "# The aggregator's upstreams (Envoy v3 clusters); edits apply while it runs.\n"
        + yaml.safe_dump(registry_document(DOMAIN_SERVICES), sort_keys=False)
    )
    # Domains first: the aggregator's first look at its upstreams then finds them up.
    stages: list[Sequence[Service]] = [DOMAIN_SERVICES, [AGGREGATOR]]
    services = (*DOMAIN_SERVICES, AGGREGATOR)
    print(f"starting the local stack ({', '.join(s.name for s in services)}) ...", flush=True)
    try:
        running = start(stages, log_dir, {"MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry.resolve())})
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
    print("\nmcp.json for VS Code, Claude Desktop, Cursor and other MCP clients:\n")
    print(client_config(endpoint))
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
