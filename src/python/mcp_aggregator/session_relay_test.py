"""Session-based upstreams behind the aggregator: a real stateful SDK server, real clients.

The upstream keeps state per session (a counter) and asks its client for sampling, so the
tests tell apart what a shared session, a per-client session and a session per request do,
and prove that a server-to-client request reaches the client that made the call. The
official server-everything and the conformance suite run in tests/everything and
tests/conformance; these tests need nothing but Python.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, types

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import stateful_upstream
from mcp_aggregator.sealing import Sealer, new_key
from mcp_aggregator.session_relay import SERVER_REQUEST_PREFIX
from mcp_aggregator.sessions import SessionCodec
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.auth import ANONYMOUS
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

LEGACY = "2025-11-25"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def aggregator(
    upstream_url: str, sessions: str, keys_file: Path | None = None
) -> AsyncIterator[str]:
    settings = AggregatorSettings(
        host="127.0.0.1",
        port=0,
        auth="none",
        session_keys_file=str(keys_file) if keys_file else None,
        unavailable_after_seconds=30,
    )
    upstreams = [UpstreamConfig(name="stateful", url=f"{upstream_url}/mcp", sessions=sessions)]
    async with serve(build_app(settings, upstreams)) as url:
        await _wait_ready(url)
        yield url


async def _wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(30):
            while (await http.get(f"{url}/health/ready")).status_code != 200:
                await anyio.sleep(0.1)


async def _count(client: Client) -> int:
    result = await client.call_tool("count", {})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return int(result.structured_content["count"])


async def _initialize(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    """A 2025-11-25 session through raw HTTP; the headers that continue it."""
    params = {
        "protocolVersion": LEGACY,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    response = await http.post(
        f"{url}/mcp",
        headers=HEADERS,
        json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params},
    )
    assert response.status_code == 200, response.text
    headers = {
        **HEADERS,
        "mcp-session-id": response.headers["mcp-session-id"],
        "mcp-protocol-version": LEGACY,
    }
    notified = await http.post(
        f"{url}/mcp",
        headers=headers,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    assert notified.status_code == 202
    return headers


async def _raw_count(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "count", "arguments": {}},
    }
    return await http.post(f"{url}/mcp", headers=headers, json=body)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a JSON or SSE response."""
    if response.headers["content-type"].startswith("text/event-stream"):
        messages: list[dict[str, Any]] = [
            json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")
        ]
        answers = [m for m in messages if "result" in m or "error" in m]
        assert answers, response.text
        return answers[-1]
    answer: dict[str, Any] = dict(response.json())
    return answer


async def test_session_based_upstream_is_detected_and_reported() -> None:
    async with serve(stateful_upstream()) as upstream, aggregator(upstream, "per-client") as url:
        async with httpx.AsyncClient() as http:
            ready = (await http.get(f"{url}/health/ready")).json()
            metrics = (await http.get(f"{url}/metrics")).text
    assert ready["checks"]["upstreams"]["detail"] == {
        "stateful": {"health": "up", "sessions": "per-client"}
    }
    assert (
        'mcp_aggregator_upstream_sessions{sessions="per-client",upstream="stateful"} 1.0' in metrics
    )


async def test_per_client_sessions_keep_each_clients_state_apart() -> None:
    async with serve(stateful_upstream()) as upstream, aggregator(upstream, "per-client") as url:
        async with Client(f"{url}/mcp", mode="legacy") as first:
            assert [await _count(first), await _count(first)] == [1, 2]
            async with Client(f"{url}/mcp", mode="legacy") as second:
                assert await _count(second) == 1  # its own session, not the first's
            assert await _count(first) == 3


async def test_a_shared_session_is_shared_by_every_client_of_a_replica() -> None:
    async with serve(stateful_upstream()) as upstream, aggregator(upstream, "shared") as url:
        counts = []
        for _ in range(3):
            async with Client(f"{url}/mcp", mode="legacy") as client:
                counts.append(await _count(client))
    assert counts == [1, 2, 3]


async def test_sampling_reaches_the_client_that_called_and_its_answer_the_upstream() -> None:
    asked: list[str] = []

    async def sampling(
        ctx: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        asked.append(content.text if isinstance(content, types.TextContent) else "")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="m"
        )

    for sessions in ("per-client", "shared"):
        asked.clear()
        async with serve(stateful_upstream()) as upstream, aggregator(upstream, sessions) as url:
            callback: Any = sampling
            async with Client(f"{url}/mcp", mode="legacy", sampling_callback=callback) as client:
                result = await client.call_tool("ask", {"question": "the answer?"})
        assert not result.is_error, (sessions, result.content)
        assert isinstance(result.content[0], types.TextContent)
        assert result.content[0].text == "the model said: forty-two", sessions
        assert asked == ["the answer?"], sessions


async def test_a_session_started_on_one_replica_continues_on_another(tmp_path: Path) -> None:
    keys = tmp_path / "session-keys"
    keys.write_text(new_key() + "\n")
    other_keys = tmp_path / "other-keys"
    other_keys.write_text(new_key() + "\n")
    async with (
        serve(stateful_upstream()) as upstream,
        aggregator(upstream, "per-client", keys) as first,
        aggregator(upstream, "per-client", keys) as second,
        aggregator(upstream, "per-client", other_keys) as stranger,
        httpx.AsyncClient(timeout=30) as http,
    ):
        headers = await _initialize(http, first)
        answers = [_answer(await _raw_count(http, url, headers)) for url in (first, second, first)]
        # The same upstream session from either replica: the counter goes on.
        assert [a["result"]["structuredContent"]["count"] for a in answers] == [1, 2, 3]
        assert all(a["id"] == 7 for a in answers)
        # A replica without the keys cannot open the session id.
        refused = await _raw_count(http, stranger, headers)
        assert refused.status_code == 404
        assert refused.json()["error"] == "unknown_session"


async def test_a_forged_answer_to_a_server_request_is_refused() -> None:
    async with (
        serve(stateful_upstream()) as upstream,
        aggregator(upstream, "per-client") as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        headers = await _initialize(http, url)
        for forged in (
            "mcpagg.",
            "mcpagg.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "mcpagg." + "x" * 5000,
        ):
            response = await http.post(
                f"{url}/mcp", headers=headers, json={"jsonrpc": "2.0", "id": forged, "result": {}}
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"] == "unknown_request"


async def test_an_answer_its_upstream_cannot_take_is_a_502_saying_so(tmp_path: Path) -> None:
    keys = tmp_path / "session-keys"
    keys.write_text(new_key() + "\n")
    sealer = Sealer.from_file(keys)
    upstream_server = serve(stateful_upstream())
    upstream = await upstream_server.__aenter__()
    stopped = False
    try:
        async with (
            aggregator(upstream, "per-client", keys) as url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            headers = await _initialize(http, url)
            client = SessionCodec(sealer).open(headers["mcp-session-id"], ANONYMOUS)
            assert client is not None
            # A real relayed request's id, as the aggregator seals it for this caller.
            sealed = {"u": "stateful", "s": client.upstreams["stateful"], "i": 1}
            request_id = SERVER_REQUEST_PREFIX + sealer.seal(sealed, ANONYMOUS.key)
            stopped = True  # the upstream goes away
            await upstream_server.__aexit__(None, None, None)
            response = await http.post(
                f"{url}/mcp",
                headers=headers,
                json={"jsonrpc": "2.0", "id": request_id, "result": {}},
            )
    finally:
        if not stopped:
            await upstream_server.__aexit__(None, None, None)
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["error"] == "upstream_unavailable"
    assert "could not be delivered" in body["error_description"]


async def test_an_upstream_that_forgets_its_sessions() -> None:
    """Shared: the replica opens a new session and the call goes through. Per-client: the
    client is told its session is gone (404, as the spec says) and a new one works."""
    for sessions in ("shared", "per-client"):
        async with contextlib.AsyncExitStack() as outer:
            first_life = contextlib.AsyncExitStack()
            upstream = await first_life.enter_async_context(serve(stateful_upstream()))
            port = int(upstream.rsplit(":", 1)[1])
            url = await outer.enter_async_context(aggregator(upstream, sessions))
            http = await outer.enter_async_context(httpx.AsyncClient(timeout=30))
            headers = await _initialize(http, url)
            assert _answer(await _raw_count(http, url, headers))["result"]["structuredContent"] == {
                "count": 1
            }
            await first_life.aclose()  # a restart forgets every session
            await outer.enter_async_context(serve(stateful_upstream(), port=port))
            response = await _until_reachable(http, url, headers)
            if sessions == "shared":
                assert _answer(response)["result"]["structuredContent"] == {"count": 1}, sessions
            else:
                assert response.status_code == 404, response.text
                assert response.json()["error"]["code"] == -32001
                assert "initialize a new one" in response.json()["error"]["message"]
                again = await _initialize(http, url)
                answer = _answer(await _raw_count(http, url, again))
                assert answer["result"]["structuredContent"] == {"count": 1}


async def _until_reachable(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> httpx.Response:
    """The first answer that is not "upstream unavailable" (the restart is in progress)."""
    with anyio.fail_after(30):
        while True:
            response = await _raw_count(http, url, headers)
            if response.status_code != 200 or "upstream_unavailable" not in response.text:
                return response
            await anyio.sleep(0.2)
