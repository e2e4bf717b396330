"""The GET streams of per-client upstream sessions, relayed into the client's own GET stream.

A session-based upstream may send on its session's GET stream what belongs to no request:
resource updates, log messages, its own requests (sampling, elicitation, roots). While a
2025-11-25 client holds its GET stream open, one feed per per-client upstream session follows
that upstream's GET stream and puts each message in, as `SessionRelay.outbound` writes it
(server requests get sealed ids). An upstream's list-changed notifications are not relayed:
the aggregator re-lists that upstream and announces the merged lists' change itself.

A followed stream that ends is reopened every `RECONNECT_SECONDS` while the upstream is still
the registered one; a 400, 404 or 405 (no stream offered, or the session is gone) ends it.
"""

from __future__ import annotations

import functools
import json
import logging

import aiohttp
import anyio

from mcp_aggregator.errors import AggregatorError
from mcp_aggregator.notifications import Feed, Put
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.session_relay import SessionRelay
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.transport import TRANSPORT_ERRORS, describe_error
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.wire import SseEvents, sse_event
from mcp_common.auth import Principal

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 2.0


class UpstreamStreams:
    """Feeds for a client's GET stream (see the module docstring)."""

    def __init__(self, registry: UpstreamRegistry, relay: SessionRelay) -> None:
        self._registry = registry
        self._relay = relay

    def feeds(self, client: ClientSession, principal: Principal) -> list[Feed]:
        """One feed per per-client upstream session the client's session id names."""
        return [
            functools.partial(self._follow, upstream, session_id, principal)
            for upstream, session_id in self._relay.pool.owned(client)
            if upstream.session_mode == "per-client"
        ]

    async def _follow(
        self, upstream: Upstream, session_id: str, principal: Principal, put: Put
    ) -> None:
        sessions = self._relay.pool.sessions(upstream)
        while self._registry.upstreams.get(upstream.name) is upstream:
            try:
                headers = await sessions.headers(session_id)
                headers["accept"] = "text/event-stream"
                async with upstream.http.get(
                    upstream.config.url,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
                ) as response:
                    if response.status in (400, 404, 405):
                        return  # no stream offered, or the session is gone
                    if response.status == 200:
                        await self._relay_stream(upstream, session_id, principal, response, put)
            except (*TRANSPORT_ERRORS, AggregatorError) as exc:
                logger.debug("GET stream of %s ended: %s", upstream.name, describe_error(exc))
            await anyio.sleep(RECONNECT_SECONDS)

    async def _relay_stream(
        self,
        upstream: Upstream,
        session_id: str,
        principal: Principal,
        response: aiohttp.ClientResponse,
        put: Put,
    ) -> None:
        events = SseEvents()
        async for chunk in response.content.iter_any():
            for data in events.feed(chunk):
                try:
                    message = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                method = message.get("method")
                if isinstance(method, str) and method.endswith("/list_changed"):
                    if method != "notifications/roots/list_changed":
                        logger.info("upstream %s says its lists changed", upstream.name)
                        await upstream.refresh()
                        self._registry.rebuild()
                        continue
                relayed = self._relay.outbound(message, upstream, session_id, principal)
                if relayed is not None:
                    await put(sse_event(relayed))
