"""Two aggregator replicas with the same session keys: a 2025-11-25 client session started on
one continues on the other, with the same upstream session, though no replica shares state."""

from __future__ import annotations

import base64
import contextlib
import secrets
from pathlib import Path

import httpx
import pytest

from everything import scenarios
from everything.aggregated import aggregator_in_front
from everything.wire_tap import wire_tap
from mcp_testkit.testing import connect

pytestmark = pytest.mark.anyio


def _keys_file(path: Path) -> Path:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    path.write_text(f"{key}\n")
    return path


async def test_a_session_started_on_one_replica_continues_on_another(
    everything_url: str, tmp_path: Path
) -> None:
    keys = _keys_file(tmp_path / "session-keys")
    async with contextlib.AsyncExitStack() as stack:
        replica_a = await stack.enter_async_context(
            aggregator_in_front(everything_url, session_keys_file=keys)
        )
        replica_b = await stack.enter_async_context(
            aggregator_in_front(everything_url, session_keys_file=keys)
        )
        # A load balancer in front of both: every request goes where it points.
        balancer_url, balancer = await stack.enter_async_context(wire_tap(replica_a))
        async with connect(balancer_url, None, scenarios.LEGACY) as client:
            started = await client.call_tool(scenarios.SUBSCRIBER_UPDATES, {})
            balancer.upstream = replica_b
            stopped = await client.call_tool(scenarios.SUBSCRIBER_UPDATES, {})
            echoed = await client.call_tool(scenarios.ECHO, {"message": "on replica B"})
    on_a = scenarios.upstream_session(scenarios.texts(started.content), "Started")
    on_b = scenarios.upstream_session(scenarios.texts(stopped.content), "Stopped")
    assert on_a == on_b, (started, stopped)
    assert scenarios.texts(echoed.content) == "Echo: on replica B"
    assert len(balancer.session_ids) == 1, balancer.session_ids  # the client kept one session


async def test_a_cancellation_received_by_another_replica_reaches_the_upstream(
    everything_url: str, tmp_path: Path
) -> None:
    """The calls run through replica A; the client's `notifications/cancelled` lands on B,
    which never saw them: B turns it into the upstream's id from the session id alone."""
    keys = _keys_file(tmp_path / "session-keys")
    async with contextlib.AsyncExitStack() as stack:
        tapped_url, tap = await stack.enter_async_context(wire_tap(everything_url))
        replica_a = await stack.enter_async_context(
            aggregator_in_front(tapped_url, session_keys_file=keys)
        )
        replica_b = await stack.enter_async_context(
            aggregator_in_front(tapped_url, session_keys_file=keys)
        )
        balancer_url, balancer = await stack.enter_async_context(wire_tap(replica_a))

        def to_replica_b() -> None:
            balancer.upstream = replica_b

        await scenarios.long_call_cancelled(balancer_url, tap, before_cancel=to_replica_b)
    assert balancer.upstream == replica_b


async def test_a_replica_with_other_keys_does_not_continue_the_session(
    everything_url: str, tmp_path: Path
) -> None:
    keys = _keys_file(tmp_path / "session-keys")
    other_keys = _keys_file(tmp_path / "other-session-keys")
    async with contextlib.AsyncExitStack() as stack:
        replica = await stack.enter_async_context(
            aggregator_in_front(everything_url, session_keys_file=keys)
        )
        stranger = await stack.enter_async_context(
            aggregator_in_front(everything_url, session_keys_file=other_keys)
        )
        balancer_url, balancer = await stack.enter_async_context(wire_tap(replica))
        async with connect(balancer_url, None, scenarios.LEGACY) as client:
            await client.call_tool(scenarios.ECHO, {"message": "on the first replica"})
        (session_id,) = balancer.session_ids
        headers = {
            "Mcp-Session-Id": session_id,
            "MCP-Protocol-Version": "2025-11-25",
            "Accept": "application/json, text/event-stream",
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        async with httpx.AsyncClient(timeout=10.0) as http:
            refused = await http.post(stranger, json=body, headers=headers)
    # Streamable HTTP: a session the server does not know is a 404 (start a new one).
    assert refused.status_code == 404, refused.text
