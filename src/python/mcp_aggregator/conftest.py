"""Test upstreams for the aggregator's tests: small MCP servers built with the SDK.

The aggregator's own tests never import a domain service (services meet only over the
network); these servers stand in for any upstream, with tools chosen per test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UpstreamFactory = Callable[..., Any]


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


@pytest.fixture
def upstream_factory() -> UpstreamFactory:
    return build_upstream
