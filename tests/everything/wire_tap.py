"""A recording HTTP proxy in front of an MCP server: what really crossed the wire.

Some behaviour cannot be seen by the client alone: a client drops the late result of a request
it cancelled, so "the result never came" proves nothing from the client's side. `WireTap`
forwards every request to the server unchanged, streams every answer back unchanged (SSE
included), and records each JSON-RPC message in both directions, so a test can assert that the
server itself received `notifications/cancelled` and never answered the request it named.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mcp_testkit.testing import serve

# Hop-by-hop headers, and the ones the relay recomputes; no compression, so SSE can be read.
_REQUEST_DROPS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
_RESPONSE_DROPS = {"content-length", "connection", "transfer-encoding", "keep-alive"}


def _messages(payload: bytes) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(payload)
    except ValueError:
        return []
    items = parsed if isinstance(parsed, list) else [parsed]
    return [item for item in items if isinstance(item, dict)]


def _sse_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The `data` payloads of the complete SSE events in `buffer`, and the unfinished rest."""
    buffer = buffer.replace(b"\r\n", b"\n")
    *events, rest = buffer.split(b"\n\n")
    payloads = []
    for event in events:
        data = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
        if data and any(data):
            payloads.append(b"\n".join(data))
    return payloads, rest


@dataclass
class WireTap:
    """The messages seen so far: `to_server` (requests and notifications the server received,
    responses to its own requests), `to_client` (everything the server sent) and the
    `Mcp-Session-Id`s the server handed out. `upstream` may change between requests (a load
    balancer moving a client to another replica)."""

    upstream: str
    to_server: list[dict[str, Any]] = field(default_factory=list)
    to_client: list[dict[str, Any]] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def _seen(self, into: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
        if messages:
            into.extend(messages)
            self.changed.set()
            self.changed = anyio.Event()

    def requests(self, method: str) -> list[dict[str, Any]]:
        """The requests (and notifications) of `method` the server received."""
        return [message for message in self.to_server if message.get("method") == method]

    def responses_to(self, request_id: Any) -> list[dict[str, Any]]:
        """The server's responses (results or errors) to its client's request `request_id`."""
        return [
            message
            for message in self.to_client
            if "method" not in message and message.get("id") == request_id
        ]

    async def wait_for(self, condition: Callable[[], bool], *, timeout: float) -> None:
        """Until `condition()` holds for what was recorded.

        Raises:
            TimeoutError: it did not within `timeout` seconds.
        """
        with anyio.fail_after(timeout):
            while not condition():
                await self.changed.wait()

    def app(self, client: httpx.AsyncClient) -> Starlette:
        async def relay(request: Request) -> Response:
            body = await request.body()
            self._seen(self.to_server, _messages(body))
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _REQUEST_DROPS}
            outgoing = client.build_request(
                request.method, self.upstream, headers=headers, content=body
            )
            answer = await client.send(outgoing, stream=True)
            issued = answer.headers.get("mcp-session-id")
            if issued and issued not in self.session_ids:
                self.session_ids.append(issued)
            is_sse = answer.headers.get("content-type", "").startswith("text/event-stream")

            async def stream() -> AsyncIterator[bytes]:
                pending = b""
                try:
                    async for chunk in answer.aiter_raw():
                        pending += chunk
                        if is_sse:
                            payloads, pending = _sse_events(pending)
                            for payload in payloads:
                                self._seen(self.to_client, _messages(payload))
                        yield chunk
                    if not is_sse:
                        self._seen(self.to_client, _messages(pending))
                finally:
                    await answer.aclose()

            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _RESPONSE_DROPS}
            return StreamingResponse(stream(), status_code=answer.status_code, headers=kept)

        return Starlette(routes=[Route("/mcp", relay, methods=["GET", "POST", "DELETE"])])


@contextlib.asynccontextmanager
async def wire_tap(upstream: str) -> AsyncIterator[tuple[str, WireTap]]:
    """A `WireTap` in front of the MCP endpoint `upstream`, served on 127.0.0.1; yields its
    MCP URL and the tap."""
    tap = WireTap(upstream)
    timeout = httpx.Timeout(30.0, read=None)
    async with httpx.AsyncClient(timeout=timeout) as client, serve(tap.app(client)) as base:
        yield f"{base}/mcp", tap
