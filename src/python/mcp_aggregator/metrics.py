"""Prometheus metrics at `/metrics`: routed requests by tool and outcome, latency, upstreams,
open notification streams against their cap, and (`mcp_common.metrics`) the request guard's
refusals and readiness.

Labels are bounded: `name` is a tool, prompt, listed resource or resource template from the
merged catalog (a `resources/read` of `db://sales/rows` counts under its template
`db://{table}/rows`; requests for unknown names are not counted per name), `upstream` a
configured cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mcp_aggregator.catalog import resource_label
from mcp_aggregator.errors import Outcome
from mcp_aggregator.registry import UpstreamRegistry
from mcp_common.limits import StreamLimits
from mcp_common.metrics import ServiceMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _RegistryCollector(Collector):
    def __init__(self, registry: UpstreamRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        available = GaugeMetricFamily(
            "mcp_aggregator_upstream_available",
            "1 when the upstream's tools are listed and routed, else 0.",
            labels=["upstream", "health"],
        )
        tools = GaugeMetricFamily(
            "mcp_aggregator_upstream_tools", "Tools the upstream last listed.", labels=["upstream"]
        )
        sessions = GaugeMetricFamily(
            "mcp_aggregator_upstream_sessions",
            "1 for the upstream's kind: stateless, or session-based with per-client or shared "
            "sessions (unknown until it has been listed).",
            labels=["upstream", "sessions"],
        )
        for name, upstream in sorted(self._registry.upstreams.items()):
            available.add_metric([name, upstream.health.value], 1.0 if upstream.available else 0.0)
            count = len(upstream.listing.tools) if upstream.listing else 0
            tools.add_metric([name], float(count))
            kind = "unknown" if upstream.session_based is None else upstream.session_mode
            sessions.add_metric([name, kind], 1.0)
        yield available
        yield tools
        yield sessions
        catalog = self._registry.catalog
        exposed = GaugeMetricFamily(
            "mcp_aggregator_catalog_tools", "Tools in the merged namespace."
        )
        exposed.add_metric([], float(len(catalog.tools)))
        yield exposed
        collisions = GaugeMetricFamily(
            "mcp_aggregator_catalog_collisions", "Names exposed by more than one upstream."
        )
        collisions.add_metric([], float(len(catalog.collisions)))
        yield collisions
        mismatched = GaugeMetricFamily(
            "mcp_aggregator_tool_pin_mismatches",
            "Tools whose definition does not match their pin (or have none), by pins mode; "
            "with mode=enforce they are quarantined.",
            labels=["tool", "mode"],
        )
        for name in sorted(self._registry.mismatches):
            mismatched.add_metric([name, self._registry.pins.mode], 1.0)
        yield mismatched


class _StreamsCollector(Collector):
    def __init__(self, streams: StreamLimits) -> None:
        self._streams = streams

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_streams = GaugeMetricFamily(
            "mcp_aggregator_notification_streams",
            "Open long-lived streams (notification GET streams, subscriptions) of this replica.",
        )
        open_streams.add_metric([], float(self._streams.open))
        yield open_streams
        limit = GaugeMetricFamily(
            "mcp_aggregator_notification_streams_limit",
            "The most open streams this replica accepts (MAX_STREAMS); beyond it, 429.",
        )
        limit.add_metric([], float(self._streams.total))
        yield limit


class Metrics:
    def __init__(self) -> None:
        self._upstreams: UpstreamRegistry | None = None
        self.registry = CollectorRegistry()
        # The guard's refusals and readiness, in the same registry (one /metrics).
        self.service = ServiceMetrics(self.registry)
        self._requests = Counter(
            "mcp_aggregator_requests",
            "Routed MCP requests (tools/call, prompts/get, resources/read, completion/complete) "
            "by outcome: ok, tool_error, error, denied, rejected, unknown, unsupported, "
            "session_gone, quarantined, upstream_unavailable, upstream_error, timeout, cancelled.",
            ["method", "name", "upstream", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "mcp_aggregator_request_duration_seconds",
            "Time from receiving a routed request to the end of its response.",
            ["method", "name", "upstream"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._reloads = Counter(
            "mcp_aggregator_registry_reloads",
            "Reloads of the upstream registry file by result (applied, rejected).",
            ["result"],
            registry=self.registry,
        )
        self._config_reloads = Counter(
            "mcp_aggregator_config_reloads",
            "Reloads of the policy and pins files, by file and result (applied, rejected).",
            ["file", "result"],
            registry=self.registry,
        )
        self._denials = Counter(
            "mcp_aggregator_authorization_denials",
            "Routed requests refused by the authorization policy, by kind and name.",
            ["kind", "name"],
            registry=self.registry,
        )

    def bind(self, registry: UpstreamRegistry) -> None:
        self._upstreams = registry
        self.registry.register(_RegistryCollector(registry))

    def bind_streams(self, streams: StreamLimits) -> None:
        self.registry.register(_StreamsCollector(streams))

    def observe_call(
        self, method: str, name: str, upstream: str, outcome: Outcome, seconds: float
    ) -> None:
        name = self._label(method, name)
        self._requests.labels(method, name, upstream, outcome).inc()
        self._latency.labels(method, name, upstream).observe(seconds)

    def _label(self, method: str, name: str) -> str:
        """`name` as a bounded label: resource URIs (which clients choose) by their listing."""
        registry = self._upstreams
        if registry is None or method not in ("resources/read", "completion/complete"):
            return name
        catalog = registry.catalog
        if method == "completion/complete" and name in catalog.prompt_routes:
            return name
        return resource_label(catalog, name)

    def observe_reload(self, result: str) -> None:
        self._reloads.labels(result).inc()

    def observe_policy_reload(self, result: str) -> None:
        self._config_reloads.labels("policy", result).inc()

    def observe_pins_reload(self, result: str) -> None:
        self._config_reloads.labels("pins", result).inc()

    def observe_denial(self, kind: str, name: str) -> None:
        label = self._label("resources/read", name) if kind == "resources" else name
        self._denials.labels(kind, label).inc()

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)

        return router
