"""The sessions a client gets with this replica's session-based upstreams.

A real registry lists real SDK servers on 127.0.0.1: `mine` keeps a session per client, `ours`
shares one per replica, `plain` is stateless. Each session's state (a counter) shows which
session a call really went to.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import anyio
import pytest

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import HeaderRecorder, build_upstream, stateful_upstream
from mcp_aggregator.errors import SessionExpired
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.session_pool import SessionPool
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.wire import last_answer
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

CLIENT = {"capabilities": {"sampling": {}}, "clientInfo": {"name": "inspector", "version": "9"}}


@contextlib.asynccontextmanager
async def pool_of(*configs: UpstreamConfig) -> AsyncIterator[tuple[UpstreamRegistry, SessionPool]]:
    registry = UpstreamRegistry(RegistrySettings(unavailable_after=30))
    try:
        with anyio.fail_after(30):
            await registry.apply(configs)
        yield registry, SessionPool(registry)
    finally:
        await registry.aclose()


@contextlib.asynccontextmanager
async def three_upstreams(
    mine: HeaderRecorder,
) -> AsyncIterator[tuple[UpstreamRegistry, SessionPool]]:
    async with (
        serve(mine) as mine_url,
        serve(stateful_upstream()) as ours_url,
        serve(build_upstream("plain")) as plain_url,
        pool_of(
            UpstreamConfig("mine", f"{mine_url}/mcp", sessions="per-client"),
            UpstreamConfig("ours", f"{ours_url}/mcp", sessions="shared"),
            UpstreamConfig("plain", f"{plain_url}/mcp"),
        ) as pooled,
    ):
        yield pooled


async def _count(pool: SessionPool, name: str, session_id: str) -> int:
    """Call `count` in `session_id` of upstream `name`: how often that session has counted.

    Raises:
        SessionExpired: the upstream does not know the session.
    """
    upstream = pool.upstream(name)
    assert upstream is not None
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "count"}}
    with anyio.fail_after(30):
        response = await pool.sessions(upstream).post(session_id, json.dumps(call).encode())
        try:
            answer = last_answer(await response.read())
        finally:
            response.release()
    assert answer is not None, "no answer"
    assert "result" in answer, answer
    return int(answer["result"]["structuredContent"]["count"])


async def test_a_client_gets_its_own_per_client_sessions_and_the_shared_one() -> None:
    mine = HeaderRecorder(stateful_upstream())
    async with three_upstreams(mine) as (_registry, pool):
        assert sorted(u.name for u in pool.session_based()) == ["mine", "ours"]
        with anyio.fail_after(30):
            first = await pool.open_for_client(CLIENT)
            second = await pool.open_for_client({})
        assert first.keys() == second.keys() == {"mine", "ours"}, "stateless needs none"
        assert first["mine"] != second["mine"]
        assert first["ours"] == second["ours"]
        counts = [await _count(pool, "mine", s["mine"]) for s in (first, first, second)]
        assert counts == [1, 2, 1], "each client counts in its own session"
        assert [await _count(pool, "ours", s["ours"]) for s in (first, second)] == [1, 2]
    initialized = [
        body["params"]
        for body in mine.bodies
        if isinstance(body, dict)
        and body.get("method") == "initialize"
        and body["params"]["clientInfo"]["name"] == "inspector"
    ]
    assert len(initialized) == 1, "the client's own session, opened as the client"
    assert initialized[0]["capabilities"] == {"sampling": {}}


async def test_an_upstream_that_cannot_open_a_session_is_left_out() -> None:
    async with contextlib.AsyncExitStack() as stack:
        gone = contextlib.AsyncExitStack()
        mine = await stack.enter_async_context(serve(stateful_upstream()))
        away = await gone.enter_async_context(serve(stateful_upstream()))
        _registry, pool = await stack.enter_async_context(
            pool_of(UpstreamConfig("mine", f"{mine}/mcp"), UpstreamConfig("away", f"{away}/mcp"))
        )
        assert sorted(u.name for u in pool.session_based()) == ["away", "mine"]
        await gone.aclose()  # listed as session-based, then gone
        with anyio.fail_after(30):
            opened = await pool.open_for_client(CLIENT)
        assert list(opened) == ["mine"]
        assert await _count(pool, "mine", opened["mine"]) == 1


async def test_a_client_that_ends_its_session_ends_its_per_client_sessions_only() -> None:
    async with three_upstreams(HeaderRecorder(stateful_upstream())) as (_registry, pool):
        with anyio.fail_after(30):
            opened = await pool.open_for_client(CLIENT)
            assert await _count(pool, "ours", opened["ours"]) == 1
            await pool.end(ClientSession("nonce", opened))
        with pytest.raises(SessionExpired):
            await _count(pool, "mine", opened["mine"])
        assert await _count(pool, "ours", opened["ours"]) == 2, "the shared session goes on"


async def test_a_client_owns_the_sessions_of_registered_session_based_upstreams() -> None:
    async with three_upstreams(HeaderRecorder(stateful_upstream())) as (_registry, pool):
        named = {"mine": "m-1", "ours": "o-1", "plain": "p-1", "removed": "r-1"}
        owned = pool.owned(ClientSession("nonce", named))
    assert [(upstream.name, session) for upstream, session in owned] == [
        ("mine", "m-1"),
        ("ours", "o-1"),
    ]


async def test_a_replaced_upstream_gets_new_sessions() -> None:
    async with serve(stateful_upstream()) as url:
        config = UpstreamConfig("ours", f"{url}/mcp", sessions="shared")
        async with pool_of(config) as (registry, pool):
            before = registry.upstreams["ours"]
            assert pool.sessions(before) is pool.sessions(before)
            first = await pool.sessions(before).shared()
            assert await _count(pool, "ours", first) == 1
            with anyio.fail_after(30):
                await registry.apply([replace(config, call_timeout=60.0)])
            after = registry.upstreams["ours"]
            assert after is not before
            sessions = pool.sessions(after)
            assert sessions.upstream is after
            assert sessions.current_shared is None, "nothing carried over from the old upstream"
            second = await sessions.shared()
            assert second != first
            assert await _count(pool, "ours", second) == 1, "a new session on the upstream"
