"""Routing to session-based upstreams: ids rewritten so that any replica can route by them.

The stateless fast path (`forwarding`) streams an upstream's answer back byte for byte. A
session-based upstream needs more, and this module does it without any store shared between
replicas (see docs/aggregator.md, "Session-based upstreams"):

- **Which upstream session.** A 2025-11-25 client's session id carries, sealed, the upstream
  session ids opened for it (`sessions.ClientSession`); a 2026-07-28 client has no session, so
  it uses the replica's shared session (`shared`) or one session per request (`per-client`).
- **Request ids.** A client request goes upstream with the id `<client nonce>~<its JSON id>`:
  many clients share one upstream session (`shared`), so their ids must not collide, and a
  `notifications/cancelled` naming the client's id is turned into the upstream's id on any
  replica from the client's session id alone. The answer goes back with the client's own id.
- **Server-to-client requests** (sampling, elicitation, roots, ping) on the answer's event
  stream or on the GET stream reach the client with the id `mcpagg.<sealed>`, which seals
  (upstream, upstream session, the upstream's id) for the principal. The client's answer,
  POSTed to any replica, is opened there and delivered to that upstream session with the
  upstream's id; an answer from another principal does not open.
- **Notifications** on the GET stream (`notifications/resources/updated`, log messages) are
  relayed to the client's GET stream; an upstream's list-changed notifications are not: the
  aggregator re-lists that upstream and announces the merged lists' change itself.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
from typing import Any

import aiohttp
import anyio
from starlette.types import Receive, Scope, Send

from mcp_aggregator.errors import (
    AggregatorError,
    AnswerUndelivered,
    Outcome,
    SessionExpired,
    SessionGone,
    UnknownRequest,
    UpstreamBroken,
    UpstreamFailure,
    UpstreamTimeout,
)
from mcp_aggregator.notifications import Feed, Put
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.sealing import Sealer
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.upstream import Upstream, describe_error
from mcp_aggregator.upstream_sessions import UpstreamSessions
from mcp_aggregator.wire import (
    SseEvents,
    answer_outcome,
    failure_message,
    is_modern,
    read_bounded,
    sse_event,
)
from mcp_common.auth import Principal
from mcp_common.asgi import send_json

logger = logging.getLogger(__name__)

SERVER_REQUEST_PREFIX = "mcpagg."
_MAX_JSON_ANSWER = 16 * 1024 * 1024
_RECONNECT_SECONDS = 2.0
_UNKNOWN_REQUEST = (
    "this answers no request the aggregator relayed to this caller (or its upstream session "
    "has ended)"
)
_UNDELIVERED = (
    "the answer could not be delivered: the upstream whose request it answers is unavailable; "
    "the request it answers will fail or time out there"
)


def upstream_request_id(nonce: str, client_id: Any) -> str:
    """The id a client's request carries upstream (the same on every replica)."""
    return f"{nonce}~{json.dumps(client_id, separators=(',', ':'))}"


class SessionRelay:
    """Requests to, and messages from, session-based upstreams (see the module docstring)."""

    def __init__(self, registry: UpstreamRegistry, sealer: Sealer) -> None:
        self._registry = registry
        self._sealer = sealer
        self._sessions: dict[str, UpstreamSessions] = {}

    def sessions(self, upstream: Upstream) -> UpstreamSessions:
        """The sessions of `upstream` (new ones when the registry replaced it)."""
        current = self._sessions.get(upstream.name)
        if current is None or current.upstream is not upstream:
            current = self._sessions[upstream.name] = UpstreamSessions(upstream)
        return current

    def session_based(self) -> list[Upstream]:
        return [u for u in self._registry.upstreams.values() if u.available and u.session_based]

    # -- a client session's upstream sessions --------------------------------------------------

    async def open_for_client(self, params: Any) -> dict[str, str]:
        """At a 2025-11-25 `initialize`: the upstream sessions to seal into the client's id.

        `per-client` upstreams get a session of their own, opened with the client's
        capabilities and clientInfo; `shared` ones are named by this replica's shared session.
        An upstream that cannot open one now is left out: its calls then get a session per
        request (per-client) or the replica's shared one.
        """
        params = params if isinstance(params, dict) else {}
        capabilities = (
            params.get("capabilities") if isinstance(params.get("capabilities"), dict) else None
        )
        client_info = (
            params.get("clientInfo") if isinstance(params.get("clientInfo"), dict) else None
        )
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
            for upstream, session_id in self._owned(client):
                if upstream.session_mode == "per-client":
                    group.start_soon(self.sessions(upstream).close, session_id)

    def _owned(self, client: ClientSession) -> list[tuple[Upstream, str]]:
        pairs = []
        for name, session_id in client.upstreams.items():
            upstream = self._registry.upstreams.get(name)
            if upstream is not None and upstream.session_based:
                pairs.append((upstream, session_id))
        return pairs

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
        sessions = self.sessions(upstream)
        nonce = client.nonce if client is not None else secrets.token_hex(8)
        client_id = request["id"]
        upstream_id = upstream_request_id(nonce, client_id)
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
            try:
                return await self._relay_answer(
                    scope,
                    receive,
                    send,
                    request,
                    upstream,
                    session_id,
                    upstream_id,
                    principal,
                    response,
                )
            finally:
                response.release()
        finally:
            if ephemeral:
                await sessions.close(session_id)

    async def _relay_answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: dict[str, Any],
        upstream: Upstream,
        session_id: str,
        upstream_id: str,
        principal: Principal,
        response: aiohttp.ClientResponse,
    ) -> Outcome:
        modern = is_modern(scope)
        client_id = request["id"]

        def back(message: Any) -> dict[str, Any] | None:
            if not isinstance(message, dict):
                return None
            if message.get("id") == upstream_id and ("result" in message or "error" in message):
                reply: dict[str, Any] = {**message, "id": client_id}
                result = reply.get("result")
                if modern and isinstance(result, dict):
                    reply["result"] = {"resultType": "complete", **result}
                return reply
            return self._outbound(message, upstream, session_id, principal)

        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            try:
                with anyio.fail_after(upstream.config.call_timeout):
                    body = await read_bounded(response.content, _MAX_JSON_ANSWER)
                reply = back(json.loads(body)) if len(body) <= _MAX_JSON_ANSWER else None
            except TimeoutError as exc:
                raise UpstreamTimeout(
                    f"upstream {upstream.name!r} did not finish within "
                    f"{upstream.config.call_timeout:g}s"
                ) from exc
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                raise UpstreamBroken(f"upstream {upstream.name!r} broke off its answer") from exc
            if reply is None or reply.get("id") != client_id:
                raise UpstreamBroken(
                    f"upstream {upstream.name!r} answered with something that is not the answer"
                )
            await send_json(send, response.status, reply)
            return answer_outcome(reply)

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        answer: dict[str, Any] | None = None
        broken = ""
        disconnected = False

        async def pump(cancel: anyio.CancelScope) -> None:
            nonlocal answer, broken
            events = SseEvents()
            try:
                async for chunk in response.content.iter_any():
                    for data in events.feed(chunk):
                        try:
                            message = back(json.loads(data))
                        except ValueError:
                            continue
                        if message is None:
                            continue
                        await send(
                            {
                                "type": "http.response.body",
                                "body": sse_event(message),
                                "more_body": True,
                            }
                        )
                        if message.get("id") == client_id and "method" not in message:
                            answer = message
                            cancel.cancel()
                            return
            except (aiohttp.ClientError, OSError, UpstreamBroken) as exc:
                broken = describe_error(exc)
            cancel.cancel()

        async def watch_disconnect(cancel: anyio.CancelScope) -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected = True
            cancel.cancel()

        with anyio.move_on_after(upstream.config.call_timeout) as deadline:
            async with anyio.create_task_group() as group:
                group.start_soon(pump, group.cancel_scope)
                group.start_soon(watch_disconnect, group.cancel_scope)
        if answer is not None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return answer_outcome(answer)
        outcome: Outcome
        if not disconnected:
            if deadline.cancelled_caught:
                code, outcome = "upstream_unavailable", "timeout"
                text = f"upstream {upstream.name!r} did not finish within {upstream.config.call_timeout:g}s"
            else:
                code, outcome = "upstream_error", "upstream_error"
                text = f"upstream {upstream.name!r} ended its answer without a result"
                if broken:
                    logger.warning("upstream %s broke off its answer: %s", upstream.name, broken)
            failure = failure_message(client_id, request["method"], code, text, modern)
            await send(
                {"type": "http.response.body", "body": sse_event(failure), "more_body": True}
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            outcome = "cancelled"
        # The request may still run upstream: a session-based server cancels on this, not on a
        # closed connection.
        await self._cancel_upstream(upstream, session_id, upstream_id, "the request ended")
        return outcome

    def _outbound(
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

    async def _cancel_upstream(
        self, upstream: Upstream, session_id: str, upstream_id: str, reason: str
    ) -> None:
        message = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": upstream_id, "reason": reason},
        }
        with anyio.CancelScope(shield=True), anyio.move_on_after(upstream.config.list_timeout):
            try:
                await self.sessions(upstream).notify(session_id, message)
            except (AggregatorError, SessionExpired, aiohttp.ClientError, OSError):
                pass

    # -- messages from clients -----------------------------------------------------------------

    async def deliver_answer(self, message: dict[str, Any], principal: Principal) -> None:
        """A client's answer to a server-to-client request: to its upstream session.

        Raises:
            UnknownRequest: it answers no request relayed to `principal`, or its session ended.
            AnswerUndelivered: the upstream whose request it answers is unavailable.
        """
        token = str(message.get("id", ""))[len(SERVER_REQUEST_PREFIX) :]
        opened = self._sealer.open(token, principal.key)
        if not isinstance(opened, dict) or not {"u", "s", "i"} <= opened.keys():
            raise UnknownRequest(_UNKNOWN_REQUEST)
        upstream = self._registry.upstreams.get(str(opened["u"]))
        if upstream is None or not upstream.session_based:
            raise UnknownRequest(_UNKNOWN_REQUEST)
        try:
            status = await self.sessions(upstream).notify(
                str(opened["s"]), {**message, "id": opened["i"]}
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
            message = {
                **message,
                "params": {
                    **params,
                    "requestId": upstream_request_id(client.nonce, params["requestId"]),
                },
            }
        targets = self._owned(client)
        for upstream in self.session_based():
            shared = self.sessions(upstream).current_shared
            if upstream.name not in client.upstreams and shared is not None:
                targets.append((upstream, shared))

        async def send_one(upstream: Upstream, session_id: str) -> None:
            try:
                await self.sessions(upstream).notify(session_id, message)
            except (AggregatorError, SessionExpired, TimeoutError) as exc:
                logger.debug("a notification for %s was not delivered: %s", upstream.name, exc)

        async with anyio.create_task_group() as group:
            for upstream, session_id in targets:
                group.start_soon(send_one, upstream, session_id)

    # -- the GET stream ------------------------------------------------------------------------

    def feeds(self, client: ClientSession, principal: Principal) -> list[Feed]:
        """For a client's GET stream: one feed per per-client upstream session, relaying what
        the upstream sends on its own GET stream of that session."""
        return [
            functools.partial(self._follow, upstream, session_id, principal)
            for upstream, session_id in self._owned(client)
            if upstream.session_mode == "per-client"
        ]

    async def _follow(
        self, upstream: Upstream, session_id: str, principal: Principal, put: Put
    ) -> None:
        sessions = self.sessions(upstream)
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
            except (aiohttp.ClientError, OSError, AggregatorError) as exc:
                logger.debug("GET stream of %s ended: %s", upstream.name, describe_error(exc))
            await anyio.sleep(_RECONNECT_SECONDS)

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
                relayed = self._outbound(message, upstream, session_id, principal)
                if relayed is not None:
                    await put(sse_event(relayed))
