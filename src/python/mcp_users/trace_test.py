"""A tool call continues the caller's W3C trace from its HTTP headers: one span for the MCP
request, the SDK's, whose parent is the caller's span (own process: it installs the
process-wide tracer provider, which OpenTelemetry allows once).

The request is written by hand: the SDK's client in this process would put its own trace
context in `_meta`, which the SDK prefers to the headers (the aggregator sends the headers).
"""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mcp_common.telemetry import build_tracer_provider, install_tracer_provider
from mcp_testkit.testing import serve
from mcp_users.app import build_app
from mcp_users.settings import UsersSettings

pytestmark = pytest.mark.anyio

EXPORTER = InMemorySpanExporter()
_provider = build_tracer_provider("test")
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
install_tracer_provider(_provider)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VERSION = "2026-07-28"
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "list_users",
        "arguments": {"limit": 2},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientInfo": {"name": "trace-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": VERSION,
    "Mcp-Method": "tools/call",
    "Mcp-Name": "list_users",
    "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
}


async def test_a_tool_call_is_one_span_in_the_callers_trace(database_url: str) -> None:
    async with (
        serve(build_app(UsersSettings(database_url=database_url, demo=True))) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        EXPORTER.clear()
        response = await http.post("/mcp", json=CALL, headers=HEADERS)
    assert response.status_code == 200
    assert '\\"total\\": 42' in response.text
    spans = [s for s in EXPORTER.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE_ID]
    assert [s.name for s in spans] == ["tools/call list_users"]
    parent = spans[0].parent
    assert parent is not None
    assert f"{parent.span_id:016x}" == PARENT_ID
