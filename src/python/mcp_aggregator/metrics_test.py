"""What `Metrics` records and exports: bounded labels, outcomes, and live registry gauges."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mcp import types

from mcp_aggregator.catalog import UpstreamListing
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.metrics import Metrics
from mcp_aggregator.pins import Pins
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.upstream import Upstream
from mcp_common.limits import StreamLimits

_SCHEMA: dict[str, Any] = {"type": "object"}


def _upstream(name: str, *tools: str, sessions: str = "per-client", **listing: Any) -> Upstream:
    upstream = Upstream(
        UpstreamConfig(name=name, url=f"http://127.0.0.1:1/{name}", sessions=sessions),
        unavailable_after=0.0,
    )
    upstream.listing = UpstreamListing(
        prefix="", tools=tuple(types.Tool(name=t, input_schema=_SCHEMA) for t in tools), **listing
    )
    upstream.record_success()
    return upstream


def _bound(*upstreams: Upstream) -> tuple[Metrics, UpstreamRegistry]:
    registry = UpstreamRegistry(RegistrySettings())
    registry.upstreams = {upstream.name: upstream for upstream in upstreams}
    registry.rebuild()
    metrics = Metrics()
    metrics.bind(registry)
    return metrics, registry


def _value(metrics: Metrics, metric: str, /, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(metric, labels)


def test_a_call_is_counted_by_outcome_and_timed() -> None:
    metrics, _ = _bound(_upstream("tickets", "create_ticket"))
    metrics.observe_call("tools/call", "create_ticket", "tickets", "ok", 0.2)
    metrics.observe_call("tools/call", "create_ticket", "tickets", "ok", 0.4)
    metrics.observe_call("tools/call", "create_ticket", "tickets", "timeout", 300.0)
    call = {"method": "tools/call", "name": "create_ticket", "upstream": "tickets"}
    assert _value(metrics, "mcp_aggregator_requests_total", **call, outcome="ok") == 2
    assert _value(metrics, "mcp_aggregator_requests_total", **call, outcome="timeout") == 1
    assert _value(metrics, "mcp_aggregator_request_duration_seconds_count", **call) == 3
    seconds = _value(metrics, "mcp_aggregator_request_duration_seconds_sum", **call)
    assert seconds == pytest.approx(300.6)
    under_half = _value(metrics, "mcp_aggregator_request_duration_seconds_bucket", **call, le="0.5")
    assert under_half == 2


def test_completions_and_resource_denials_are_labelled_by_what_the_catalog_lists() -> None:
    template = types.ResourceTemplate(uri_template="db://{table}/rows", name="rows")
    prompt = types.Prompt(name="greeting")
    metrics, _ = _bound(_upstream("data", resource_templates=(template,), prompts=(prompt,)))
    metrics.observe_call("completion/complete", "greeting", "data", "ok", 0.01)
    metrics.observe_call("completion/complete", "db://sales/rows", "data", "ok", 0.01)
    metrics.observe_call("resources/read", "db://x/y/z", "data", "unknown", 0.01)
    metrics.observe_denial("resources", "db://secrets/rows")
    metrics.observe_denial("tools", "delete_user")
    requests = "mcp_aggregator_requests_total"
    complete = {"method": "completion/complete", "upstream": "data", "outcome": "ok"}
    assert _value(metrics, requests, **complete, name="greeting") == 1
    assert _value(metrics, requests, **complete, name="db://{table}/rows") == 1
    unlisted = {"method": "resources/read", "upstream": "data", "outcome": "unknown"}
    assert _value(metrics, requests, **unlisted, name="(unlisted)") == 1
    denials = "mcp_aggregator_authorization_denials_total"
    assert _value(metrics, denials, kind="resources", name="db://{table}/rows") == 1
    assert _value(metrics, denials, kind="tools", name="delete_user") == 1
    assert _value(metrics, denials, kind="resources", name="db://secrets/rows") is None


def test_reloads_are_counted_by_file_and_result() -> None:
    metrics = Metrics()
    metrics.observe_reload("applied")
    metrics.observe_policy_reload("rejected")
    metrics.observe_pins_reload("applied")
    metrics.observe_pins_reload("applied")
    assert _value(metrics, "mcp_aggregator_registry_reloads_total", result="applied") == 1
    reloads = "mcp_aggregator_config_reloads_total"
    assert _value(metrics, reloads, file="policy", result="rejected") == 1
    assert _value(metrics, reloads, file="pins", result="applied") == 2
    assert _value(metrics, reloads, file="policy", result="applied") is None


@pytest.mark.anyio
async def test_registry_gauges_follow_the_live_registry() -> None:
    shared = _upstream("tickets", "echo", "create_ticket", sessions="shared")
    shared.session_based = True
    users = _upstream("users", "echo", "get_user")
    users.session_based = False
    metrics, registry = _bound(shared, users)
    assert _value(metrics, "mcp_aggregator_upstream_available", upstream="users", health="up") == 1
    assert _value(metrics, "mcp_aggregator_upstream_tools", upstream="tickets") == 2
    sessions = "mcp_aggregator_upstream_sessions"
    assert _value(metrics, sessions, upstream="tickets", sessions="shared") == 1
    assert _value(metrics, sessions, upstream="users", sessions="stateless") == 1
    assert _value(metrics, "mcp_aggregator_catalog_collisions") == 1, "both list `echo`"
    assert _value(metrics, "mcp_aggregator_catalog_tools") == 2

    users.record_failure("refused")
    users.record_failure("refused")  # unavailable_after=0: down at the second failure
    registry.rebuild()
    await registry.set_pins(Pins(mode="warn"))
    assert (
        _value(metrics, "mcp_aggregator_upstream_available", upstream="users", health="down") == 0
    )
    assert _value(metrics, "mcp_aggregator_catalog_collisions") == 0
    mismatches = "mcp_aggregator_tool_pin_mismatches"
    assert _value(metrics, mismatches, tool="create_ticket", mode="warn") == 1
    assert _value(metrics, mismatches, tool="get_user", mode="warn") is None, "users is down"


def test_an_upstream_not_yet_listed_is_unavailable_of_unknown_kind() -> None:
    never_listed = Upstream(UpstreamConfig("data", "http://127.0.0.1:1/mcp"), unavailable_after=1)
    metrics, _ = _bound(never_listed)
    available = "mcp_aggregator_upstream_available"
    assert _value(metrics, available, upstream="data", health="unknown") == 0
    assert _value(metrics, "mcp_aggregator_upstream_tools", upstream="data") == 0
    unknown = {"upstream": "data", "sessions": "unknown"}
    assert _value(metrics, "mcp_aggregator_upstream_sessions", **unknown) == 1


@pytest.mark.anyio
async def test_open_streams_and_their_cap_are_scraped_at_metrics() -> None:
    metrics = Metrics()
    streams = StreamLimits(total=3, per_principal=2)
    metrics.bind_streams(streams)
    assert streams.refusal("tenant/alice/app") is None
    app = FastAPI()
    app.include_router(metrics.router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        scraped = await http.get("/metrics")
        streams.release("tenant/alice/app")
        after = await http.get("/metrics")
    assert scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "mcp_aggregator_notification_streams 1.0" in scraped.text.splitlines()
    assert "mcp_aggregator_notification_streams_limit 3.0" in scraped.text.splitlines()
    assert "mcp_aggregator_notification_streams 0.0" in after.text.splitlines()
