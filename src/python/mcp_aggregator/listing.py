"""Listing an upstream over MCP (the control plane), and what listing teaches about it.

The aggregator lists each upstream with the SDK's own client (`mcp.Client`), as itself, and
learns on the way what the upstream speaks:

- its **mode**: the first listing connects in `auto`; a server that agrees to a 2026-07-28
  version is spoken to in that version afterwards, an older one in `legacy` (2025-11-25
  handshakes);
- whether it is **session-based**: a 2025-11-25 `initialize` gets an `Mcp-Session-Id` (a
  modern server is asked once with a probe handshake, whose session is ended at once), and in
  which handshake version its sessions are opened;
- which tools it offers only to clients with some **capability** (sampling, elicitation,
  roots): the aggregator lists those only to clients that declared them (`tool_needs`).

Paged listings are followed to the end within limits (`MAX_LISTED_ITEMS`, `MAX_LISTED_PAGES`);
past them the listing is refused whole, never cut short: a cut list would look complete.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from mcp_aggregator.catalog import UpstreamListing
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import METHOD_NOT_FOUND, ListingTooLarge
from mcp_aggregator.transport import TRANSPORT_ERRORS
from mcp_aggregator.wire import last_answer

MAX_LISTED_ITEMS = 10_000
"""Most tools (or prompts, resources, templates) one upstream may list, over all its pages."""
MAX_LISTED_PAGES = 100


async def _all_pages(
    fetch: Callable[[str | None], Awaitable[Any]], attribute: str, upstream: str
) -> tuple[Any, ...]:
    """Every item of a paged listing, refusing (not truncating) one past the limits: a silently
    cut list would look complete, and an unbounded one would fill the aggregator's memory.

    Raises:
        ListingTooLarge: past MAX_LISTED_ITEMS items or MAX_LISTED_PAGES pages.
    """
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_LISTED_PAGES):
        page = await fetch(cursor)
        items.extend(getattr(page, attribute))
        if len(items) > MAX_LISTED_ITEMS:
            raise ListingTooLarge(
                f"upstream {upstream!r} listed more than {MAX_LISTED_ITEMS} {attribute}, the "
                "most the aggregator accepts from one upstream"
            )
        cursor = page.next_cursor
        if not cursor:
            return tuple(items)
    raise ListingTooLarge(
        f"upstream {upstream!r} listed {attribute} over more than {MAX_LISTED_PAGES} pages, "
        "the most the aggregator follows"
    )


async def _resource_templates(client: Client, upstream: str) -> tuple[Any, ...]:
    """Its resource templates; none when it has no such method (-32601): many servers with
    resources have no templates, and answer so rather than with an empty list."""
    try:
        return await _all_pages(
            lambda c: client.list_resource_templates(cursor=c), "resource_templates", upstream
        )
    except MCPError as exc:
        if exc.code != METHOD_NOT_FOUND:
            raise
        return ()


LATEST_HANDSHAKE = HANDSHAKE_PROTOCOL_VERSIONS[-1]
RELAYED = frozenset({"sampling", "elicitation", "roots"})
"""Client capabilities whose requests the aggregator relays to its 2025-11-25 clients."""
NEEDS_RECHECK_SECONDS = 600.0
"""How long the capabilities a session-based upstream's tools need are trusted while its tool
list stays the same (see `UpstreamLister._capability_needs`)."""

Needs = tuple[tuple[str, frozenset[str]], ...]


async def _refuse(*_args: Any) -> Any:
    raise MCPError(-32601, "the aggregator does not answer server requests while listing")


_REFUSE: Any = _refuse  # one callback for the SDK's three callback protocols


class UpstreamLister:
    """Lists one upstream and remembers what it learned (see the module docstring)."""

    def __init__(
        self,
        config: UpstreamConfig,
        authorization: Callable[[], Awaitable[str | None]],
        http: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.config = config
        self._authorization = authorization
        self._http = http
        self.mode = "auto"
        """The `mcp.Client` mode learned: `auto` until listed, then a version or `legacy`."""
        self.session_based: bool | None = None
        """Whether a 2025-11-25 `initialize` gets a session (None until it has been listed)."""
        self.session_version: str = LATEST_HANDSHAKE
        """The handshake version its sessions are opened in (what it agreed to)."""
        self._needs: tuple[frozenset[str], float, Needs] | None = None
        """The last `_capability_needs`: for which tool names, when (monotonic), the answer."""

    @contextlib.asynccontextmanager
    async def client(
        self,
        *,
        streaming: bool = False,
        sessions: list[str] | None = None,
        capabilities: frozenset[str] = RELAYED,
    ) -> AsyncIterator[Client]:
        """An MCP client session for control-plane calls in the learned mode, as the aggregator.

        `streaming` (a `subscriptions/listen` stream) has no read timeout: the stream is idle
        until something changes, and must not be cut and reopened every few seconds.
        `sessions` collects the session ids the upstream hands out; `capabilities` are the
        client capabilities declared (by default every one the aggregator relays).

        Raises:
            UpstreamUnavailable: no token could be had for this upstream.
        """
        timeout = None if streaming else self.config.list_timeout
        authorization = await self._authorization()
        headers = {"Authorization": authorization} if authorization else {}

        async def note_session(response: httpx2.Response) -> None:
            session_id = response.headers.get("mcp-session-id")
            if session_id and sessions is not None:
                sessions.append(session_id)

        # Waiting for answers is bounded per request by the session (read_timeout_seconds).
        http = httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(self.config.connect_timeout, read=None),
            event_hooks={"response": [note_session]},
        )
        async with (
            http,
            Client(
                streamable_http_client(self.config.url, http_client=http),
                mode=self.mode,
                read_timeout_seconds=timeout,
                # Declared so that servers which offer some tools only to clients able to answer
                # (server-everything's sampling and elicitation tools) list them: the aggregator
                # relays these requests to its 2025-11-25 clients. Never called while listing.
                sampling_callback=_REFUSE if "sampling" in capabilities else None,
                elicitation_callback=_REFUSE if "elicitation" in capabilities else None,
                list_roots_callback=_REFUSE if "roots" in capabilities else None,
            ) as client,
        ):
            yield client

    async def _handshake_session(self) -> str | None:
        """Whether a 2025-11-25 `initialize` gets a session here: the version it agreed to if
        so (the probe's session is ended at once), else None."""
        request = {
            "jsonrpc": "2.0",
            "id": "mcp-aggregator-session-probe",
            "method": "initialize",
            "params": {
                "protocolVersion": LATEST_HANDSHAKE,
                "capabilities": {},
                "clientInfo": {"name": "mcp-aggregator", "version": "probe"},
            },
        }
        headers = {"accept": "application/json, text/event-stream"}
        authorization = await self._authorization()
        if authorization:
            headers["authorization"] = authorization
        async with self._http().post(self.config.url, json=request, headers=headers) as response:
            body = await response.read()
            session_id = response.headers.get("mcp-session-id")
        if response.status != 200 or not session_id:
            return None
        headers["mcp-session-id"] = session_id
        headers["mcp-protocol-version"] = LATEST_HANDSHAKE
        with contextlib.suppress(*TRANSPORT_ERRORS):
            async with self._http().delete(self.config.url, headers=headers) as ended:
                await ended.read()
        answer = last_answer(body)  # JSON or SSE
        result = answer.get("result") if answer else None
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        return version if isinstance(version, str) else LATEST_HANDSHAKE

    async def fetch(self) -> UpstreamListing:
        """The upstream's tools, prompts, resources and templates, all pages; what it speaks
        is learned on the way (`mode`, `session_based`, `session_version`).

        Raises:
            ListingTooLarge, UpstreamUnavailable, and whatever the MCP client raises (every
            failure is a health signal to `Upstream.refresh`).
        """
        sessions: list[str] = []
        async with self.client(sessions=sessions) as client:
            if self.mode == "auto":
                version = client.protocol_version
                self.mode = "legacy" if version in HANDSHAKE_PROTOCOL_VERSIONS else version
            capabilities = client.server_capabilities
            if self.mode == "legacy":
                # Session-based: it answered `initialize` with an Mcp-Session-Id.
                self.session_based = bool(sessions)
                self.session_version = client.protocol_version
            name = self.config.name
            tools = await _all_pages(lambda c: client.list_tools(cursor=c), "tools", name)
            prompts: tuple[Any, ...] = ()
            resources: tuple[Any, ...] = ()
            templates: tuple[Any, ...] = ()
            if capabilities.prompts is not None:
                prompts = await _all_pages(lambda c: client.list_prompts(cursor=c), "prompts", name)
            if capabilities.resources is not None:
                resources = await _all_pages(
                    lambda c: client.list_resources(cursor=c), "resources", name
                )
                templates = await _resource_templates(client, name)
        needs: Needs = ()
        if self.mode == "legacy" and self.session_based:
            needs = await self._capability_needs({tool.name for tool in tools})
        if self.mode != "legacy":
            # 2026-07-28 has no sessions, but the same server may want one for 2025-11-25.
            handshake = await self._handshake_session()
            self.session_based = handshake is not None
            self.session_version = handshake or LATEST_HANDSHAKE
        return UpstreamListing(
            prefix=self.config.tool_prefix,
            tools=tools,
            prompts=prompts,
            resources=resources,
            resource_templates=templates,
            tool_needs=needs,
        )

    async def _capability_needs(self, names: set[str]) -> Needs:
        """Tools a session-based server offers only to clients with some capability (it
        registers them at `initialize`, as server-everything does with sampling): each
        with the capabilities without which it is not listed. The aggregator lists such a
        tool only to clients that declared them, so no client sees a tool it cannot call.

        Finding them takes a listing session per capability, so the answer is kept while the
        tool list (with every capability) names the same tools, and found again when it
        changes or after `NEEDS_RECHECK_SECONDS` (a server that gates an existing tool
        differently without changing its list is seen then)."""
        key = frozenset(names)
        now = time.monotonic()
        if self._needs is not None:
            known, when, needs = self._needs
            if known == key and now - when < NEEDS_RECHECK_SECONDS:
                return needs
        needs = await self._find_capability_needs(names)
        self._needs = (key, now, needs)
        return needs

    async def _find_capability_needs(self, names: set[str]) -> Needs:
        base = await self._tool_names(frozenset())
        gated = names - base
        if not gated:
            return ()
        needs: dict[str, set[str]] = {name: set() for name in gated}
        for capability in sorted(RELAYED):
            without = await self._tool_names(RELAYED - {capability})
            for name in gated - without:
                needs[name].add(capability)
        return tuple(
            (name, frozenset(caps) if caps else RELAYED) for name, caps in sorted(needs.items())
        )

    async def _tool_names(self, capabilities: frozenset[str]) -> set[str]:
        async with self.client(capabilities=capabilities) as client:
            tools = await _all_pages(
                lambda c: client.list_tools(cursor=c), "tools", self.config.name
            )
        return {tool.name for tool in tools}
