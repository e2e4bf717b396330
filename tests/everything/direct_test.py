"""server-everything directly, with the real Python client: proves the harness, and pins what the
server does that the aggregator must pass through unchanged (aggregated_test.py)."""

from __future__ import annotations

import pytest

from everything import scenarios
from everything.wire_tap import wire_tap

pytestmark = pytest.mark.anyio

# server-everything (TypeScript SDK 1.x) speaks the handshake era only.


async def test_tools_listed_and_called(everything_url: str) -> None:
    await scenarios.tools_listed_and_called(everything_url, scenarios.LEGACY)


async def test_capability_tools_unlisted_for_a_client_without_them(everything_url: str) -> None:
    await scenarios.capability_tools_unlisted(everything_url, scenarios.LEGACY)


async def test_sampling_answered_by_the_client(everything_url: str) -> None:
    await scenarios.sampling_answered(everything_url)


async def test_elicitation_answered_by_the_client(everything_url: str) -> None:
    await scenarios.elicitation_answered(everything_url)


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")  # gone at 2026-07-28 only
async def test_subscribed_resource_updates_reach_the_client(everything_url: str) -> None:
    await scenarios.subscription_notified(everything_url)


async def test_cancelled_call_stops_and_the_other_completes(everything_url: str) -> None:
    async with wire_tap(everything_url) as (tapped_url, tap):
        await scenarios.long_call_cancelled(tapped_url, tap)
