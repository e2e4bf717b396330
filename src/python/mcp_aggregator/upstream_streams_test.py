"""What a per-client upstream session sends on its GET stream reaches the client's GET stream.

A real session-based SDK server behind the real aggregator, and the real MCP client in the
2025-11-25 generation: the upstream's tools send what belongs to no request (standalone
notifications and requests ride its session's GET stream), and the client's message handler
shows what reached it. An upstream drops standalone messages while no GET stream is open, so
tests first call `announce` until one arrives: the aggregator then follows the stream.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client, types
from mcp.server.mcpserver import Context, MCPServer

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.sealing import Sealer
from mcp_aggregator.session_pool import SessionPool
from mcp_aggregator.session_relay import SERVER_REQUEST_PREFIX, SessionRelay
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.settings import AggregatorSettings
from mcp_aggregator.upstream_streams import UpstreamStreams
from mcp_common.auth import ANONYMOUS
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio


def announcing_upstream() -> Any:
    """A session-based server whose tools send on their session's GET stream."""
    server = MCPServer("announcing")

    @server.tool(name="announce", description="Say a resource changed, and log it.")
    async def announce(uri: str, ctx: Context) -> str:
        await ctx.session.send_resource_updated(uri)
        with warnings.catch_warnings():  # logging is deprecated in 2026-07-28, not in 2025-11-25
            warnings.simplefilter("ignore")
            await ctx.session.send_log_message("info", f"updated {uri}", logger="announcing")
        return "announced"

    @server.tool(name="touch", description="Say the prompts changed (they did not).")
    async def touch(ctx: Context) -> str:
        await ctx.session.send_prompt_list_changed()
        await ctx.session.send_resource_updated("file:///after-touch")
        return "touched"

    @server.tool(name="grow", description="Offer one more tool, and say so.")
    async def grow(ctx: Context) -> str:
        server.add_tool(lambda: "grown", name="grown", description="Added later.")
        await ctx.session.send_tool_list_changed()
        return "grown"

    @server.tool(name="ask_later", description="Ask the client's model, outside any request.")
    async def ask_later(ctx: Context) -> str:
        text = types.TextContent(type="text", text="the answer?")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = await ctx.session.create_message(
                [types.SamplingMessage(role="user", content=text)], max_tokens=10
            )
        content = result.content
        return content.text if isinstance(content, types.TextContent) else str(content)

    return server.streamable_http_app(stateless_http=False, host="127.0.0.1")


class Received:
    """The notifications a client received, in order (method, params)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, message: Any) -> None:
        if isinstance(message, Exception):
            return
        params = message.params.model_dump(mode="json", exclude_none=True) if message.params else {}
        self.messages.append((message.method, params))

    def methods(self) -> list[str]:
        return [method for method, _ in self.messages]

    def updated(self) -> list[str]:
        return [p["uri"] for m, p in self.messages if m == "notifications/resources/updated"]


@contextlib.asynccontextmanager
async def client_of_announcer(**options: Any) -> AsyncIterator[tuple[Client, Received]]:
    """A 2025-11-25 client of the aggregator in front of `announcing_upstream`, once the
    aggregator follows the client's upstream GET stream."""
    received = Received()
    # No periodic re-listing during a test: only a list_changed makes the aggregator re-list.
    settings = AggregatorSettings(refresh_interval_seconds=3600, debounce_seconds=0.1)
    async with (
        serve(announcing_upstream()) as upstream,
        serve(build_app(settings, [UpstreamConfig("announcing", f"{upstream}/mcp")])) as url,
        Client(f"{url}/mcp", mode="legacy", message_handler=received, **options) as client,
    ):
        with anyio.fail_after(30):
            while "file:///ready" not in received.updated():
                await client.call_tool("announce", {"uri": "file:///ready"})
                await anyio.sleep(0.2)
        yield client, received


async def test_resource_updates_and_log_messages_reach_the_clients_get_stream() -> None:
    async with client_of_announcer() as (client, received):
        await client.call_tool("announce", {"uri": "file:///report"})
        with anyio.fail_after(30):
            while (
                "notifications/message",
                _log("updated file:///report"),
            ) not in received.messages:
                await anyio.sleep(0.05)
    assert "file:///report" in received.updated()


def _log(text: str) -> dict[str, Any]:
    return {"level": "info", "logger": "announcing", "data": text}


async def test_an_upstreams_list_changed_is_not_relayed() -> None:
    async with client_of_announcer() as (client, received):
        await client.call_tool("touch", {})
        with anyio.fail_after(30):
            while "file:///after-touch" not in received.updated():
                await anyio.sleep(0.05)
    assert "notifications/prompts/list_changed" not in received.methods(), received.messages


async def test_an_upstreams_list_changed_makes_the_aggregator_list_it_again() -> None:
    async def names(client: Client) -> set[str]:
        return {tool.name for tool in (await client.list_tools()).tools}

    async with client_of_announcer() as (client, received):
        assert "grown" not in await names(client)
        seen = len(received.messages)
        await client.call_tool("grow", {})
        with anyio.fail_after(30):  # far sooner than the hourly re-listing
            while "grown" not in await names(client):
                await anyio.sleep(0.1)
            while "notifications/tools/list_changed" not in received.methods()[seen:]:
                await anyio.sleep(0.05)  # the aggregator's own announcement of the change


async def test_a_request_on_the_get_stream_reaches_the_client_and_its_answer_the_upstream() -> None:
    asked: list[Any] = []

    async def sampling(ctx: Any, params: types.CreateMessageRequestParams) -> Any:
        asked.append(ctx.request_id)
        answer = types.TextContent(type="text", text="forty-two")
        return types.CreateMessageResult(role="assistant", content=answer, model="m")

    async with client_of_announcer(sampling_callback=sampling) as (client, _received):
        with anyio.fail_after(30):
            result = await client.call_tool("ask_later", {})
    assert not result.is_error, result.content
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == "forty-two"
    assert len(asked) == 1
    assert str(asked[0]).startswith(SERVER_REQUEST_PREFIX), "the upstream's id, sealed"


async def test_only_per_client_sessions_are_followed_and_a_gone_session_ends_its_feed() -> None:
    async with (
        serve(announcing_upstream()) as mine_url,
        serve(announcing_upstream()) as ours_url,
    ):
        registry = UpstreamRegistry(RegistrySettings(unavailable_after=30))
        try:
            with anyio.fail_after(30):
                await registry.apply(
                    [
                        UpstreamConfig("mine", f"{mine_url}/mcp"),
                        UpstreamConfig("ours", f"{ours_url}/mcp", sessions="shared"),
                    ]
                )
            pool = SessionPool(registry)
            streams = UpstreamStreams(registry, SessionRelay(pool, Sealer.ephemeral()))
            opened = await pool.open_for_client({})
            client = ClientSession("nonce", opened)
            feeds = streams.feeds(client, ANONYMOUS)
            assert len(feeds) == 1, "the shared session's stream belongs to no one client"
            await pool.end(client)  # the upstream forgets the session: its GET is a 404

            async def put(event: bytes) -> None:
                raise AssertionError(f"nothing to relay, got {event!r}")

            with anyio.fail_after(10):
                await feeds[0](put)  # ends, rather than reopening the stream forever
        finally:
            await registry.aclose()
