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

import enum
import logging
import time

import aiohttp
import anyio
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from mcp_aggregator.catalog import UpstreamListing
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import UpstreamUnavailable
from mcp_aggregator.listing import UpstreamLister
from mcp_aggregator.transport import describe_error, log_detail
from mcp_common.errors import Unauthorized
from mcp_common.identity import NoToken, TokenSource

logger = logging.getLogger(__name__)


class Health(enum.Enum):
    UNKNOWN = "unknown"
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"


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
        self.lister = UpstreamLister(config, self.authorization, lambda: self.http)
        self.client = self.lister.client

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def available(self) -> bool:
        """Listed and routed: healthy, or within the grace period of a failure."""
        return self.health in (Health.UP, Health.SUSPECT) and self.listing is not None

    @property
    def session_based(self) -> bool | None:
        """Whether a 2025-11-25 `initialize` gets a session (None until it has been listed)."""
        return self.lister.session_based

    @session_based.setter
    def session_based(self, value: bool | None) -> None:
        self.lister.session_based = value

    @property
    def session_version(self) -> str:
        """The handshake version its sessions are opened in (what it agreed to)."""
        return self.lister.session_version

    @property
    def session_mode(self) -> str:
        """`stateless`, or for a session-based upstream its configured `per-client`/`shared`."""
        return self.config.sessions if self.session_based else "stateless"

    @property
    def modern(self) -> bool:
        """It speaks 2026-07-28 (found through `server/discover`), which has no sessions."""
        return self.lister.mode not in ("auto", "legacy")

    @property
    def connect_mode(self) -> str:
        """The `mcp.Client` mode learned from this upstream (a modern version, or legacy)."""
        return self.lister.mode

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
                listing = await self.lister.fetch()
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
