"""Test upstreams for the aggregator's tests: small MCP servers built with the SDK.

The aggregator's own tests never import a domain service (services meet only over the
network); these servers stand in for any upstream, with tools chosen per test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest
from mcp import Client, types
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.testing import serve

UpstreamFactory = Callable[..., Any]

FAST = {"unavailable_after_seconds": 0.5, "probe_interval_seconds": 0.2, "debounce_seconds": 0.1}
"""Health settings under which a dead upstream is withdrawn (and comes back) within a test."""


class HeaderRecorder:
    """ASGI middleware that remembers the headers (and JSON bodies) of the requests it passes on."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.seen: list[dict[str, str]] = []
        self.bodies: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        chunks: list[bytes] = []

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and chunks:
                    with contextlib.suppress(ValueError):
                        self.bodies.append(json.loads(b"".join(chunks)))
            return message

        await self._app(scope, recording, send)


def build_upstream(
    name: str, tools: Sequence[str] = ("echo",), *, prompts: bool = False
) -> HeaderRecorder:
    """A stateless MCP server whose tools answer with who they are and what they got."""
    server = MCPServer(name)

    def add_echo(tool_name: str) -> None:
        async def echo(text: str = "") -> dict[str, str]:
            return {"upstream": name, "tool": tool_name, "text": text}

        server.add_tool(
            echo,
            name=tool_name,
            description=f"Echo from {name}.",
            annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
        )

    for tool_name in tools:
        add_echo(tool_name)

    @server.tool(name=f"{name}_count", description="Count to `steps`, reporting progress and logs.")
    async def count(steps: int, ctx: Context) -> dict[str, int]:
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
            await ctx.info(f"{name} counted {step}")
            await anyio.sleep(0.01)
        return {"counted": steps}

    @server.tool(name=f"{name}_fail", description="Always fails.")
    async def fail() -> str:
        raise ValueError(f"{name} refuses")

    if prompts:

        @server.prompt(name=f"{name}_greeting", description="A greeting.")
        def greeting(who: str) -> str:
            return f"Hello {who} from {name}"

    return HeaderRecorder(server.streamable_http_app(stateless_http=True))


def stateful_upstream() -> Any:
    """A session-based MCP server: `count` counts per session, `ask` asks for sampling."""
    server = MCPServer("stateful")
    counters: dict[str, int] = {}

    @server.tool(name="count", description="How often this session has called count.")
    async def count(ctx: Context) -> dict[str, int]:
        request = ctx.request_context.request
        key = request.headers.get("mcp-session-id", "") if request is not None else ""
        counters[key] = counters.get(key, 0) + 1
        return {"count": counters[key]}

    @server.tool(name="ask", description="Ask the client's model a question.")
    async def ask(question: str, ctx: Context) -> str:
        message = types.SamplingMessage(
            role="user", content=types.TextContent(type="text", text=question)
        )
        result = await ctx.session.create_message(
            [message], max_tokens=10, related_request_id=ctx.request_id
        )
        content = result.content
        return (
            f"the model said: {content.text if isinstance(content, types.TextContent) else content}"
        )

    return server.streamable_http_app(stateless_http=False, host="127.0.0.1")


@pytest.fixture
def upstream_factory() -> UpstreamFactory:
    return build_upstream


@contextlib.asynccontextmanager
async def aggregator(upstreams: Sequence[UpstreamConfig], **settings: Any) -> AsyncIterator[str]:
    """The real aggregator app in front of `upstreams`, served on 127.0.0.1; its base URL.
    `settings` override FAST and the defaults."""
    app = build_app(AggregatorSettings(**{**FAST, **settings}), upstreams)
    async with serve(app) as url:
        yield url


async def tool_names(url: str, mode: str = "2026-07-28") -> list[str]:
    """The tools the aggregator at `url` lists, as the real MCP client sees them."""
    async with Client(f"{url}/mcp", mode=mode) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll `predicate` until it holds; fails the test after `timeout` seconds."""
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.1)
