"""Which upstream sessions a client has: the sessions of every session-based upstream on this
replica, and those a 2025-11-25 client's session id names.

A client's session id carries, sealed, the upstream session ids opened for it
(`sessions.ClientSession.upstreams`), so nothing here is shared between replicas: a replica
holds only its `shared` sessions and the `UpstreamSessions` that open, use and end the others.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from mcp_aggregator.errors import AggregatorError
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.upstream_sessions import UpstreamSessions

logger = logging.getLogger(__name__)


class SessionPool:
    """The sessions of this replica's session-based upstreams."""

    def __init__(self, registry: UpstreamRegistry) -> None:
        self._registry = registry
        self._sessions: dict[str, UpstreamSessions] = {}

    def sessions(self, upstream: Upstream) -> UpstreamSessions:
        """The sessions of `upstream` (new ones when the registry replaced it)."""
        current = self._sessions.get(upstream.name)
        if current is None or current.upstream is not upstream:
            current = self._sessions[upstream.name] = UpstreamSessions(upstream)
        return current

    def session_based(self) -> list[Upstream]:
        """The available upstreams that keep sessions."""
        return [u for u in self._registry.upstreams.values() if u.available and u.session_based]

    def owned(self, client: ClientSession) -> list[tuple[Upstream, str]]:
        """(upstream, session id) of each upstream session the client's session id names
        whose upstream is still registered and session-based."""
        pairs = []
        for name, session_id in client.upstreams.items():
            upstream = self._registry.upstreams.get(name)
            if upstream is not None and upstream.session_based:
                pairs.append((upstream, session_id))
        return pairs

    def upstream(self, name: str) -> Upstream | None:
        """The registered upstream called `name`, if any."""
        return self._registry.upstreams.get(name)

    async def open_for_client(self, params: Any) -> dict[str, str]:
        """At a 2025-11-25 `initialize`: the upstream sessions to seal into the client's id.

        `per-client` upstreams get a session of their own, opened with the client's
        capabilities and clientInfo; `shared` ones are named by this replica's shared session.
        An upstream that cannot open one now is left out: its calls then get a session per
        request (per-client) or the replica's shared one.
        """
        params = params if isinstance(params, dict) else {}
        capabilities = params.get("capabilities")
        client_info = params.get("clientInfo")
        capabilities = capabilities if isinstance(capabilities, dict) else None
        client_info = client_info if isinstance(client_info, dict) else None
        opened: dict[str, str] = {}

        async def open_one(upstream: Upstream) -> None:
            sessions = self.sessions(upstream)
            try:
                if upstream.session_mode == "shared":
                    opened[upstream.name] = await sessions.shared()
                else:
                    opened[upstream.name] = await sessions.open(capabilities, client_info)
            except AggregatorError as exc:
                logger.warning("no session with %s for a new client: %s", upstream.name, exc)

        async with anyio.create_task_group() as group:
            for upstream in self.session_based():
                group.start_soon(open_one, upstream)
        return opened

    async def end(self, client: ClientSession) -> None:
        """The client ended its session (DELETE): end its per-client upstream sessions."""
        async with anyio.create_task_group() as group:
            for upstream, session_id in self.owned(client):
                if upstream.session_mode == "per-client":
                    group.start_soon(self.sessions(upstream).close, session_id)
