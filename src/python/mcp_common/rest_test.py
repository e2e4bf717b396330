"""RestClient against real HTTP servers on 127.0.0.1: retries, error mapping, headers."""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import anyio
import pytest
from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from opentelemetry.sdk.trace import TracerProvider

from mcp_common.errors import (
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    Unauthorized,
    UpstreamError,
    UpstreamUnavailable,
)
from mcp_common.rest import RestClient, path_segment
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio


class StaticToken:
    async def token(self) -> str | None:
        return "token-123"

    async def close(self) -> None:
        return None


def _flaky_api(calls: Counter[str], seen: list[dict[str, Any]]) -> FastAPI:
    api = FastAPI()

    @api.get("/flaky")
    async def flaky(fail_times: int = 2) -> dict[str, int]:
        calls["GET /flaky"] += 1
        if calls["GET /flaky"] <= fail_times:
            raise HTTPException(503, detail="warming up")
        return {"attempts": calls["GET /flaky"]}

    @api.post("/create")
    async def create() -> dict[str, str]:
        calls["POST /create"] += 1
        raise HTTPException(503, detail="overloaded")

    @api.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, detail="no widget 'w-1'")

    @api.get("/conflict")
    async def conflict() -> None:
        raise HTTPException(409, detail="key reused")

    @api.get("/salaries")
    async def salaries() -> None:
        # A system of record refusing the person an on-behalf-of token is for, saying why.
        raise HTTPException(403, detail="dataset 'salaries' needs one of the roles HR.Read")

    @api.get("/guarded")
    async def guarded() -> Response:
        # The request guard's refusal of the caller's token: OAuth's shape, no `detail`.
        return Response(
            '{"error": "forbidden", "error_description": "app x may not call"}',
            status_code=403,
            media_type="application/json",
        )

    @api.get("/typed")
    async def typed(limit: int = Query(le=10)) -> dict[str, int]:
        return {"limit": limit}

    @api.get("/slow")
    async def slow() -> None:
        calls["GET /slow"] += 1
        await anyio.sleep(5)

    @api.get("/echo")
    async def echo(request: Request, authorization: str = Header("")) -> dict[str, str]:
        seen.append(dict(request.headers))
        return {"authorization": authorization}

    return api


async def test_reads_are_retried_through_transient_503s(caplog: pytest.LogCaptureFixture) -> None:
    calls: Counter[str] = Counter()
    async with serve(_flaky_api(calls, [])) as url:
        client = RestClient("widgets", url, retries=2, backoff_seconds=0.01)
        body = await client.get("/flaky", params={"fail_times": 2})
        calls.clear()
        with pytest.raises(UpstreamError) as caught:
            await client.get("/flaky", params={"fail_times": 5})
        await client.aclose()
    assert body == {"attempts": 3}
    assert calls["GET /flaky"] == 3, "one try and two retries, no more"
    # The caller hears the status; the upstream's body and address stay in the log.
    assert caught.value.message == "widgets API answered HTTP 503"
    assert f"GET {url}/flaky failed: HTTP 503" in caplog.text
    assert "warming up" in caplog.text


async def test_an_error_page_that_is_not_json_never_reaches_the_caller() -> None:
    api = FastAPI()

    @api.get("/proxied")
    async def proxied() -> Response:
        return Response("<h1>Bad request</h1> backend 10.0.0.7:8080", status_code=400)

    async with serve(api) as url:
        client = RestClient("widgets", url, retries=0)
        with pytest.raises(InvalidArgument) as caught:
            await client.get("/proxied")
        await client.aclose()
    assert caught.value.message == "widgets API refused the request (HTTP 400)"


async def test_a_create_without_idempotency_is_sent_once() -> None:
    calls: Counter[str] = Counter()
    async with serve(_flaky_api(calls, [])) as url:
        client = RestClient("widgets", url, retries=3, backoff_seconds=0.01)
        with pytest.raises(UpstreamError):
            await client.request("POST", "/create", json={}, idempotent=False)
        await client.aclose()
    assert calls["POST /create"] == 1


async def test_status_codes_map_to_coded_errors_with_the_upstreams_words() -> None:
    async with serve(_flaky_api(Counter(), [])) as url:
        client = RestClient("widgets", url, retries=0)
        with pytest.raises(NotFound, match="no widget 'w-1'"):
            await client.get("/missing")
        with pytest.raises(Conflict, match="key reused"):
            await client.get("/conflict")
        with pytest.raises(
            InvalidArgument, match="limit: Input should be less than or equal to 10"
        ):
            await client.get("/typed", params={"limit": 50})
        with pytest.raises(Forbidden, match="needs one of the roles HR.Read") as forbidden:
            await client.get("/salaries")
        with pytest.raises(Unauthorized) as refused:
            await client.get("/guarded")
        await client.aclose()
    assert forbidden.value.code == "forbidden"
    # Not the end user's fault: this service's own credentials, and nothing of the guard's.
    assert refused.value.code == "unauthorized"
    assert refused.value.message == "widgets API refused this service's credentials (HTTP 403)"


async def test_timeouts_and_refused_connections_are_upstream_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: Counter[str] = Counter()
    async with serve(_flaky_api(calls, [])) as url:
        client = RestClient("widgets", url, timeout_seconds=0.3, retries=1, backoff_seconds=0.01)
        with pytest.raises(UpstreamUnavailable, match=r"did not answer within 0.3s"):
            await client.get("/slow")
        await client.aclose()
    assert calls["GET /slow"] == 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = RestClient(
        "widgets", f"http://127.0.0.1:{closed_port}", retries=1, backoff_seconds=0.01
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.request("POST", "/create", idempotent=False)
    await client.aclose()
    assert caught.value.message == "widgets API unreachable (ConnectError)"
    assert f"POST http://127.0.0.1:{closed_port}/create failed: ConnectError" in caplog.text


async def test_requests_carry_the_bearer_token_and_the_trace_context() -> None:
    seen: list[dict[str, Any]] = []
    tracer = TracerProvider().get_tracer("test")
    async with serve(_flaky_api(Counter(), seen)) as url:
        client = RestClient("widgets", url, tokens=StaticToken())
        with tracer.start_as_current_span("tool call") as span:
            body = await client.get("/echo")
            trace_id = f"{span.get_span_context().trace_id:032x}"
        await client.aclose()
    assert body == {"authorization": "Bearer token-123"}
    assert seen[0]["traceparent"].split("-")[1] == trace_id


def test_path_segments_are_encoded_and_never_dot_segments() -> None:
    assert path_segment("u-0001") == "u-0001"
    assert path_segment("a/b c") == "a%2Fb%20c"
    for dots in (".", ".."):
        with pytest.raises(InvalidArgument, match="cannot name a resource"):
            path_segment(dots)
