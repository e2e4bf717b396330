"""A test upstream served in-process next to the real domains: tools that show streaming.

- `echo(text)`: answers at once (read-only, idempotent), so calls can be counted per replica.
- `held(text)`: reports progress, then waits until the test has *received* that progress
  (`release`), then returns. Through a proxy that buffers event streams the progress would
  arrive only with the result, which never comes: the call would hang, not pass.
- `slow(text, seconds)`: takes a while, so calls are in flight when a replica is killed.
"""

from __future__ import annotations

import threading

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from starlette.types import ASGIApp

PROBE_TOOLS = {"echo", "held", "slow"}


class Probe:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.held_released: list[bool] = []

    def app(self) -> ASGIApp:
        server = MCPServer("probe")
        read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True)

        @server.tool(name="echo", description="Echo the text.", annotations=read_only)
        async def echo(text: str) -> dict[str, str]:
            return {"text": text}

        @server.tool(name="held", description="Progress, then wait for the caller to see it.")
        async def held(text: str, ctx: Context) -> dict[str, object]:
            await ctx.report_progress(1, 2, f"started {text}")
            released = await anyio.to_thread.run_sync(self.release.wait, 30)
            self.held_released.append(released)
            await ctx.report_progress(2, 2, f"released {text}")
            return {"text": text, "released": released}

        @server.tool(name="slow", description="Answer after `seconds`.")
        async def slow(text: str, seconds: float) -> dict[str, str]:
            await anyio.sleep(seconds)
            return {"text": text}

        return server.streamable_http_app(stateless_http=True)
