from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mcp_common.telemetry import build_tracer_provider, instrument_app
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_requests_continue_the_callers_w3c_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider("svc", exporter=exporter)
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, str]:
        return {"ok": "yes"}

    instrument_app(app, provider)
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    async with serve(app) as url, httpx.AsyncClient() as http:
        response = await http.get(f"{url}/work", headers=headers)
        await http.get(f"{url}/health/live")
    assert response.status_code == 200
    provider.force_flush()
    spans = exporter.get_finished_spans()
    assert spans, "the request made no span"
    assert {f"{span.context.trace_id:032x}" for span in spans} == {TRACE_ID}
    assert all(span.resource.attributes["service.name"] == "svc" for span in spans)


def test_no_exporter_without_an_endpoint() -> None:
    provider = build_tracer_provider("svc")
    # The SDK keeps its processors here; none means nothing is sent anywhere.
    assert provider._active_span_processor._span_processors == ()


def test_an_otlp_exporter_when_an_endpoint_is_configured() -> None:
    provider = build_tracer_provider("svc", otlp_endpoint="http://127.0.0.1:4318/v1/traces")
    processors = provider._active_span_processor._span_processors
    assert len(processors) == 1
    provider.shutdown()
