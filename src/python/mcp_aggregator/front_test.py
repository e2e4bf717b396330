"""The `/mcp` pipeline: which requests are routed, refused or left to the SDK server, and that
every routed request is counted, refusals included.

(hostile_input_test covers parsing, 413 and 415; auth_test the policy's refusals.)
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import (
    HeaderRecorder,
    aggregator,
    build_upstream,
    eventually,
    tool_names,
)
from mcp_testkit.testing import serve, tool_error

pytestmark = pytest.mark.anyio

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = {**HEADERS, "MCP-Protocol-Version": "2025-11-25"}
MODERN = {**HEADERS, "MCP-Protocol-Version": "2026-07-28"}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
"""What a 2026-07-28 request carries in `_meta`."""
ROUTED = (
    "tools/call",
    "prompts/get",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
)


def _forwarded(upstream: HeaderRecorder) -> list[dict[str, Any]]:
    """The routed requests the upstream received."""
    return [b for b in upstream.bodies if isinstance(b, dict) and b.get("method") in ROUTED]


async def _counted(http: httpx.AsyncClient, url: str) -> list[str]:
    """The aggregator's tools/call request counters."""
    metrics = (await http.get(f"{url}/metrics")).text
    return [
        line
        for line in metrics.splitlines()
        if line.startswith("mcp_aggregator_requests_total{") and 'method="tools/call"' in line
    ]


async def test_calls_that_fail_while_resolving_are_counted_by_outcome() -> None:
    async with contextlib.AsyncExitStack() as stack:
        alpha = await stack.enter_async_context(serve(build_upstream("alpha", ["lookup"])))
        beta_stack = contextlib.AsyncExitStack()
        beta = await beta_stack.enter_async_context(serve(build_upstream("beta", ["search"])))
        url = await stack.enter_async_context(
            aggregator(
                [UpstreamConfig("alpha", f"{alpha}/mcp"), UpstreamConfig("beta", f"{beta}/mcp")]
            )
        )
        assert "search" in await tool_names(url)
        await beta_stack.aclose()  # beta goes down

        async def withdrawn() -> bool:
            return "search" not in await tool_names(url)

        await eventually(withdrawn)
        async with Client(f"{url}/mcp", mode="2026-07-28") as client, httpx.AsyncClient() as http:
            down = await client.call_tool("search", {})  # refused while resolving: beta is down
            with pytest.raises(MCPError):
                await client.call_tool("no-such-tool", {})
            metrics = (await http.get(f"{url}/metrics")).text
    assert tool_error(down).code == "upstream_unavailable"
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("mcp_aggregator_requests_total{") and 'method="tools/call"' in line
    ]
    assert (
        'mcp_aggregator_requests_total{method="tools/call",name="search",'
        'outcome="upstream_unavailable",upstream="beta"} 1.0'
    ) in counted, counted
    # An unknown name is the client's choice: counted, but never as a label of its own.
    assert (
        'mcp_aggregator_requests_total{method="tools/call",name="",outcome="unknown",'
        'upstream=""} 1.0'
    ) in counted, counted
    assert "no-such-tool" not in metrics


async def test_an_mcp_name_header_naming_another_tool_is_a_400_naming_both() -> None:
    upstream = build_upstream("alpha", ["lookup", "search"])
    call = {
        "jsonrpc": "2.0",
        "id": 5,
        "method": "tools/call",
        "params": {"name": "lookup", "arguments": {"text": "hi"}, "_meta": ENVELOPE},
    }
    headers = {**MODERN, "Mcp-Method": "tools/call"}
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        refused = await http.post(
            f"{url}/mcp", json=call, headers={**headers, "Mcp-Name": "search"}
        )
        agreeing = await http.post(
            f"{url}/mcp", json=call, headers={**headers, "Mcp-Name": "lookup"}
        )
        counted = await _counted(http, url)
    assert refused.status_code == 400
    assert refused.json() == {
        "jsonrpc": "2.0",
        "id": 5,
        "error": {"code": -32600, "message": "Mcp-Name header 'search' does not match 'lookup'"},
    }
    assert agreeing.status_code == 200, agreeing.text
    assert len(_forwarded(upstream)) == 1, "only the call whose header agrees reaches the upstream"
    assert (
        'mcp_aggregator_requests_total{method="tools/call",name="lookup",outcome="rejected",'
        'upstream="alpha"} 1.0'
    ) in counted, counted


async def test_a_routed_request_without_params_is_invalid_params_and_counted() -> None:
    upstream = build_upstream("alpha", ["lookup"], prompts=True)
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        answers = {
            method: (
                await http.post(
                    f"{url}/mcp",
                    json={"jsonrpc": "2.0", "id": 9, "method": method},
                    headers=LEGACY,
                )
            ).json()
            for method in ROUTED
        }
        counted = await _counted(http, url)
    for method, answer in answers.items():
        assert answer == {
            "jsonrpc": "2.0",
            "id": 9,
            "error": {"code": -32602, "message": f"{method} needs params (an object)"},
        }, method
    assert _forwarded(upstream) == []
    assert (
        'mcp_aggregator_requests_total{method="tools/call",name="",outcome="rejected",'
        'upstream=""} 1.0'
    ) in counted, counted


async def test_a_notification_named_like_a_routed_method_is_never_forwarded() -> None:
    """A notification gets no answer: forwarded, it would run a tool whose result nobody sees."""
    upstream = build_upstream("alpha", ["lookup"])
    notification = {
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": {"name": "lookup", "arguments": {"text": "once"}},
    }
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        ignored = await http.post(f"{url}/mcp", json=notification, headers=LEGACY)
        assert _forwarded(upstream) == []
        request = {**notification, "id": 1}
        answered = await http.post(f"{url}/mcp", json=request, headers=LEGACY)
    assert ignored.status_code == 202
    assert answered.status_code == 200
    assert '"text":"once"' in answered.text.replace(" ", "")
    assert len(_forwarded(upstream)) == 1, "the request, and only the request, reached it"


async def test_get_and_delete_without_a_session_id_stay_within_what_a_caller_may_hold() -> None:
    """Without a session id they go to the SDK server. A DELETE there ends nothing; a GET is an
    event stream that stays open, so it must count against the caller's stream limit."""
    stream_headers = {"Accept": "text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
    async with (
        serve(build_upstream("alpha")) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")], max_streams_per_principal=1) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        deleted = await http.delete(f"{url}/mcp", headers=LEGACY)
        opened = 0
        async with contextlib.AsyncExitStack() as streams:
            with anyio.fail_after(30):
                for _ in range(3):
                    response = await streams.enter_async_context(
                        http.stream("GET", f"{url}/mcp", headers=stream_headers)
                    )
                    content_type = response.headers.get("content-type", "")
                    if response.status_code == 200 and content_type.startswith("text/event-stream"):
                        opened += 1
    assert deleted.status_code == 405, deleted.text
    assert opened <= 1, f"{opened} event streams open for one caller whose limit is 1"
