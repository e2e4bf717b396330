"""Test helpers: run a real ASGI app under uvicorn on 127.0.0.1 with a free port.

Tests talk to services over real HTTP, as clients in production do; this starts the server in
the test's own event loop and stops it when the block exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from mcp_common.errors import ReportedError
from mcp_common.tools import reported_error


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(
    app: Any,
    *,
    startup_timeout: float = 20.0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    port: int = 0,
) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) and yield its base URL, e.g. http://127.0.0.1:PORT.

    With `ssl_certfile` and `ssl_keyfile` it serves HTTPS and yields https://localhost:PORT.
    A `port` other than 0 serves there (a test restarting a server where it was).

    Raises:
        RuntimeError: when the server did not start in time.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=5,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn exited before it started")
                await asyncio.sleep(0.01)
        yield f"https://localhost:{port}" if ssl_certfile else f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
        _drop_stale_signal_handlers()


def _drop_stale_signal_handlers() -> None:
    """Put SIGTERM and SIGINT back to their defaults when their handler belongs to a uvicorn
    server that has stopped.

    Each server started in the main thread installs its handlers and restores, when it stops,
    the ones it found. Servers stopped in another order than they started (an upstream before
    the aggregator in front of it) leave the handler of a stopped server installed. The SSE
    library the SDK answers with reads that handler to learn of a shutdown (sse_starlette's
    watcher, one per event loop): every later SSE answer in the process, on any loop, was then
    cut off at once as if the server were stopping (answers "not completed", or an aggregator
    that could never list its upstream when test files shared one process).
    """
    if threading.current_thread() is not threading.main_thread():
        return  # uvicorn installs handlers from the main thread only
    for number in (signal.SIGTERM, signal.SIGINT):
        owner = getattr(signal.getsignal(number), "__self__", None)
        if isinstance(owner, uvicorn.Server) and owner.should_exit:
            if number == signal.SIGINT:
                signal.signal(number, signal.default_int_handler)
            else:
                signal.signal(number, signal.SIG_DFL)


PROTOCOL_MODES = ("legacy", "2026-07-28")
"""`mcp.Client` modes for both protocol generations: the 2025-11-25 handshake and stateless 2026-07-28."""


@contextlib.asynccontextmanager
async def connect(url: str, token: str | None, mode: str, **options: Any) -> AsyncIterator[Client]:
    """The real MCP client at `url` (the /mcp endpoint), sending `token` as a bearer token;
    `options` go to `mcp.Client` (callbacks such as `sampling_callback`, `message_handler`)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=None))
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **options) as client,
    ):
        yield client


def tool_error(result: CallToolResult) -> ReportedError:
    """The platform error a failed tool result carries; fails the test when it has none.

    Also checks the shape every mainstream client can read: no `structuredContent` (see
    `mcp_common.errors`), the text `<code>: <message>`, the code in `_meta`.
    """
    assert result.is_error, f"expected a tool error, got {result.content}"
    assert result.structured_content is None, "a tool error must not carry structuredContent"
    error = reported_error(result)
    assert error is not None, f"a tool error without the platform's code: {result}"
    return error
