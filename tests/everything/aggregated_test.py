"""server-everything THROUGH the aggregator (a per-client, session-based upstream): the real
Python client must see what it sees directly (direct_test.py), in both protocol generations
where the feature exists in both."""

from __future__ import annotations

import httpx
import pytest

from everything import scenarios
from everything.aggregated import UPSTREAM, aggregator_in_front
from everything.wire_tap import wire_tap
from mcp_testkit.testing import PROTOCOL_MODES, connect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_tools_listed_and_called(aggregated_url: str, mode: str) -> None:
    await scenarios.tools_listed_and_called(aggregated_url, mode)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_capability_tools_unlisted_for_a_client_without_them(
    aggregated_url: str, mode: str
) -> None:
    # A 2026-07-28 client has no sampling or elicitation relay through the aggregator at all.
    await scenarios.capability_tools_unlisted(aggregated_url, mode)


async def test_sampling_answered_by_the_client(aggregated_url: str) -> None:
    await scenarios.sampling_answered(aggregated_url)


async def test_elicitation_answered_by_the_client(aggregated_url: str) -> None:
    await scenarios.elicitation_answered(aggregated_url)


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")  # gone at 2026-07-28 only
async def test_subscribed_resource_updates_reach_the_client(aggregated_url: str) -> None:
    await scenarios.subscription_notified(aggregated_url)


async def test_cancelled_call_stops_and_the_other_completes(everything_url: str) -> None:
    # The tap sits between the aggregator and server-everything: it sees what the server got.
    async with (
        wire_tap(everything_url) as (tapped_url, tap),
        aggregator_in_front(tapped_url) as aggregated_url,
    ):
        await scenarios.long_call_cancelled(aggregated_url, tap)


async def test_each_client_session_gets_its_own_upstream_session(aggregated_url: str) -> None:
    started: list[str] = []
    for _ in range(2):
        async with connect(aggregated_url, None, scenarios.LEGACY) as client:
            result = await client.call_tool(scenarios.SUBSCRIBER_UPDATES, {})
            started.append(scenarios.texts(result.content))
    sessions = [scenarios.upstream_session(text, "Started") for text in started]
    assert len(set(sessions)) == 2, started


async def test_readiness_and_metrics_say_the_upstream_is_session_based(
    aggregated_url: str,
) -> None:
    base = aggregated_url.removesuffix("/mcp")
    async with httpx.AsyncClient(timeout=10.0) as client:
        ready = await client.get(f"{base}/health/ready")
        metrics = await client.get(f"{base}/metrics")
    assert ready.status_code == 200, ready.text
    assert UPSTREAM in ready.text, ready.text
    assert "session" in ready.text.lower(), ready.text
    lines = [
        line
        for line in metrics.text.splitlines()
        if not line.startswith("#") and f'upstream="{UPSTREAM}"' in line and "session" in line
    ]
    assert lines, "no metric says whether the upstream is session-based"
