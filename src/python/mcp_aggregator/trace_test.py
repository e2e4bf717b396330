"""One trace from the client through the aggregator into the upstream (own process: it installs
the process-wide tracer provider, which OpenTelemetry allows once)."""

from __future__ import annotations

import pytest
from mcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import build_upstream
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.telemetry import build_tracer_provider, install_tracer_provider
from mcp_testkit.testing import PROTOCOL_MODES, serve

pytestmark = pytest.mark.anyio

EXPORTER = InMemorySpanExporter()
_provider = build_tracer_provider("test")
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
install_tracer_provider(_provider)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_clients_trace_continues_through_the_aggregator_into_the_upstream(
    mode: str,
) -> None:
    upstream = build_upstream("alpha", ["lookup"])
    async with (
        serve(upstream) as alpha,
        serve(build_app(AggregatorSettings(), [UpstreamConfig("alpha", f"{alpha}/mcp")])) as url,
        Client(f"{url}/mcp", mode=mode) as client,
    ):
        EXPORTER.clear()
        upstream.seen.clear()
        with trace.get_tracer("test-client").start_as_current_span("user asks") as root:
            result = await client.call_tool("lookup", {"text": "trace me"})
        trace_id = root.get_span_context().trace_id
    assert not result.is_error
    spans = EXPORTER.get_finished_spans()
    in_trace = [span for span in spans if span.context.trace_id == trace_id]
    names = {span.name for span in in_trace}
    # client -> aggregator's forwarding span -> the upstream's MCP server span
    assert "tools/call lookup" in names
    forwarding = [
        s for s in in_trace if s.attributes and s.attributes.get("mcp.upstream") == "alpha"
    ]
    assert len(forwarding) == 1
    upstream_spans = [
        s
        for s in in_trace
        if s.parent is not None and s.parent.span_id == forwarding[0].context.span_id
    ]
    assert upstream_spans, "the upstream's spans are children of the aggregator's forwarding span"
    call = [seen for seen in upstream.seen if "traceparent" in seen]
    assert call
    assert call[-1]["traceparent"].split("-")[1] == f"{trace_id:032x}"
