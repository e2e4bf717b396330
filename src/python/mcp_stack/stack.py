"""Start the services as child processes, wait until each is ready, stop them together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from mcp_aggregator.config import envoy_bootstrap, envoy_cluster
from mcp_testkit.identity import domain_scope


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int
    env_prefix: str
    # Domain servers of the local stack serve seeded demo data (`<prefix>DEMO=true`).
    demo: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


DOMAIN_SERVICES: tuple[Service, ...] = (
    Service("users", "mcp_users", 8101, "MCP_USERS_", demo=True),
    Service("tickets", "mcp_tickets", 8102, "MCP_TICKETS_", demo=True),
    Service("data", "mcp_data", 8103, "MCP_DATA_", demo=True),
)
AGGREGATOR = Service("aggregator", "mcp_aggregator", 8000, "MCP_AGGREGATOR_")


def registry_document(
    domains: Sequence[Service], *, authenticated: bool = True
) -> dict[str, object]:
    """The aggregator's upstream registry (Envoy v3 clusters) for `domains` on 127.0.0.1.

    `authenticated`: each cluster names the scope the aggregator gets its token for.
    """
    return envoy_bootstrap(
        [
            envoy_cluster(
                s.name,
                "127.0.0.1",
                s.port,
                **({"scope": domain_scope(s.name)} if authenticated else {}),
            )
            for s in domains
        ]
    )


class StackError(Exception):
    """The stack could not start; the message says which service and why."""


@dataclass
class Running:
    service: Service
    process: subprocess.Popen[bytes]
    log_path: Path


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(
    stages: Sequence[Sequence[Service]], log_dir: Path, extra_env: dict[str, str] | None = None
) -> list[Running]:
    """Start the services stage by stage; return once all answer /health/ready.

    The services of one stage start together; the next stage starts when they are all ready
    (the aggregator's stage after the domains', so its first look finds them up). Each
    service runs as `python -m <module>` with this interpreter and `sys.path` (so it works
    from a PEX, a venv or a test), its port set through its own environment prefix.

    Raises:
        StackError: a port is taken, a service exited, or one was not ready in time; the
            services already started are stopped first.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    services = [service for stage in stages for service in stage]
    taken = [s for s in services if not _port_free(s.port)]
    if taken:
        names = ", ".join(f"{s.name} ({s.port})" for s in taken)
        raise StackError(
            f"port already in use: {names}; stop what holds it, or a stack already running"
        )
    running: list[Running] = []
    try:
        for stage in stages:
            started = [launch(s, log_dir / f"{s.name}.log", extra_env) for s in stage]
            running.extend(started)
            for item in started:
                wait_ready(item)
    except BaseException:
        stop(running)
        raise
    return running


def launch(service: Service, log_path: Path, extra_env: dict[str, str] | None = None) -> Running:
    """Start one service process (not waiting for it), its output appended to `log_path`."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        f"{service.env_prefix}PORT": str(service.port),
        **({f"{service.env_prefix}DEMO": "true"} if service.demo else {}),
        **(extra_env or {}),
    }
    with log_path.open("ab") as log:
        # Our own interpreter and module, never input from outside.
        command = [sys.executable, "-m", service.module]
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env)  # noqa: S603
    return Running(service, process, log_path)


def wait_ready(item: Running, timeout: float = 60.0) -> None:
    """Block until `item` answers /health/ready with 200.

    Raises:
        StackError: it exited, or was not ready within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = item.process.poll()
        if code is not None:
            raise StackError(
                f"{item.service.name} exited with code {code}; last log lines "
                f"({item.log_path}):\n{_tail(item.log_path)}"
            )
        try:
            response = httpx.get(f"{item.service.url}/health/ready", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise StackError(f"{item.service.name} was not ready within {timeout:g}s: {last}")


def stop(running: Sequence[Running], timeout: float = 10.0) -> None:
    """SIGTERM every process (reverse order), then SIGKILL what is left after `timeout`."""
    for item in reversed(running):
        if item.process.poll() is None:
            item.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for item in running:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            item.process.wait(remaining)
        except subprocess.TimeoutExpired:
            item.process.kill()
            item.process.wait()


def client_config(url: str, token: str | None = None) -> str:
    """A ready-to-paste `mcp.json` for MCP clients (VS Code, Claude Desktop, Cursor...)."""
    server: dict[str, object] = {"type": "http", "url": url}
    if token:
        server["headers"] = {"Authorization": f"Bearer {token}"}
    return json.dumps({"mcpServers": {"mcp-platform": server}}, indent=2)
