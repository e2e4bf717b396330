"""The forwarding fast path: what reaches the upstream, what comes back, and what is retried.

Real upstream MCP servers on 127.0.0.1, the real aggregator, the real MCP client (or raw HTTP
where a test needs to write a request the client would not).
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from starlette.responses import Response

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import HeaderRecorder, aggregator, build_upstream, eventually
from mcp_common.auth import PRINCIPAL_META_KEY
from mcp_common.errors import ReportedError
from mcp_testkit.testing import PROTOCOL_MODES, serve, tool_error

pytestmark = pytest.mark.anyio

LEGACY = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


def _call(name: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": {"text": "hi"}}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


def _forwarded_metas(upstream: HeaderRecorder) -> list[dict[str, Any]]:
    """The `_meta` of each tools/call the upstream received, in order."""
    calls = [b for b in upstream.bodies if isinstance(b, dict) and b.get("method") == "tools/call"]
    return [dict(call["params"].get("_meta") or {}) for call in calls]


async def _observe_count(url: str, mode: str) -> tuple[Any, list[Any], list[Any]]:
    """Call alpha_count at `url`; return its result and the progress and logs the client saw."""
    seen_progress: list[tuple[float, float | None, str | None]] = []
    logs: list[Any] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen_progress.append((progress, total, message))

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    async with Client(f"{url}/mcp", mode=mode, logging_callback=on_log, log_level="info") as client:
        counted = await client.call_tool("alpha_count", {"steps": 3}, progress_callback=on_progress)
        failed = await client.call_tool("alpha_fail", {})
    return (counted.structured_content, failed.is_error, failed.content), seen_progress, logs


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_progress_logs_and_errors_pass_through_unchanged(mode: str) -> None:
    async with (
        serve(build_upstream("alpha")) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
    ):
        direct = await _observe_count(alpha, mode)
        through = await _observe_count(url, mode)
    assert through == direct
    results, progress, logs = through
    assert results[0] == {"counted": 3}
    assert results[1] is True
    assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert logs == ["alpha counted 1", "alpha counted 2", "alpha counted 3"]


async def test_the_callers_credentials_never_reach_the_upstream() -> None:
    """Nor does any header but the allow-listed ones (the session id, proxies' headers)."""
    upstream = build_upstream("alpha", ["lookup"])
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp", tool_prefix="a.")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        initialize = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {}},
        }
        session = await http.post(f"{url}/mcp", json=initialize, headers=LEGACY)
        extra = {
            "Authorization": "Bearer end-user-token",
            "Cookie": "session=abc",
            "Mcp-Session-Id": session.headers["mcp-session-id"],
            "Mcp-Method": "tools/call",
            "Mcp-Name": "a.lookup",
            "User-Agent": "assistant/1.0",
            "X-Forwarded-For": "10.1.2.3",
        }
        response = await http.post(
            f"{url}/mcp", json=_call("a.lookup"), headers={**LEGACY, **extra}
        )
    assert response.status_code == 200, response.text
    assert '"text":"hi"' in response.text.replace(" ", "")
    (seen,) = (s for s in upstream.seen if s.get("mcp-method") == "tools/call")
    # A trace context is the aggregator's own (present when a tracer provider records spans).
    assert set(seen) - {"traceparent", "tracestate"} == {
        "host",
        "content-length",
        "accept",
        "content-type",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "user-agent",
    }
    assert seen["mcp-name"] == "lookup", "the name as the upstream knows the tool"
    assert seen["user-agent"] == "assistant/1.0"


async def test_a_principal_the_client_wrote_in_meta_never_reaches_the_upstream() -> None:
    upstream = build_upstream("alpha")
    forged = {"oid": "someone-else", "roles": ["Mcp.Admin"]}
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        meta = {PRINCIPAL_META_KEY: forged, "progressToken": 7, "note": "kept"}
        response = await http.post(f"{url}/mcp", json=_call("echo", meta), headers=LEGACY)
    assert response.status_code == 200, response.text
    (forwarded,) = _forwarded_metas(upstream)
    # auth=none: the caller is nobody in particular, so no identity travels at all.
    assert PRINCIPAL_META_KEY not in forwarded, forwarded
    assert forwarded["progressToken"] == 7
    assert forwarded["note"] == "kept"


async def test_the_trace_context_in_meta_is_the_aggregators_not_the_clients() -> None:
    upstream = build_upstream("alpha")
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    valid = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    malformed = {"traceparent": "00-not-a-trace-01", "tracestate": "vendor=forged"}
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp")]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        for meta in (valid, malformed):
            response = await http.post(f"{url}/mcp", json=_call("echo", meta), headers=LEGACY)
            assert response.status_code == 200, response.text
    continued, fresh = _forwarded_metas(upstream)
    assert continued["traceparent"].split("-")[1] == trace_id, "the client's trace goes on"
    assert fresh.get("traceparent") != malformed["traceparent"]
    assert "tracestate" not in fresh, "a state that came with a broken trace context is dropped"


class FailFirstCalls:
    """ASGI middleware failing the first `failures` tools/call requests per tool: answering
    `status` at once, or with `hold`, only once `release` is set (past any call timeout)."""

    def __init__(self, app: Any, failures: int = 1, status: int = 503, hold: bool = False) -> None:
        self._app = app
        self._failures = failures
        self._status = status
        self._hold = hold
        self.release = anyio.Event()
        self.calls: dict[str, int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name = dict(scope.get("headers", [])).get(b"mcp-name", b"").decode()
        if scope["type"] == "http" and scope["method"] == "POST" and name:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] <= self._failures:
                if self._hold:
                    await self.release.wait()
                await Response("overloaded", status_code=self._status)(scope, receive, send)
                return
        await self._app(scope, receive, send)


async def test_a_503_is_retried_for_read_only_tools_and_never_for_others() -> None:
    upstream = FailFirstCalls(build_upstream("alpha", ["lookup"]))
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp", retries=1)]) as url,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
    ):
        read_only = await client.call_tool("lookup", {"text": "again"})
        unsafe = await client.call_tool("alpha_count", {"steps": 1})
    assert not read_only.is_error, "the read-only tool was retried past the 503"
    assert upstream.calls["lookup"] == 2
    assert tool_error(unsafe) == ReportedError(
        "upstream_error", "upstream 'alpha' answered HTTP 503"
    )
    assert upstream.calls["alpha_count"] == 1, "a call that may have run is never resent"


@pytest.mark.parametrize(("status", "attempts"), [(500, 1), (501, 1), (502, 2), (504, 2)])
async def test_only_502_503_and_504_are_retried_even_for_read_only_tools(
    status: int, attempts: int
) -> None:
    upstream = FailFirstCalls(build_upstream("alpha", ["lookup"]), status=status)
    async with (
        serve(upstream) as alpha,
        aggregator([UpstreamConfig("alpha", f"{alpha}/mcp", retries=1)]) as url,
        Client(f"{url}/mcp", mode="2026-07-28") as client,
    ):
        result = await client.call_tool("lookup", {"text": "again"})
    assert upstream.calls["lookup"] == attempts
    if attempts == 1:
        assert tool_error(result) == ReportedError(
            "upstream_error", f"upstream 'alpha' answered HTTP {status}"
        )
    else:
        assert not result.is_error, "retried past the gateway error"


async def test_a_timeout_is_retried_for_read_only_tools_and_never_for_others() -> None:
    upstream = FailFirstCalls(build_upstream("alpha", ["lookup"]), hold=True)
    async with serve(upstream) as alpha:
        config = UpstreamConfig("alpha", f"{alpha}/mcp", call_timeout=0.5, retries=1)
        try:
            async with (
                aggregator([config]) as url,
                Client(f"{url}/mcp", mode="2026-07-28") as client,
            ):
                with anyio.fail_after(30):
                    read_only = await client.call_tool("lookup", {"text": "again"})
                    unsafe = await client.call_tool("alpha_count", {"steps": 1})
        finally:
            upstream.release.set()
    assert not read_only.is_error, "the read-only tool was retried past the timeout"
    assert upstream.calls["lookup"] == 2
    assert tool_error(unsafe) == ReportedError(
        "upstream_unavailable", "upstream 'alpha' did not answer within 0.5s"
    )
    assert upstream.calls["alpha_count"] == 1, "a call the upstream may be running is not resent"


async def test_a_refused_connection_is_retried_even_for_an_unsafe_tool_and_reported() -> None:
    """Nothing reached the upstream, so even a call that must not run twice is sent again."""
    async with contextlib.AsyncExitStack() as stack:
        first_life = contextlib.AsyncExitStack()
        alpha = await first_life.enter_async_context(serve(build_upstream("alpha")))
        # More retries than a registry file allows: the backoff leaves ample time to restart.
        config = UpstreamConfig("alpha", f"{alpha}/mcp", retries=8)
        quiet = {"probe_interval_seconds": 600.0, "unavailable_after_seconds": 600.0}
        url = await stack.enter_async_context(aggregator([config], **quiet))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))

        async def health_is(value: str) -> bool:
            ready = (await http.get(f"{url}/health/ready")).json()
            return bool(ready["checks"]["upstreams"]["detail"]["alpha"]["health"] == value)

        await eventually(lambda: health_is("up"), timeout=30)
        await first_life.aclose()  # alpha goes down; with no probes due, nobody has noticed
        second_life = build_upstream("alpha")
        with anyio.fail_after(60):
            async with (
                Client(f"{url}/mcp", mode="2026-07-28") as client,
                anyio.create_task_group() as group,
            ):
                results: list[Any] = []

                async def call() -> None:
                    results.append(await client.call_tool("alpha_count", {"steps": 1}))

                group.start_soon(call)
                await eventually(lambda: health_is("suspect"), timeout=30)  # the call told it
                port = int(alpha.rsplit(":", 1)[1])
                await stack.enter_async_context(serve(second_life, port=port))
    (result,) = results
    assert result.structured_content == {"counted": 1}, result.content
    assert len(_forwarded_metas(second_life)) == 1, "sent again until it got through, run once"
