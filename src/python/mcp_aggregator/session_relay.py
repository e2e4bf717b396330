"""Routing to session-based upstreams: ids rewritten so that any replica can route by them.

The stateless fast path (`forwarding`) streams an upstream's answer back byte for byte. A
session-based upstream needs more, and this module does it without any store shared between
replicas (see docs/aggregator.md, "Session-based upstreams"):

- **Which upstream session**: the one the client's session id names, else the replica's
  shared one or a session for this request alone (`session_pool`, `upstream_sessions`).
- **Request ids.** A client request goes upstream with the id `<client nonce>~<its JSON id>`:
  many clients share one upstream session (`shared`), so their ids must not collide, and a
  `notifications/cancelled` naming the client's id is turned into the upstream's id on any
  replica from the client's session id alone. The answer goes back with the client's own id.
- **Server-to-client requests** (sampling, elicitation, roots, ping) on the answer's event
  stream or on the GET stream (`upstream_streams`) reach the client with the id
  `mcpagg.<sealed>`, which seals (upstream, upstream session, the upstream's id) for the
  principal. The client's answer, POSTed to any replica, is opened there and delivered to that
  upstream session with the upstream's id; an answer from another principal does not open.
- A request whose answer did not reach the client is **cancelled** upstream
  (`notifications/cancelled`): a session-based server stops on that, not on a closed connection.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
from starlette.types import Receive, Scope, Send

from mcp_aggregator.errors import (
    AggregatorError,
    Outcome,
    SessionExpired,
    SessionGone,
    UpstreamBroken,
)
from mcp_aggregator.sealing import Sealer
from mcp_aggregator.session_pool import SessionPool
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.streaming import read_answer, stream_answer
from mcp_aggregator.transport import TRANSPORT_ERRORS
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.wire import SseEvents, answer_outcome, is_modern, sse_event
from mcp_common.asgi import send_json
from mcp_common.auth import Principal

SERVER_REQUEST_PREFIX = "mcpagg."


def upstream_request_id(nonce: str, client_id: Any) -> str:
    """The id a client's request carries upstream (the same on every replica)."""
    return f"{nonce}~{json.dumps(client_id, separators=(',', ':'))}"


class SessionRelay:
    """Requests to, and messages from, session-based upstreams (see the module docstring)."""

    def __init__(self, pool: SessionPool, sealer: Sealer) -> None:
        self.pool = pool
        self._sealer = sealer

    # -- routed requests -----------------------------------------------------------------------

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: dict[str, Any],
        upstream: Upstream,
        principal: Principal,
        client: ClientSession | None,
    ) -> Outcome:
        """Send `request` (already renamed for the upstream) in the right upstream session and
        relay the answer; the outcome.

        Raises:
            SessionGone: the client's per-client upstream session has ended.
            UpstreamFailure: as on the fast path.
        """
        sessions = self.pool.sessions(upstream)
        nonce = client.nonce if client is not None else secrets.token_hex(8)
        upstream_id = upstream_request_id(nonce, request["id"])
        payload = json.dumps({**request, "id": upstream_id}).encode()
        session_id = client.upstreams.get(upstream.name) if client is not None else None
        ephemeral = False
        if session_id is None:
            if upstream.session_mode == "shared":
                session_id = await sessions.shared()
            else:
                session_id, ephemeral = await sessions.open(), True
        try:
            try:
                response = await sessions.post(session_id, payload)
            except SessionExpired:
                if upstream.session_mode != "shared":
                    raise SessionGone(
                        f"upstream {upstream.name!r} ended this session; initialize a new one"
                    ) from None
                sessions.forget(session_id)
                session_id = await sessions.shared()
                response = await sessions.post(session_id, payload)
            answer = _SessionAnswer(
                self,
                response,
                request,
                upstream_id,
                upstream,
                session_id,
                principal,
                is_modern(scope),
            )
            try:
                return await self._relay_answer(receive, send, answer)
            finally:
                response.release()
        finally:
            if ephemeral:
                await sessions.close(session_id)

    async def _relay_answer(self, receive: Receive, send: Send, answer: _SessionAnswer) -> Outcome:
        request, upstream = answer.request, answer.upstream
        content_type = answer.response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            _, message = await read_answer(answer.response, upstream)
            reply = answer.back(message)
            if reply is None or reply.get("id") != request["id"]:
                raise UpstreamBroken(
                    f"upstream {upstream.name!r} answered with something that is not the answer"
                )
            await send_json(send, answer.response.status, reply)
            return answer_outcome(reply)
        outcome = await stream_answer(
            send, receive, request, upstream, answer, modern=answer.modern
        )
        if answer.answer is None:
            # The request may still run upstream: a session-based server cancels on this, not
            # on a closed connection.
            await self._cancel_upstream(upstream, answer.session_id, answer.upstream_id)
        return outcome

    def outbound(
        self, message: dict[str, Any], upstream: Upstream, session_id: str, principal: Principal
    ) -> dict[str, Any] | None:
        """An upstream message on its way to a client: server requests get a sealed id,
        notifications pass, list-changed notifications are the aggregator's own business."""
        method = message.get("method")
        if not isinstance(method, str):
            return None  # an answer to a request that is not this client's
        if "id" in message:
            sealed = self._sealer.seal(
                {"u": upstream.name, "s": session_id, "i": message["id"]}, principal.key
            )
            return {**message, "id": SERVER_REQUEST_PREFIX + sealed}
        if method.endswith("/list_changed") and method != "notifications/roots/list_changed":
            return None
        return message

    async def _cancel_upstream(self, upstream: Upstream, session_id: str, upstream_id: str) -> None:
        message = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": upstream_id, "reason": "the request ended"},
        }
        with anyio.CancelScope(shield=True), anyio.move_on_after(upstream.config.list_timeout):
            try:
                await self.pool.sessions(upstream).notify(session_id, message)
            except (*TRANSPORT_ERRORS, AggregatorError, SessionExpired):
                pass

    def open_server_request(
        self, request_id: Any, principal: Principal
    ) -> tuple[Upstream, str, Any] | None:
        """(upstream, upstream session, the upstream's id) sealed in the id of a server request
        relayed to `principal`; None when the id is not one, or its upstream is gone."""
        token = str(request_id)[len(SERVER_REQUEST_PREFIX) :]
        opened = self._sealer.open(token, principal.key)
        if not isinstance(opened, dict) or not {"u", "s", "i"} <= opened.keys():
            return None
        upstream = self.pool.upstream(str(opened["u"]))
        if upstream is None or not upstream.session_based:
            return None
        return upstream, str(opened["s"]), opened["i"]


class _SessionAnswer:
    """An upstream session's answer to one client request, as that client is to see it: the
    answer with the client's own id, the upstream's own requests with sealed ids."""

    def __init__(
        self,
        relay: SessionRelay,
        response: aiohttp.ClientResponse,
        request: dict[str, Any],
        upstream_id: str,
        upstream: Upstream,
        session_id: str,
        principal: Principal,
        modern: bool,
    ) -> None:
        self.response = response
        self.request = request
        self.upstream_id = upstream_id
        self.upstream = upstream
        self.session_id = session_id
        self._relay = relay
        self._principal = principal
        self.modern = modern
        self.answer: dict[str, Any] | None = None

    def back(self, message: Any) -> dict[str, Any] | None:
        """`message` from the upstream as the client is to see it (None: not for the client)."""
        if not isinstance(message, dict):
            return None
        if message.get("id") == self.upstream_id and ("result" in message or "error" in message):
            reply: dict[str, Any] = {**message, "id": self.request["id"]}
            result = reply.get("result")
            if self.modern and isinstance(result, dict):
                reply["result"] = {"resultType": "complete", **result}
            return reply
        return self._relay.outbound(message, self.upstream, self.session_id, self._principal)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The events the client is sent, up to and including the answer.

        Raises:
            UpstreamBroken: one event is larger than the aggregator accepts.
        """
        events = SseEvents()
        async for chunk in self.response.content.iter_any():
            for data in events.feed(chunk):
                try:
                    message = self.back(json.loads(data))
                except ValueError:
                    continue
                if message is None:
                    continue
                if message.get("id") == self.request["id"] and "method" not in message:
                    self.answer = message
                    yield sse_event(message)
                    return
                yield sse_event(message)
