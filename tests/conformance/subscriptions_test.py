"""The session-based fixture's resource subscriptions, with the real Python client: directly and
through the aggregator (the fixture as a per-client upstream), a subscribed client is notified
when the resource changes, and an unsubscribed one no longer is. (The suite's
resources-subscribe scenarios only check that subscribe and unsubscribe answer `{}`.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import pytest
from mcp import types
from mcp.client.session import IncomingMessage

from conformance.conformance_test import _wait_ready
from conformance.fixture_server import UPDATE_TOOL
from conformance.fixture_server import build_app as build_fixture_app
from mcp_aggregator.app import build_app
from mcp_aggregator.config import envoy_bootstrap, envoy_cluster, parse_upstreams
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.testing import connect, serve

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:resources/subscribe is removed"),  # at 2026-07-28 only
]

WATCHED = "test://watched-resource"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def _endpoint(through_aggregator: bool) -> AsyncIterator[str]:
    async with serve(build_fixture_app(sessions=True)) as fixture_url:
        if not through_aggregator:
            yield f"{fixture_url}/mcp"
            return
        port = int(fixture_url.rsplit(":", 1)[1])
        cluster = envoy_cluster("fixture", "127.0.0.1", port, sessions="per-client")
        upstreams = parse_upstreams(envoy_bootstrap([cluster]))
        async with serve(build_app(AggregatorSettings(), upstreams=upstreams)) as aggregator_url:
            await _wait_ready(aggregator_url)
            yield f"{aggregator_url}/mcp"


@pytest.mark.parametrize("through_aggregator", [False, True], ids=["direct", "aggregated"])
async def test_a_subscriber_is_notified_of_an_update(through_aggregator: bool) -> None:
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            arrived.set()

    async with (
        _endpoint(through_aggregator) as url,
        connect(url, None, "legacy", message_handler=on_message) as subscriber,
        connect(url, None, "legacy") as bystander,
    ):
        await subscriber.subscribe_resource(WATCHED)
        # Updates go to the subscriber's GET stream, which the client opens after initialize:
        # change the resource until one arrives (the first may precede the stream).
        with anyio.fail_after(30):
            while not arrived.is_set():
                changed = await bystander.call_tool(UPDATE_TOOL, {"uri": WATCHED})
                assert not changed.is_error, changed
                with anyio.move_on_after(0.5):
                    await arrived.wait()
        assert set(updates) == {WATCHED}, updates

        await subscriber.unsubscribe_resource(WATCHED)
        after = await bystander.call_tool(UPDATE_TOOL, {"uri": WATCHED})
    (text,) = after.content
    assert isinstance(text, types.TextContent), after
    assert text.text == f"updated {WATCHED}; notified 0 subscriber(s)", after
