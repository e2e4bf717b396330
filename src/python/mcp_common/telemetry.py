"""OpenTelemetry set-up shared by every service.

Spans are always recorded (so logs carry trace ids and W3C `traceparent` headers propagate),
but exported only when an OTLP endpoint is configured: a laptop without a collector stays
silent instead of logging connection errors every few seconds.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

logger = logging.getLogger(__name__)

# Probes and scrapes would otherwise be most of the spans.
_EXCLUDED_URLS = "health/live,health/ready,metrics"


def build_tracer_provider(
    service_name: str,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """A tracer provider for `service_name`, exporting to `exporter` or OTLP/HTTP when given."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint)
        logger.info("exporting traces", extra={"otlp_endpoint": otlp_endpoint})
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def install_tracer_provider(provider: TracerProvider) -> None:
    """Make `provider` the process-wide provider (OpenTelemetry allows setting it once)."""
    trace.set_tracer_provider(provider)


def instrument_app(app: FastAPI, provider: TracerProvider | None = None) -> None:
    """Trace every request to `app`, continuing a W3C trace context the caller sent.

    `provider` None means the process-wide one (see `install_tracer_provider`).
    """
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=_EXCLUDED_URLS)
