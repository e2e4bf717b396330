"""The aggregator under test: the platform started in-process for this session, or the server
at MCP_SERVER_URL when that is set (a deployed environment, with MCP_BEARER_TOKEN; see README.md).

Servers and MCP sessions live on one event loop in a background thread (an anyio blocking
portal) for the whole session; tests are plain functions that call through `ToolCaller`, so
hypothesis drives them like any other test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client
from mcp.types import CallToolResult, Tool

from mcp_client.conftest import inprocess_platform
from mcp_testkit.testing import PROTOCOL_MODES, connect


@dataclass(frozen=True)
class ToolCaller:
    """An open MCP session, used from synchronous test code."""

    portal: BlockingPortal
    session: Client
    mode: str

    def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Raises: MCPError for a JSON-RPC error answer."""
        result: CallToolResult = self.portal.call(self.session.call_tool, name, arguments)
        return result

    def list_tools(self) -> list[Tool]:
        tools: list[Tool] = []
        cursor: str | None = None
        for _ in range(100):
            page = self.portal.call(partial(self.session.list_tools, cursor=cursor))
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    # uvicorn (mcp_testkit.testing.serve) runs on asyncio.
    with start_blocking_portal(backend="asyncio") as running:
        yield running


@dataclass(frozen=True)
class Target:
    """The aggregator under test and the bearer token to call it with (None: send none)."""

    url: str
    token: str | None


@pytest.fixture(scope="session")
def target(portal: BlockingPortal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    configured = os.environ.get("MCP_SERVER_URL")
    if configured:
        yield Target(configured, os.environ.get("MCP_BEARER_TOKEN"))
        return
    root = tmp_path_factory.mktemp("platform")
    with portal.wrap_async_context_manager(inprocess_platform(root)) as started:
        yield Target(started.url, started.token)


@pytest.fixture(scope="session", params=PROTOCOL_MODES)
def client(
    request: pytest.FixtureRequest, portal: BlockingPortal, target: Target
) -> Iterator[ToolCaller]:
    """One MCP session per protocol generation, shared by the tests."""
    session_cm = connect(target.url, target.token, request.param)
    with portal.wrap_async_context_manager(session_cm) as session:
        yield ToolCaller(portal, session, request.param)


@pytest.fixture(scope="session")
def live_tools(portal: BlockingPortal, target: Target) -> dict[str, Tool]:
    """The tools the aggregator lists now, by name."""
    with portal.wrap_async_context_manager(
        connect(target.url, target.token, "2026-07-28")
    ) as session:
        tools = ToolCaller(portal, session, "2026-07-28").list_tools()
    return {tool.name: tool for tool in tools}
