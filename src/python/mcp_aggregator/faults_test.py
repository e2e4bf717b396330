"""Upstream faults: a stream that breaks mid-answer, garbage, and slowness.

Each gives the client a clean JSON-RPC answer naming the upstream, counts in the metrics with
its outcome, and never stalls the calls to a healthy upstream. The faulty upstream is a real
HTTP server (uvicorn on 127.0.0.1) that misbehaves at the protocol level.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from starlette.types import Receive, Scope, Send

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import build_upstream
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.testing import serve, tool_error

pytestmark = pytest.mark.anyio

TOOLS = {
    "broken": "answers progress, then the connection drops before the result",
    "garbage": "answers 200 with text that is not JSON-RPC",
    "slow": "answers nothing for longer than the call timeout",
    "trickle": "answers a large JSON result in small pieces, with pauses between them",
}
TRICKLED = "x" * 300_000


class FaultyUpstream:
    """An MCP upstream whose tools fail at the HTTP level, each in its own way."""

    def __init__(self) -> None:
        self.release = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body) if body else {}
        method, request_id = request.get("method"), request.get("id")
        if method == "tools/call":
            await getattr(self, request["params"]["name"])(send, request_id)
            return
        result: dict[str, Any] = {}
        if method == "initialize":
            result = {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "faulty", "version": "1"},
            }
        elif method == "tools/list":
            result = {
                "tools": [
                    {"name": n, "description": d, "inputSchema": {"type": "object"}}
                    for n, d in TOOLS.items()
                ]
            }
        if request_id is None:
            await _send(send, 202, b"", "application/json")
            return
        answer = {"jsonrpc": "2.0", "id": request_id, "result": result}
        await _send(send, 200, json.dumps(answer).encode(), "application/json")

    async def broken(self, send: Send, request_id: Any) -> None:
        progress = {
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {"level": "info", "data": "working"},
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"content-length", b"100000"),
                ],
            }
        )
        event = f"event: message\ndata: {json.dumps(progress)}\n\n".encode()
        await send({"type": "http.response.body", "body": event, "more_body": True})
        raise ConnectionResetError("the upstream's process died mid-answer")

    async def trickle(self, send: Send, request_id: Any) -> None:
        result = {"content": [{"type": "text", "text": TRICKLED}], "resultType": "complete"}
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        piece = 16 * 1024
        for start in range(0, len(body), piece):
            await anyio.sleep(0.005)
            more = start + piece < len(body)
            await send(
                {
                    "type": "http.response.body",
                    "body": body[start : start + piece],
                    "more_body": more,
                }
            )

    async def garbage(self, send: Send, request_id: Any) -> None:
        await _send(send, 200, b"<html>upstream proxy error</html>", "application/json")

    async def slow(self, send: Send, request_id: Any) -> None:
        with anyio.move_on_after(30):
            await self.release.wait()
        answer = {"jsonrpc": "2.0", "id": request_id, "result": {"content": []}}
        await _send(send, 200, json.dumps(answer).encode(), "application/json")


async def _send(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def platform() -> AsyncIterator[tuple[str, FaultyUpstream]]:
    faulty = FaultyUpstream()
    async with (
        serve(faulty) as faulty_url,
        serve(build_upstream("alpha", ["lookup"])) as alpha_url,
    ):
        upstreams = [
            UpstreamConfig("faulty", f"{faulty_url}/mcp", call_timeout=1.0, retries=0),
            UpstreamConfig("alpha", f"{alpha_url}/mcp"),
        ]
        settings = AggregatorSettings(probe_interval_seconds=0.2, unavailable_after_seconds=30)
        async with serve(build_app(settings, upstreams)) as url:
            yield url, faulty
        faulty.release.set()


async def _metrics(url: str) -> str:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{url}/metrics")).text


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_each_fault_is_a_clean_named_error_counted_and_the_rest_keeps_working(
    platform: tuple[str, FaultyUpstream], mode: str
) -> None:
    url, _faulty = platform
    results: dict[str, Any] = {}
    healthy: list[bool] = []
    async with Client(f"{url}/mcp", mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"broken", "garbage", "slow", "lookup"} <= names

        async def fault(name: str) -> None:
            with anyio.fail_after(20):
                results[name] = await client.call_tool(name, {})

        async def meanwhile() -> None:
            for _ in range(5):
                result = await client.call_tool("lookup", {"text": "fine"})
                healthy.append(not result.is_error)

        async with anyio.create_task_group() as group:
            for name in TOOLS:
                group.start_soon(fault, name)
            group.start_soon(meanwhile)
    assert healthy == [True] * 5, "calls to a healthy upstream are never stalled"
    broken, slow = tool_error(results["broken"]), tool_error(results["slow"])
    assert broken.code == "upstream_error"
    assert "upstream 'faulty' broke off its answer before it was complete" in broken.message
    assert slow.code == "upstream_unavailable"
    assert "upstream 'faulty' did not answer within 1s" in slow.message
    # A JSON answer that arrives in pieces is passed on whole (not what had arrived so far).
    trickled = results["trickle"]
    assert not trickled.is_error, trickled.content[0]
    assert trickled.content[0].text == TRICKLED
    garbage = tool_error(results["garbage"])
    assert garbage.code == "upstream_error"
    assert (
        "upstream 'faulty' answered with something that is not a JSON-RPC message"
        in garbage.message
    )
    metrics = await _metrics(url)
    outcomes = (("broken", "upstream_error"), ("slow", "timeout"), ("garbage", "upstream_error"))
    for name, outcome in outcomes:
        line = f'mcp_aggregator_requests_total{{method="tools/call",name="{name}",outcome="{outcome}",upstream="faulty"}}'
        assert line in metrics, f"{name} is counted as {outcome}"
