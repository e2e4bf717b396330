"""One upstream MCP server: its pooled connections, its health, and its last good listing.

Health is a small state machine driven by probes and by failed calls:

    unknown --ok--> up --failure--> suspect --failing for `unavailable_after`--> down
                     ^                 |                                         |
                     +------ok---------+-----------------ok----------------------+

`up` and `suspect` upstreams are listed and routed (a suspect one may be a blip: its calls are
still tried). A `down` one is left out of the merged lists and calls to its remembered tools fail
at once with an error naming it; it is probed every second and comes back on the first success.
The grace period is what keeps a flapping upstream from causing a storm of list changes.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from mcp_aggregator.catalog import UpstreamListing
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import ListingTooLarge, UpstreamUnavailable
from mcp_aggregator.wire import last_answer
from mcp_common.errors import Unauthorized
from mcp_common.identity import NoToken, TokenSource

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Health(enum.Enum):
    UNKNOWN = "unknown"
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"


def describe_error(exc: BaseException) -> str:
    """A short description of why an upstream could not be reached, fit for callers and the
    unauthenticated readiness endpoint: a kind of failure, never the exception's text (which
    can hold the upstream's URL or what it answered; `log_detail` is for the log)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    # aiohttp's on the data path; httpx2's (the MCP SDK client's) on the control path.
    if isinstance(exc, aiohttp.ClientConnectorError | httpx2.ConnectError):
        return "connection refused or unreachable"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(inner) for inner in exc.exceptions[:3])
    if isinstance(exc, ListingTooLarge):
        return str(exc)  # our own words
    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}"
    return type(exc).__name__


def log_detail(exc: BaseException) -> str:
    """The exception's own words, for the log only."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(log_detail(inner) for inner in exc.exceptions[:3])
    return f"{type(exc).__name__}: {exc}"[:500]


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


LATEST_HANDSHAKE = HANDSHAKE_PROTOCOL_VERSIONS[-1]
RELAYED = frozenset({"sampling", "elicitation", "roots"})
"""Client capabilities whose requests the aggregator relays to its 2025-11-25 clients."""
NEEDS_RECHECK_SECONDS = 600.0
"""How long the capabilities a session-based upstream's tools need are trusted while its tool
list stays the same (see `Upstream._capability_needs`)."""

Needs = tuple[tuple[str, frozenset[str]], ...]


async def _refuse(*_args: Any) -> Any:
    raise MCPError(-32601, "the aggregator does not answer server requests while listing")


_REFUSE: Any = _refuse  # one callback for the SDK's three callback protocols


class Upstream:
    """An upstream MCP server as the aggregator sees it. Create, `probe()`, and `aclose()`."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        unavailable_after: float,
        tokens: TokenSource | None = None,
    ) -> None:
        self.config = config
        self.unavailable_after = unavailable_after
        self._tokens = tokens or NoToken()
        self._http: aiohttp.ClientSession | None = None
        self.health = Health.UNKNOWN
        self.listing: UpstreamListing | None = None
        self.last_error: str | None = None
        self.failing_since: float | None = None
        self.listen_supported: bool | None = None
        self.session_based: bool | None = None
        """Whether a 2025-11-25 `initialize` gets a session (None until it has been listed)."""
        self.session_version: str = LATEST_HANDSHAKE
        """The handshake version its sessions are opened in (what it agreed to)."""
        self._mode = "auto"
        self._needs: tuple[frozenset[str], float, Needs] | None = None
        """The last `_capability_needs`: for which tool names, when (monotonic), the answer."""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        """Listed and routed: healthy, or within the grace period of a failure."""
        return self.health in (Health.UP, Health.SUSPECT) and self.listing is not None

    @property
    def session_mode(self) -> str:
        """`stateless`, or for a session-based upstream its configured `per-client`/`shared`."""
        return self.config.sessions if self.session_based else "stateless"

    @property
    def modern(self) -> bool:
        """It speaks 2026-07-28 (found through `server/discover`), which has no sessions."""
        return self._mode not in ("auto", "legacy")

    @property
    def connect_mode(self) -> str:
        """The `mcp.Client` mode learned from this upstream (a modern version, or legacy)."""
        return self._mode

    @property
    def http(self) -> aiohttp.ClientSession:
        """The pooled keep-alive connections that routed requests and pings go over.

        aiohttp rather than httpx on this path: a profile of the forwarding hop showed httpx's
        per-request work (request building, cookie handling, response closing) as over half
        of the aggregator's CPU per call. Created on first use, inside the event loop.
        """
        if self._http is None:
            # Idle connections are dropped before the upstream drops them (uvicorn closes after
            # 5 s idle): reusing one the server is closing cuts the answer off mid-way.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=4),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self.config.connect_timeout,
                    sock_read=self.config.call_timeout,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                # Bytes pass through unchanged: ask for no compression, send no agent of ours.
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self._tokens.close()

    async def authorization(self) -> str | None:
        """`Bearer <the aggregator's own token for this upstream>`, or None when it needs none.

        Never the client's token: the upstream trusts the aggregator's identity, and learns the
        end user from `_meta`.

        Raises:
            UpstreamUnavailable: no token could be had (the message says why, without secrets).
        """
        try:
            token = await self._tokens.token()
        except Unauthorized as exc:
            raise UpstreamUnavailable(
                f"the aggregator could not get a token for upstream {self.name!r}: {exc.message}"
            ) from exc
        return f"Bearer {token}" if token else None

    async def refresh(self) -> bool:
        """Fetch the upstream's tools, prompts and resources; True if availability changed."""
        try:
            with anyio.fail_after(self.config.list_timeout):
                listing = await self._fetch_listing()
        except Exception as exc:  # noqa: BLE001 - any failure is a health signal, recorded
            return self.record_failure(describe_error(exc), log_detail(exc))
        self.listing = listing
        return self.record_success()

    async def ping(self) -> bool:
        """A light liveness probe over the pooled connections; True if availability changed.

        Any HTTP answer below 500 proves the server is serving (a stateless server may answer a
        bare ping with 400 under a newer protocol: it is alive all the same).
        """
        body = {"jsonrpc": "2.0", "id": "aggregator-probe", "method": "ping"}
        headers = {
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": HANDSHAKE_PROTOCOL_VERSIONS[-1],
        }
        try:
            authorization = await self.authorization()
            if authorization:
                headers["Authorization"] = authorization
            with anyio.fail_after(self.config.list_timeout):
                async with self.http.post(self.config.url, json=body, headers=headers) as response:
                    await response.read()
                    status = response.status
        except Exception as exc:  # noqa: BLE001 - any failure is a health signal, recorded
            return self.record_failure(describe_error(exc), log_detail(exc))
        if status >= 500:
            return self.record_failure(f"HTTP {status}")
        return self.record_success()

    def record_failure(self, error: str, detail: str | None = None) -> bool:
        """Note a failed probe or call (`error` as callers may see it, `detail` for the log
        only); True when this moves the upstream out of the listing."""
        now = time.monotonic()
        logged = f"{error} ({detail})" if detail and detail != error else error
        self.last_error = error
        was_available = self.available
        if self.health in (Health.UP, Health.UNKNOWN):
            self.health = Health.SUSPECT if self.health is Health.UP else Health.DOWN
            self.failing_since = now
            logger.warning(
                "upstream %s at %s failing: %s",
                self.name,
                self.config.url,
                logged,
                extra={"upstream": self.name},
            )
        elif self.health is Health.SUSPECT and self.failing_since is not None:
            if now - self.failing_since >= self.unavailable_after:
                self.health = Health.DOWN
                logger.error(
                    "upstream %s unavailable after %.0fs: %s",
                    self.name,
                    now - self.failing_since,
                    logged,
                    extra={"upstream": self.name},
                )
        if self.health is Health.DOWN and self.failing_since is None:
            self.failing_since = now
        return was_available != self.available

    def record_success(self) -> bool:
        was_available = self.available
        if self.health is not Health.UP:
            logger.info("upstream %s is up", self.name, extra={"upstream": self.name})
        self.health = Health.UP
        self.failing_since = None
        self.last_error = None
        return was_available != self.available

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
        authorization = await self.authorization()
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
                mode=self._mode,
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
        authorization = await self.authorization()
        if authorization:
            headers["authorization"] = authorization
        async with self.http.post(self.config.url, json=request, headers=headers) as response:
            body = await response.read()
            session_id = response.headers.get("mcp-session-id")
        if response.status != 200 or not session_id:
            return None
        headers["mcp-session-id"] = session_id
        headers["mcp-protocol-version"] = LATEST_HANDSHAKE
        with contextlib.suppress(aiohttp.ClientError):
            async with self.http.delete(self.config.url, headers=headers) as ended:
                await ended.read()
        answer = last_answer(body)  # JSON or SSE
        result = answer.get("result") if answer else None
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        return version if isinstance(version, str) else LATEST_HANDSHAKE

    async def _fetch_listing(self) -> UpstreamListing:
        sessions: list[str] = []
        async with self.client(sessions=sessions) as client:
            if self._mode == "auto":
                version = client.protocol_version
                self._mode = "legacy" if version in HANDSHAKE_PROTOCOL_VERSIONS else version
            capabilities = client.server_capabilities
            if self._mode == "legacy":
                # Session-based: it answered `initialize` with an Mcp-Session-Id.
                self.session_based = bool(sessions)
                self.session_version = client.protocol_version
            name = self.name
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
                templates = await _all_pages(
                    lambda c: client.list_resource_templates(cursor=c), "resource_templates", name
                )
        needs: Needs = ()
        if self._mode == "legacy" and self.session_based:
            needs = await self._capability_needs({tool.name for tool in tools})
        if self._mode != "legacy":
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
            tools = await _all_pages(lambda c: client.list_tools(cursor=c), "tools", self.name)
        return {tool.name for tool in tools}
