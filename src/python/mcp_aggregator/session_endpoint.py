"""The session side of `/mcp` (2025-11-25 clients): session ids, GET streams, DELETE, the
answers and notifications that belong to upstream sessions, and the id `initialize` hands out.

- A request carrying an `Mcp-Session-Id` must present an id issued to this principal
  (`sessions.SessionCodec`); else 404. A GET of a known session opens its stream of
  list-changed notifications (and of what its per-client upstream sessions send); a DELETE
  ends its per-client upstream sessions (nothing else is stored) with 204.
- Notification streams (these GETs and `subscriptions/listen`) are bounded per principal and
  in total (`mcp_common.limits.StreamLimits`; 429 beyond).
- A client's answer to a server-to-client request (an id starting `mcpagg.`) goes to the
  upstream session it belongs to (`SessionEndpoint.deliver_answer`); its
  `notifications/cancelled` and `notifications/roots/list_changed` go to its upstream sessions.
- `initialize` opens the client's upstream sessions (session-based upstreams) and its answer
  carries the session id that seals them, with the relayed capabilities the client declared.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from mcp_aggregator.errors import (
    AggregatorError,
    AnswerRefused,
    AnswerUndelivered,
    SessionExpired,
    UnknownRequest,
    UpstreamFailure,
)
from mcp_aggregator.listing import RELAYED
from mcp_aggregator.notifications import LegacyNotifier
from mcp_aggregator.session_relay import SERVER_REQUEST_PREFIX, SessionRelay, upstream_request_id
from mcp_aggregator.sessions import HEADER, ClientSession, SessionCodec
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.upstream_streams import UpstreamStreams
from mcp_common.asgi import header_value, send_json
from mcp_common.auth import Principal
from mcp_common.limits import StreamLimits

logger = logging.getLogger(__name__)

# Client notifications its upstream sessions must hear.
_RELAYED_NOTIFICATIONS = ("notifications/cancelled", "notifications/roots/list_changed")
_UNKNOWN_REQUEST = (
    "this answers no request the aggregator relayed to this caller (or its upstream session "
    "has ended)"
)
_UNDELIVERED = (
    "the answer could not be delivered: the upstream whose request it answers is unavailable; "
    "the request it answers will fail or time out there"
)


_UNKNOWN_SESSION = (
    "no session with this id exists for this caller; initialize a new one "
    "(session ids are bound to the principal they were issued to)"
)


def without_session_id(scope: Scope) -> Scope:
    """`scope` without the client's session id (the SDK server and upstreams never see it)."""
    headers = [(k, v) for k, v in scope["headers"] if k != HEADER]
    return {**scope, "headers": headers}


class SessionEndpoint:
    """What `/mcp` does for client sessions (see the module docstring)."""

    def __init__(
        self,
        codec: SessionCodec,
        relay: SessionRelay,
        upstream_streams: UpstreamStreams,
        notifier: LegacyNotifier,
        streams: StreamLimits,
    ) -> None:
        self._codec = codec
        self._relay = relay
        self._pool = relay.pool
        self._upstream_streams = upstream_streams
        self._notifier = notifier
        self._streams = streams

    async def admit(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal
    ) -> tuple[bool, ClientSession | None]:
        """(answered, the client's session): `answered` when this served the request itself
        (404 for an id not issued to `principal`, a GET stream or a DELETE of a session)."""
        session_id = header_value(scope, HEADER)
        if session_id is None:
            return False, None
        client = self._codec.open(session_id, principal)
        if client is None:
            await send_json(
                send, 404, {"error": "unknown_session", "error_description": _UNKNOWN_SESSION}
            )
            return True, None
        if scope["method"] == "DELETE":
            # Nothing is stored for a session; its per-client upstream sessions end.
            await self._pool.end(client)
            await Response(status_code=204)(scope, receive, send)
            return True, client
        if scope["method"] == "GET":
            feeds = self._upstream_streams.feeds(client, principal)
            await self.bounded_stream(
                principal, send, lambda: self._notifier.stream(scope, receive, send, feeds)
            )
            return True, client
        return False, client

    async def relayed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: Any,
        principal: Principal,
        client: ClientSession | None,
    ) -> bool:
        """True when `message` was a client's answer to a relayed request, answered here (202,
        or the refusal). The notifications upstream sessions must hear are passed on to them,
        and then still served by the SDK server (False)."""
        if not isinstance(message, dict):
            return False
        method = message.get("method")
        if method is None and _is_relayed_answer(message):
            try:
                await self.deliver_answer(message, principal)
            except AnswerRefused as exc:
                refusal = {"error": exc.code, "error_description": str(exc)}
                await send_json(send, exc.http_status, refusal)
                return True
            await Response(status_code=202)(scope, receive, send)
            return True
        if method in _RELAYED_NOTIFICATIONS:
            await self.broadcast(message, client)
        return False

    async def deliver_answer(self, message: dict[str, Any], principal: Principal) -> None:
        """A client's answer to a server-to-client request: to its upstream session.

        Raises:
            UnknownRequest: it answers no request relayed to `principal`, or its session ended.
            AnswerUndelivered: the upstream whose request it answers is unavailable.
        """
        opened = self._relay.open_server_request(message.get("id", ""), principal)
        if opened is None:
            raise UnknownRequest(_UNKNOWN_REQUEST)
        upstream, session_id, upstream_id = opened
        try:
            status = await self._pool.sessions(upstream).notify(
                session_id, {**message, "id": upstream_id}
            )
        except SessionExpired:
            raise UnknownRequest(_UNKNOWN_REQUEST) from None
        except (UpstreamFailure, TimeoutError) as exc:
            logger.warning("an answer for %s was not delivered: %s", upstream.name, exc)
            raise AnswerUndelivered(_UNDELIVERED) from exc
        if status >= 300:
            raise UnknownRequest(_UNKNOWN_REQUEST)

    async def broadcast(self, message: dict[str, Any], client: ClientSession | None) -> None:
        """A client notification for its upstream sessions: `notifications/cancelled` (with
        the request id as the upstreams know it) and `notifications/roots/list_changed`."""
        if client is None:
            return
        if message.get("method") == "notifications/cancelled":
            params = message.get("params")
            if not isinstance(params, dict) or "requestId" not in params:
                return
            request_id = upstream_request_id(client.nonce, params["requestId"])
            message = {**message, "params": {**params, "requestId": request_id}}
        targets = self._pool.owned(client)
        for upstream in self._pool.session_based():
            shared = self._pool.sessions(upstream).current_shared
            if upstream.name not in client.upstreams and shared is not None:
                targets.append((upstream, shared))

        async def send_one(upstream: Upstream, session_id: str) -> None:
            try:
                await self._pool.sessions(upstream).notify(session_id, message)
            except (AggregatorError, SessionExpired, TimeoutError) as exc:
                logger.debug("a notification for %s was not delivered: %s", upstream.name, exc)

        async with anyio.create_task_group() as group:
            for upstream, session_id in targets:
                group.start_soon(send_one, upstream, session_id)

    async def initialize(self, params: Any, principal: Principal, send: Send) -> Send:
        """At `initialize`: open the client's upstream sessions; `send` adding its session id
        to the (200) answer."""
        upstream_sessions = (
            await self._pool.open_for_client(params) if self._pool.session_based() else {}
        )
        declared = params.get("capabilities") if isinstance(params, dict) else None
        capabilities = RELAYED & set(declared) if isinstance(declared, dict) else frozenset()
        session_id = self._codec.issue(principal, upstream_sessions, frozenset(capabilities))

        async def with_session_id(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [*message.get("headers", []), (HEADER, session_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return with_session_id

    async def bounded_stream(
        self, principal: Principal, send: Send, serve: Callable[[], Awaitable[None]]
    ) -> None:
        """Serve a long-lived stream within the stream limits (429 beyond them)."""
        refusal = self._streams.refusal(principal.key)
        if refusal is not None:
            await send_json(
                send,
                429,
                {"error": "too_many_streams", "error_description": refusal},
                [(b"retry-after", b"30")],
            )
            return
        try:
            await serve()
        finally:
            self._streams.release(principal.key)


def _is_relayed_answer(message: dict[str, Any]) -> bool:
    """A client's answer to a server-to-client request the aggregator relayed."""
    return (
        isinstance(message.get("id"), str)
        and message["id"].startswith(SERVER_REQUEST_PREFIX)
        and ("result" in message or "error" in message)
    )
