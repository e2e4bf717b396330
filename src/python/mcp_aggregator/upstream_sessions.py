"""Sessions with session-based upstreams: open, use, re-open and end them.

A session-based upstream (one that answered `initialize` with an `Mcp-Session-Id`) refuses
requests without its session. The aggregator opens sessions in the protocol version it
negotiated when it listed the upstream, as itself (its own token, as on the fast path):

- `shared`: one session per replica, opened on first use and re-opened when the upstream
  forgets it. For servers whose tools keep no per-client state.
- `per-client`: a session per client session, opened when a 2025-11-25 client initializes
  (with that client's capabilities and clientInfo), its id sealed into the client's session
  id (`sessions`). A 2026-07-28 client has no session: each of its requests gets a session of
  its own, ended after the answer, so no client ever sees another's state.

"Forgets" is HTTP 404 (the spec's answer to an unknown session), or the 400 that some servers
(the TypeScript SDK's examples, server-everything) send instead, whose JSON-RPC error names
the session.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import anyio

from mcp_aggregator.errors import SessionExpired, UpstreamBroken, UpstreamUnavailable
from mcp_aggregator.transport import (
    TRANSPORT_ERRORS,
    Phase,
    describe_error,
    nothing_sent,
    translated,
)
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.wire import last_answer

logger = logging.getLogger(__name__)

ACCEPT = "application/json, text/event-stream"
# What a shared session declares: the requests the aggregator relays to whichever client made
# the call (a client that cannot answer one answers with an error, which goes back upstream).
RELAYED_CAPABILITIES: dict[str, Any] = {"sampling": {}, "elicitation": {}, "roots": {}}
_CLIENT_INFO = {"name": "mcp-aggregator", "version": "1"}


def session_error(status: int, body: bytes) -> bool:
    """Whether an HTTP answer says the session is unknown (404, or a 400 naming it)."""
    if status == 404:
        return True
    if status != 400:
        return False
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(message, str) and "session" in message.lower()


class UpstreamSessions:
    """The sessions of one session-based upstream (see the module docstring)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._shared: str | None = None
        self._lock = anyio.Lock()

    async def headers(self, session_id: str | None) -> dict[str, str]:
        """Request headers for the upstream (its token, the negotiated version, the session).

        Raises:
            UpstreamUnavailable: no token could be had.
        """
        headers = {
            "accept": ACCEPT,
            "content-type": "application/json",
            "mcp-protocol-version": self.upstream.session_version,
        }
        authorization = await self.upstream.authorization()
        if authorization:
            headers["authorization"] = authorization
        if session_id:
            headers["mcp-session-id"] = session_id
        return headers

    async def open(
        self, capabilities: dict[str, Any] | None = None, client_info: dict[str, Any] | None = None
    ) -> str:
        """A new upstream session, initialized (the `initialized` notification sent).

        Raises:
            UpstreamUnavailable, UpstreamTimeout, UpstreamBroken.
        """
        upstream = self.upstream
        request = {
            "jsonrpc": "2.0",
            "id": "mcp-aggregator-initialize",
            "method": "initialize",
            "params": {
                "protocolVersion": upstream.session_version,
                "capabilities": capabilities or {},
                "clientInfo": client_info or _CLIENT_INFO,
            },
        }
        headers = await self.headers(None)
        timeout = upstream.config.list_timeout
        with translated(upstream.name, timeout, Phase.SEND), anyio.fail_after(timeout):
            async with upstream.http.post(
                upstream.config.url, json=request, headers=headers
            ) as response:
                body = await response.read()
                session_id = response.headers.get("mcp-session-id")
                status = response.status
        if status != 200 or not session_id:
            raise UpstreamBroken(
                f"upstream {upstream.name!r} did not open a session (HTTP {status}"
                f"{', no session id' if status == 200 else ''})"
            )
        answer = last_answer(body)  # JSON or SSE
        if answer is None or "result" not in answer:
            raise UpstreamBroken(f"upstream {upstream.name!r} refused to initialize a session")
        await self.notify(session_id, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        logger.debug("opened a session with %s", upstream.name)
        return session_id

    async def shared(self) -> str:
        """This replica's shared session, opened on first use.

        Raises:
            UpstreamUnavailable, UpstreamTimeout, UpstreamBroken.
        """
        if self._shared is not None:
            return self._shared
        async with self._lock:
            if self._shared is None:
                self._shared = await self.open(RELAYED_CAPABILITIES)
                logger.info("opened the shared session with %s", self.upstream.name)
            return self._shared

    @property
    def current_shared(self) -> str | None:
        return self._shared

    def forget(self, session_id: str) -> None:
        """The upstream forgot `session_id`: if it was the shared one, open another next time."""
        if self._shared == session_id:
            logger.info("upstream %s ended the shared session; re-opening", self.upstream.name)
            self._shared = None

    async def post(self, session_id: str, payload: bytes) -> aiohttp.ClientResponse:
        """POST one message in `session_id`; the open response (the caller releases it).

        Raises:
            SessionExpired: the upstream does not know the session.
            UpstreamUnavailable, UpstreamTimeout, UpstreamBroken.
        """
        upstream = self.upstream
        headers = await self.headers(session_id)
        with translated(upstream.name, upstream.config.call_timeout, Phase.SEND):
            try:
                response = await upstream.http.post(
                    upstream.config.url, data=payload, headers=headers
                )
            except TRANSPORT_ERRORS as exc:
                if not nothing_sent(exc):
                    raise
                # Nothing reached the upstream (refused, unreachable): once more is safe.
                await anyio.sleep(0.05)
                response = await upstream.http.post(
                    upstream.config.url, data=payload, headers=headers
                )
        if response.status in (400, 404):
            body = await response.read()
            response.release()
            if session_error(response.status, body):
                raise SessionExpired(session_id)
            raise UpstreamBroken(f"upstream {upstream.name!r} refused the request (HTTP 400)")
        if response.status >= 500:
            response.release()
            raise UpstreamBroken(f"upstream {upstream.name!r} answered HTTP {response.status}")
        return response

    async def notify(self, session_id: str, message: dict[str, Any]) -> int:
        """Send a notification or a client's answer in `session_id`; the HTTP status.

        Raises:
            SessionExpired, UpstreamUnavailable, UpstreamTimeout, UpstreamBroken.
        """
        with anyio.fail_after(self.upstream.config.list_timeout):
            response = await self.post(session_id, json.dumps(message).encode())
            try:
                await response.read()
                return response.status
            finally:
                response.release()

    async def close(self, session_id: str) -> None:
        """End `session_id` (DELETE), best effort: the upstream expires it anyway."""
        try:
            with anyio.move_on_after(self.upstream.config.list_timeout):
                headers = await self.headers(session_id)
                async with self.upstream.http.delete(
                    self.upstream.config.url, headers=headers
                ) as response:
                    await response.read()
        except (*TRANSPORT_ERRORS, UpstreamUnavailable) as exc:
            logger.debug(
                "ending a session with %s failed: %s", self.upstream.name, describe_error(exc)
            )
