"""The platform the client is tested against: the real aggregator in front of the three real
domain servers, each a uvicorn server on 127.0.0.1 over its own temporary SQLite database.

The client talks to them only over HTTP, as in production; they run in the test's event loop
(`inprocess_platform`), which the contract tests reuse.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcp_aggregator.app import build_app as build_aggregator
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.settings import AggregatorSettings
from mcp_client.cli import main
from mcp_data.app import build_app as build_data
from mcp_data.settings import DataSettings
from mcp_testkit.fake_entra import fake_entra
from mcp_testkit.identity import DEV_POLICY, LocalIdentity, domain_scope
from mcp_testkit.testing import serve
from mcp_tickets.app import build_app as build_tickets
from mcp_tickets.settings import TicketsSettings
from mcp_users.app import build_app as build_users
from mcp_users.settings import UsersSettings

CLIENT_ENVIRONMENT = (
    "MCP_SERVER_URL",
    "DISCOVERY_TIMEOUT",
    "CALL_TIMEOUT",
    "MCP_PROTOCOL",
    "MCP_BEARER_TOKEN",
    "MCP_CREDENTIAL",
    "MCP_TOKEN_SCOPE",
    "MCP_CA_BUNDLE",
)


@dataclass(frozen=True)
class LocalPlatform:
    """The platform started in-process: its MCP URL and a token that may call every tool."""

    url: str
    token: str
    identity: LocalIdentity


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.asynccontextmanager
async def inprocess_platform(root: Path) -> AsyncIterator[LocalPlatform]:
    """Start a local Entra ID, users, tickets, data and the aggregator, with authentication on
    on every hop as on AKS; yield once every upstream is listed (readiness policy `all`)."""
    async with contextlib.AsyncExitStack() as stack:
        identity = LocalIdentity(await stack.enter_async_context(fake_entra(root)))
        upstreams = []
        for name, app in (
            (
                "users",
                build_users(
                    UsersSettings(
                        database_url=_sqlite(root, "users"), **identity.domain("users"), demo=True
                    )
                ),
            ),
            (
                "tickets",
                build_tickets(
                    TicketsSettings(
                        database_url=_sqlite(root, "tickets"),
                        **identity.domain("tickets"),
                        demo=True,
                    )
                ),
            ),
            (
                "data",
                build_data(
                    DataSettings(
                        database_url=_sqlite(root, "data"), **identity.domain("data"), demo=True
                    )
                ),
            ),
        ):
            url = await stack.enter_async_context(serve(app))
            upstreams.append(UpstreamConfig(name, f"{url}/mcp", scope=domain_scope(name)))
        policy = root / "policy.yaml"
        policy.write_text(DEV_POLICY)
        settings = AggregatorSettings(readiness_policy="all", **identity.aggregator(policy))
        # The aggregator's WorkloadIdentityCredential reads what the AKS webhook would set.
        with _environment(identity.entra.environment()):
            aggregator = build_aggregator(settings, upstreams)
        base = await stack.enter_async_context(serve(aggregator))
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(30):
                while (await http.get(f"{base}/health/ready")).status_code != 200:
                    await anyio.sleep(0.05)
        yield LocalPlatform(f"{base}/mcp", identity.app_token(), identity)


def _sqlite(root: Path, name: str) -> str:
    return f"sqlite+aiosqlite:///{root}/{name}.sqlite3"


@pytest.fixture
async def platform_url(
    tmp_path: Path, _no_client_environment: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """The in-process platform's URL; the CLI under test finds its token in MCP_BEARER_TOKEN."""
    async with inprocess_platform(tmp_path) as started:
        monkeypatch.setenv("MCP_BEARER_TOKEN", started.token)
        yield started.url


@pytest.fixture(autouse=True)
def _no_client_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from no client settings in the environment (a developer's own
    MCP_BEARER_TOKEN or MCP_SERVER_URL must not change what a test sees)."""
    for name in CLIENT_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("AZURE_")]:
        monkeypatch.delenv(name, raising=False)


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def run_cli(*argv: str) -> CliRun:
    """Run `mcp-client ARGV` in a worker thread (its own event loop), as a user would."""
    out, err = io.StringIO(), io.StringIO()
    code = await anyio.to_thread.run_sync(
        partial(main, list(argv), out=out, err=err), abandon_on_cancel=True
    )
    return CliRun(code, out.getvalue(), err.getvalue())
