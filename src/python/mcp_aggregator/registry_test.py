"""The upstream registry on its own, against real (test) MCP servers: applying a configuration,
the merged catalog and who hears of its changes, readiness, failed calls and refreshes.

The background loops are not started: each test drives the registry through its methods, as the
app's loops and the front do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from mcp_aggregator.catalog import Catalog
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import build_upstream
from mcp_aggregator.errors import NotReady
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_testkit.testing import free_port, serve

pytestmark = pytest.mark.anyio

ALPHA_TOOLS = {"lookup", "alpha_count", "alpha_fail"}
BETA_TOOLS = {"search", "beta_count", "beta_fail"}


@contextlib.asynccontextmanager
async def registry(**settings: Any) -> AsyncIterator[UpstreamRegistry]:
    live = UpstreamRegistry(RegistrySettings(**settings))
    try:
        with anyio.fail_after(30):
            yield live
    finally:
        await live.aclose()


@contextlib.asynccontextmanager
async def alpha_and_beta() -> AsyncIterator[tuple[UpstreamConfig, UpstreamConfig]]:
    async with (
        serve(build_upstream("alpha", ["lookup"])) as alpha,
        serve(build_upstream("beta", ["search"])) as beta,
    ):
        yield UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")


def _tools(catalog: Catalog) -> set[str]:
    return {tool.name for tool in catalog.tools}


async def test_apply_adds_new_keeps_unchanged_drops_removed_and_replaces_changed() -> None:
    async with alpha_and_beta() as (alpha, beta), registry() as live:
        await live.apply([alpha])
        assert _tools(live.catalog) == ALPHA_TOOLS, "a new upstream is listed at once"
        kept = live.upstreams["alpha"]

        await live.apply([alpha, beta])
        assert _tools(live.catalog) == ALPHA_TOOLS | BETA_TOOLS
        assert live.upstreams["alpha"] is kept, "an unchanged upstream keeps its state"

        await live.apply([UpstreamConfig("alpha", alpha.url, tool_prefix="a.")])
        assert _tools(live.catalog) == {f"a.{name}" for name in ALPHA_TOOLS}
        assert live.catalog.tool_routes["a.lookup"].upstream_name == "lookup"
        assert live.upstreams["alpha"] is not kept, "a changed upstream is replaced"
        assert sorted(live.upstreams) == ["alpha"], "beta is dropped"


async def test_listeners_hear_old_and_new_catalogs_only_when_something_changed() -> None:
    heard: list[tuple[set[str], set[str]]] = []
    async with alpha_and_beta() as (alpha, beta), registry() as live:
        live.on_change(lambda old, new: heard.append((_tools(old), _tools(new))))
        await live.apply([alpha])
        await live.apply([alpha])
        live.rebuild()
        await live.apply([alpha, beta])
        await live.apply([])
    assert heard == [
        (set(), ALPHA_TOOLS),
        (ALPHA_TOOLS, ALPHA_TOOLS | BETA_TOOLS),
        (ALPHA_TOOLS | BETA_TOOLS, set()),
    ]


async def test_ready_while_any_upstream_is_available_and_not_ready_naming_why() -> None:
    dead = UpstreamConfig("dead", f"http://127.0.0.1:{free_port()}/mcp", connect_timeout=1.0)
    async with alpha_and_beta() as (alpha, _), registry() as live:
        with pytest.raises(NotReady, match="^no upstream available: none configured$"):
            await live.check_ready()
        await live.apply([alpha, dead])
        await live.check_ready()
        described = live.describe()
        await live.apply([dead])
        with pytest.raises(NotReady) as refused:
            await live.check_ready()
    assert described == {
        "alpha": {"health": "up", "sessions": "stateless"},
        "dead": {"health": "down", "sessions": "unknown"},
    }
    message = str(refused.value)
    assert message.startswith("no upstream available: dead (down: "), message
    assert "connection refused" in message
    assert dead.url not in message, "readiness is unauthenticated: no address in it"


async def test_failed_calls_withdraw_an_upstream_after_its_grace_and_a_refresh_returns_it() -> None:
    heard: list[set[str]] = []
    async with alpha_and_beta() as (alpha, beta), registry(unavailable_after=0.0) as live:
        await live.apply([alpha, beta])
        live.on_change(lambda old, new: heard.append(_tools(new)))
        upstream = live.upstreams["beta"]

        live.report_call_failure(upstream, "timed out")
        assert _tools(live.catalog) == ALPHA_TOOLS | BETA_TOOLS, "a first failure may be a blip"
        assert heard == []

        live.report_call_failure(upstream, "timed out")
        assert _tools(live.catalog) == ALPHA_TOOLS
        assert live.unavailable_owner("search") is upstream, "errors can name the owner"
        assert live.unavailable_owner("lookup") is None
        assert live.describe()["beta"]["health"] == "down"
        await live.check_ready()  # alpha still serves

        await live.refresh_all()  # beta never went away
        assert _tools(live.catalog) == ALPHA_TOOLS | BETA_TOOLS
    assert heard == [ALPHA_TOOLS, ALPHA_TOOLS | BETA_TOOLS]


async def test_a_refresh_picks_up_what_an_upstream_added_since() -> None:
    growing = MCPServer("growing")

    async def first() -> str:
        return "first"

    async def late() -> str:
        return "late"

    growing.add_tool(first, name="first")
    heard: list[tuple[set[str], set[str]]] = []
    async with (
        serve(growing.streamable_http_app(stateless_http=True)) as url,
        registry() as live,
    ):
        await live.apply([UpstreamConfig("growing", f"{url}/mcp")])
        live.on_change(lambda old, new: heard.append((_tools(old), _tools(new))))
        growing.add_tool(late, name="late")
        assert _tools(live.catalog) == {"first"}, "nothing changes before a refresh"
        await live.refresh_all()
    assert _tools(live.catalog) == {"first", "late"}
    assert heard == [({"first"}, {"first", "late"})]
