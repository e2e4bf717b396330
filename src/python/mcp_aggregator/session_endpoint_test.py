"""2025-11-25 sessions at `/mcp`: ids bound to their caller, DELETE, bounded GET streams, the
client's answers to relayed requests, and the id `initialize` hands out.

(session_relay_test covers the relayed requests themselves and ids across replicas; auth_test
a session id presented by another authenticated caller.)
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

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import aggregator, build_upstream, eventually, stateful_upstream
from mcp_aggregator.sealing import Sealer, new_key
from mcp_aggregator.session_relay import SERVER_REQUEST_PREFIX
from mcp_aggregator.sessions import SessionCodec
from mcp_common.auth import ANONYMOUS, Principal
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = {**HEADERS, "MCP-Protocol-Version": "2025-11-25"}
STREAM = {"Accept": "text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


def _call(name: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name}}


def _result(response: httpx.Response) -> Any:
    """The result of the JSON-RPC answer in a JSON or SSE response."""
    lines = response.text.splitlines()
    data = [line[5:] for line in lines if line.startswith("data:")] or [response.text]
    return json.loads(data[-1])["result"]


async def _session(http: httpx.AsyncClient, url: str, capabilities: Any = None) -> str:
    """A 2025-11-25 session begun over raw HTTP; its id."""
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": capabilities or {},
        "clientInfo": {"name": "test", "version": "1"},
    }
    initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    response = await http.post(f"{url}/mcp", json=initialize, headers=LEGACY)
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    headers = {**LEGACY, "Mcp-Session-Id": session_id}
    assert (await http.post(f"{url}/mcp", json=initialized, headers=headers)).status_code == 202
    return session_id


@contextlib.asynccontextmanager
async def _stateful(keys: Path | None = None) -> AsyncIterator[str]:
    """The aggregator in front of one session-based upstream (per-client sessions)."""
    settings = {"session_keys_file": str(keys)} if keys else {}
    async with (
        serve(stateful_upstream()) as upstream,
        aggregator([UpstreamConfig("stateful", f"{upstream}/mcp")], **settings) as url,
        httpx.AsyncClient() as http,
    ):

        async def ready() -> bool:  # listed: the aggregator knows it is session-based
            return (await http.get(f"{url}/health/ready")).status_code == 200

        await eventually(ready, timeout=30)
        yield url


async def test_a_session_id_the_aggregator_did_not_issue_is_404_saying_what_to_do() -> None:
    upstream = build_upstream("alpha", ["lookup"])
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        answers = []
        for session_id in ("a" * 32 + "." + "b" * 32, "s1.forged", "x" * 200):
            headers = {**LEGACY, "Mcp-Session-Id": session_id}
            answers += [
                await http.post(f"{url}/mcp", json=_call("lookup"), headers=headers),
                await http.get(f"{url}/mcp", headers={**STREAM, "Mcp-Session-Id": session_id}),
                await http.delete(f"{url}/mcp", headers=headers),
            ]
    assert len(answers) == 9
    for answer in answers:
        assert answer.status_code == 404, (answer.request.method, answer.text)
        assert answer.json()["error"] == "unknown_session"
        assert "initialize a new one" in answer.json()["error_description"]
    calls = [b for b in upstream.bodies if isinstance(b, dict) and b.get("method") == "tools/call"]
    assert calls == [], "nothing was forwarded"


async def test_delete_is_204_and_ends_the_clients_upstream_session() -> None:
    async with _stateful() as url, httpx.AsyncClient(timeout=30) as http:
        session_id = await _session(http, url)
        headers = {**LEGACY, "Mcp-Session-Id": session_id}
        before = await http.post(f"{url}/mcp", json=_call("count"), headers=headers)
        ended = await http.delete(f"{url}/mcp", headers={"Mcp-Session-Id": session_id})
        after = await http.post(f"{url}/mcp", json=_call("count"), headers=headers)
    assert before.status_code == 200
    assert _result(before)["structuredContent"] == {"count": 1}
    assert ended.status_code == 204
    assert after.status_code == 404, after.text
    assert after.json()["error"]["code"] == -32001
    assert "ended this session; initialize a new one" in after.json()["error"]["message"]


async def test_get_streams_beyond_the_callers_limit_are_429_until_one_closes() -> None:
    async with (
        serve(build_upstream("alpha")) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")], max_streams_per_principal=1) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        headers = {**STREAM, "Mcp-Session-Id": await _session(http, url)}
        with anyio.fail_after(30):
            async with http.stream("GET", f"{url}/mcp", headers=headers) as first:
                assert first.status_code == 200
                assert first.headers["content-type"].startswith("text/event-stream")
                refused = await http.get(f"{url}/mcp", headers=headers)

            async def admitted() -> bool:  # once the aggregator has seen the first one go
                async with http.stream("GET", f"{url}/mcp", headers=headers) as again:
                    return again.status_code == 200

            while not await admitted():
                await anyio.sleep(0.1)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.json()["error"] == "too_many_streams"
    assert "already has 1 open streams" in refused.json()["error_description"]


async def test_an_answer_to_a_request_relayed_to_another_caller_is_404(tmp_path: Path) -> None:
    keys = tmp_path / "session-keys"
    keys.write_text(new_key() + "\n")
    sealer = Sealer.from_file(keys)
    someone_else = Principal(subject="sub-bob", tenant_id="tenant-1", object_id="oid-bob")
    async with _stateful(keys) as url, httpx.AsyncClient(timeout=30) as http:
        session_id = await _session(http, url)
        client = SessionCodec(sealer).open(session_id, ANONYMOUS)
        assert client is not None
        # A server request's id as the aggregator seals it for a caller, once for each.
        relayed = {"u": "stateful", "s": client.upstreams["stateful"], "i": 1}
        answers = {}
        for principal in (ANONYMOUS, someone_else):
            answer = {
                "jsonrpc": "2.0",
                "id": SERVER_REQUEST_PREFIX + sealer.seal(relayed, principal.key),
                "result": {},
            }
            headers = {**LEGACY, "Mcp-Session-Id": session_id}
            answers[principal.key] = await http.post(f"{url}/mcp", json=answer, headers=headers)
    own, other = answers[ANONYMOUS.key], answers[someone_else.key]
    assert own.status_code == 202, own.text
    assert other.status_code == 404, other.text
    assert other.json() == {
        "error": "unknown_request",
        "error_description": "this answers no request the aggregator relayed to this caller "
        "(or its upstream session has ended)",
    }


async def test_initialize_hands_out_an_id_carrying_the_relayed_capabilities_declared() -> None:
    declared = {"sampling": {}, "roots": {"listChanged": True}, "experimental": {"x": {}}}
    async with (
        serve(build_upstream("alpha")) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        with_capabilities = await _session(http, url, declared)
        without = await _session(http, url)
    # Every upstream is stateless: the id is bound to the caller, not sealed (no key needed).
    codec = SessionCodec(Sealer.ephemeral())
    opened = codec.open(with_capabilities, ANONYMOUS)
    plain = codec.open(without, ANONYMOUS)
    assert opened is not None
    assert plain is not None
    assert opened.capabilities == {"sampling", "roots"}, "only those the aggregator relays"
    assert plain.capabilities == frozenset()
    assert with_capabilities != without
