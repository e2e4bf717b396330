"""Listing an upstream: what the aggregator learns of it, and paged listings within limits.

Every upstream is a real SDK server on 127.0.0.1; the wrappers below make one speak only the
2025-11-25 generation (as servers built before 2026-07-28 do), or agree to an older version.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from mcp import types
from mcp.server.lowlevel import Server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_aggregator import listing as listing_module
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import build_upstream, stateful_upstream
from mcp_aggregator.upstream import Upstream
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

ANY = {"type": "object"}
LEGACY = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}


def noting_sessions(
    app: ASGIApp, sessions: set[str], *, older: bool = False, agrees_to: str | None = None
) -> ASGIApp:
    """`app`, noting every session id it hands out. `older`: it refuses 2026-07-28, as servers
    built before that version do; `agrees_to`: it agrees to that handshake version only."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if older and dict(scope["headers"]).get(b"mcp-protocol-version") == b"2026-07-28":
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"unsupported protocol version"})
            return

        async def asked() -> Message:
            message = await receive()
            body = message.get("body", b"")
            if agrees_to and message["type"] == "http.request" and b'"initialize"' in body:
                request = json.loads(body)
                request["params"]["protocolVersion"] = agrees_to
                message = {**message, "body": json.dumps(request).encode()}
            return message

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                sessions.update(
                    v.decode() for k, v in message["headers"] if k.lower() == b"mcp-session-id"
                )
            await send(message)

        await app(scope, asked, noting)

    return wrapped


def gating_upstream(sessions: set[str], tools: list[str]) -> ASGIApp:
    """A 2025-11-25-only session-based server that lists `ask` only to clients that declared
    sampling (as server-everything does), and `tools` to everyone."""

    async def list_tools(ctx: Any, _params: Any) -> types.ListToolsResult:
        listed = [types.Tool(name=name, input_schema=ANY) for name in tools]
        capabilities = ctx.session.client_capabilities
        if capabilities is not None and capabilities.sampling is not None:
            listed.append(types.Tool(name="ask", input_schema=ANY))
        return types.ListToolsResult(tools=listed)

    server: Server[Any] = Server("gating", on_list_tools=list_tools)
    app = server.streamable_http_app(stateless_http=False, host="127.0.0.1")
    return noting_sessions(app, sessions, older=True)


def paged_upstream(pages: int, per_page: int = 2, templates: bool = True) -> ASGIApp:
    """A stateless server listing its tools and resources over `pages` pages (cursor = page);
    without `templates`, it has no `resources/templates/list` (-32601, as many servers)."""

    def page_of(params: types.PaginatedRequestParams | None) -> tuple[int, str | None]:
        page = int(params.cursor) if params is not None and params.cursor else 0
        return page, str(page + 1) if page + 1 < pages else None

    async def list_tools(_ctx: Any, params: Any) -> types.ListToolsResult:
        page, following = page_of(params)
        tools = [types.Tool(name=f"tool_{page}_{i}", input_schema=ANY) for i in range(per_page)]
        return types.ListToolsResult(tools=tools, next_cursor=following)

    async def list_resources(_ctx: Any, params: Any) -> types.ListResourcesResult:
        page, following = page_of(params)
        resource = types.Resource(name=f"r{page}", uri=f"file:///r{page}")
        return types.ListResourcesResult(resources=[resource], next_cursor=following)

    async def list_templates(_ctx: Any, _params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])

    server: Server[Any] = Server(
        "paged",
        on_list_tools=list_tools,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates if templates else None,
    )
    return server.streamable_http_app(stateless_http=True, host="127.0.0.1")


async def _refreshed(url: str, times: int = 1) -> Upstream:
    """An upstream at `url` after `times` listings (closed again: what it learned stays)."""
    upstream = Upstream(UpstreamConfig(name="up", url=f"{url}/mcp"), unavailable_after=30)
    try:
        with anyio.fail_after(30):
            for _ in range(times):
                await upstream.refresh()
    finally:
        await upstream.aclose()
    return upstream


async def test_a_modern_server_with_sessions_is_session_based_and_the_probe_leaves_none() -> None:
    sessions: set[str] = set()
    async with serve(noting_sessions(stateful_upstream(), sessions)) as url:
        upstream = await _refreshed(url)
        assert upstream.connect_mode == "2026-07-28"
        assert upstream.session_based is True
        assert len(sessions) == 1, "one probe handshake"
        headers = {**LEGACY, "mcp-session-id": sessions.pop()}
        async with httpx.AsyncClient(timeout=30) as http:
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            probe = await http.post(f"{url}/mcp", json=ping, headers=headers)
    assert probe.status_code == 404, "the probe's session was ended at once"


async def test_an_older_session_based_upstream_is_legacy_in_the_version_it_agreed_to() -> None:
    sessions: set[str] = set()
    app = noting_sessions(stateful_upstream(), sessions, older=True, agrees_to="2025-06-18")
    async with serve(app) as url:
        upstream = await _refreshed(url)
    assert upstream.connect_mode == "legacy"
    assert upstream.session_based is True
    assert upstream.session_version == "2025-06-18"
    assert upstream.session_mode == "per-client"
    assert upstream.listing is not None
    assert {tool.name for tool in upstream.listing.tools} == {"count", "ask"}


@pytest.mark.parametrize(("older", "mode"), [(False, "2026-07-28"), (True, "legacy")])
async def test_a_stateless_upstream_is_spoken_to_in_its_generation_without_sessions(
    older: bool, mode: str
) -> None:
    sessions: set[str] = set()
    app = noting_sessions(build_upstream("alpha", ["lookup"]), sessions, older=older)
    async with serve(app) as url:
        upstream = await _refreshed(url)
    assert upstream.connect_mode == mode
    assert upstream.session_based is False
    assert upstream.session_mode == "stateless", "its calls need no session"
    assert sessions == set()
    assert upstream.listing is not None
    assert {tool.name for tool in upstream.listing.tools} == {"lookup", "alpha_count", "alpha_fail"}


async def test_capability_gated_tools_are_probed_again_only_when_the_tool_list_changes() -> None:
    sessions: set[str] = set()
    tools = ["echo"]
    async with serve(gating_upstream(sessions, tools)) as url:
        config = UpstreamConfig(name="gating", url=f"{url}/mcp", sessions="per-client")
        upstream = Upstream(config, unavailable_after=30)
        try:
            await upstream.refresh()
            assert upstream.session_based is True
            assert upstream.listing is not None
            assert upstream.listing.tool_needs == (("ask", frozenset({"sampling"})),)
            first = len(sessions)
            assert first == 5  # the listing, then one without and one per relayed capability

            await upstream.refresh()
            assert upstream.listing.tool_needs == (("ask", frozenset({"sampling"})),)
            assert len(sessions) == first + 1  # the listing session only

            tools.append("later")
            await upstream.refresh()
            assert {tool.name for tool in upstream.listing.tools} == {"echo", "later", "ask"}
            assert len(sessions) == first + 1 + 5, "a changed list is probed again"
        finally:
            await upstream.aclose()


async def test_gated_tools_are_probed_again_after_the_recheck_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing_module, "NEEDS_RECHECK_SECONDS", 0.0)
    sessions: set[str] = set()
    async with serve(gating_upstream(sessions, ["echo"])) as url:
        upstream = await _refreshed(url, times=2)
    assert upstream.listing is not None
    assert upstream.listing.tool_needs == (("ask", frozenset({"sampling"})),)
    assert len(sessions) == 10, "the second listing found the capabilities again"


async def test_every_page_of_a_paged_listing_is_followed() -> None:
    async with serve(paged_upstream(pages=3)) as url:
        upstream = await _refreshed(url)
    assert upstream.listing is not None, upstream.last_error
    assert [tool.name for tool in upstream.listing.tools] == [
        f"tool_{page}_{i}" for page in range(3) for i in range(2)
    ]
    assert [resource.name for resource in upstream.listing.resources] == ["r0", "r1", "r2"]


LIMITS = {
    "MAX_LISTED_PAGES": "listed tools over more than 3 pages, the most the aggregator follows",
    "MAX_LISTED_ITEMS": "listed more than 3 tools, the most the aggregator accepts from one upstream",
}


@pytest.mark.parametrize(
    ("limit", "pages", "per_page"), [("MAX_LISTED_PAGES", 4, 1), ("MAX_LISTED_ITEMS", 2, 2)]
)
async def test_a_listing_past_a_limit_over_all_its_pages_is_refused_by_name_and_limit(
    monkeypatch: pytest.MonkeyPatch, limit: str, pages: int, per_page: int
) -> None:
    monkeypatch.setattr(listing_module, limit, 3)
    async with (
        serve(paged_upstream(pages=3, per_page=1)) as at_limit,
        serve(paged_upstream(pages, per_page)) as past,
    ):
        accepted = await _refreshed(at_limit)
        refused = await _refreshed(past)
    assert accepted.listing is not None, accepted.last_error
    assert len(accepted.listing.tools) == 3
    assert refused.listing is None, "refused whole, not cut short"
    assert not refused.available
    assert refused.last_error == f"upstream 'up' {LIMITS[limit]}"


async def test_resources_without_templates_are_listed_not_the_upstream_refused() -> None:
    async with serve(paged_upstream(pages=1, templates=False)) as url:
        upstream = await _refreshed(url)
    assert upstream.available, upstream.last_error
    assert upstream.listing is not None
    assert [r.name for r in upstream.listing.resources] == ["r0"]
    assert upstream.listing.resource_templates == ()
