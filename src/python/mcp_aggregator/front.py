"""The HTTP front of the aggregator's `/mcp` endpoint.

Three jobs, each for a reason:

1. **The forwarding fast path.** `tools/call`, `prompts/get`, `resources/read` and
   `completion/complete` are routed by name (or URI; a completion by the prompt or resource
   template its `ref` names) to their owner, as one HTTP request over the upstream's pooled
   keep-alive connections, and the upstream's response (JSON or an SSE stream) is streamed
   back byte for byte. Progress notifications, log messages, structured content and errors
   therefore reach the client exactly as the upstream sent them, and the aggregator adds one
   JSON parse and one small re-serialization (the name, and the trace context in `_meta`).
   The client's `Authorization` and session headers are never forwarded: upstreams trust the
   aggregator's network identity, not the end user's token.
2. **Stateless legacy sessions.** A 2025-11-25 client learns of tool-list changes only over a
   standing GET stream, which needs a session id. The answer to `initialize` carries a fresh
   random `Mcp-Session-Id` that no replica stores: any replica accepts any id, and a GET with
   one opens a stream of this replica's list-changed notifications. Nothing is shared.
3. Everything else (initialize, `server/discover`, lists, `subscriptions/listen`, ping,
   `logging/setLevel`) goes to the SDK's stateless server, whose handlers serve the merged
   catalog.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import aiohttp
import anyio
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from opentelemetry import propagate, trace
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_aggregator.catalog import Route, route_completion, route_resource
from mcp_aggregator.metrics import Metrics
from mcp_aggregator.notifications import LegacyNotifier
from mcp_aggregator.registry import Unavailable, UpstreamRegistry
from mcp_aggregator.upstream import Upstream, describe_error
from mcp_aggregator.wire import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    NAME_KEYS,
    failure_message,
    forwarded_outcome,
    is_modern,
    jsonrpc_error,
    renamed,
    tool_error,
)

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

ROUTED_METHODS = frozenset({"tools/call", "prompts/get", "resources/read", "completion/complete"})
MAX_BODY = 4 * 1024 * 1024
SESSION_HEADER = b"mcp-session-id"
# Request headers passed to the upstream; everything else (Authorization, cookies, the
# session id) stays at the aggregator.
_FORWARDED = frozenset(
    {"accept", "content-type", "mcp-protocol-version", "mcp-method", "user-agent"}
)
_TAIL = 64 * 1024
_RETRYABLE_STATUS = frozenset({502, 503, 504})  # a 500 is the tool's own failure: not retried


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None past MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _without_session(scope: Scope) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k != SESSION_HEADER]
    return {**scope, "headers": headers}


class McpFront:
    """The ASGI app at `/mcp` (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        registry: UpstreamRegistry,
        security: TransportSecuritySettings,
        metrics: Metrics,
        notifier: LegacyNotifier,
    ) -> None:
        self._app = app
        self._registry = registry
        self._security = TransportSecurityMiddleware(security)
        self._metrics = metrics
        self._notifier = notifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != "/mcp":
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        has_session = any(k == SESSION_HEADER for k, _ in scope["headers"])
        if method in ("GET", "DELETE") and has_session:
            await self._session_request(scope, receive, send)
            return
        if method != "POST":
            await self._app(_without_session(scope), receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await Response("Request body too large", status_code=413)(scope, receive, send)
            return
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        if (
            isinstance(message, dict)
            and message.get("method") in ROUTED_METHODS
            and "id" in message
        ):
            await self._routed(scope, receive, send, message)
            return
        inner_send = send
        if isinstance(message, dict) and message.get("method") == "initialize":
            inner_send = self._with_session_id(send)
        await self._app(_without_session(scope), _replay(body, receive), inner_send)

    # -- stateless legacy sessions -----------------------------------------------------------

    @staticmethod
    def _with_session_id(send: Send) -> Send:
        session_id = uuid.uuid4().hex

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [*message.get("headers", []), (SESSION_HEADER, session_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    async def _session_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        rejection = await self._security.validate_request(Request(scope), is_post=False)
        if rejection is not None:
            await rejection(scope, receive, send)
            return
        if scope["method"] == "DELETE":
            # Nothing is stored for a session, so ending one is always done.
            await Response(status_code=204)(scope, receive, send)
            return
        await self._notifier.stream(scope, receive, send)

    # -- the forwarding fast path ------------------------------------------------------------

    async def _routed(
        self, scope: Scope, receive: Receive, send: Send, message: dict[str, Any]
    ) -> None:
        request_id = message["id"]
        rejection = await self._security.validate_request(Request(scope), is_post=True)
        if rejection is not None:
            await rejection(scope, receive, send)
            return
        params = message.get("params")
        if not isinstance(params, dict):
            await jsonrpc_error(request_id, INVALID_PARAMS, "params must be an object")(
                scope, receive, send
            )
            return
        method: str = message["method"]
        resolved = self._resolve(request_id, method, params, is_modern(scope))
        if isinstance(resolved, Response):
            await resolved(scope, receive, send)
            return
        key, route, upstream = resolved
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        claimed = headers.get("mcp-name")
        if claimed is not None and claimed != key:
            response = jsonrpc_error(
                request_id,
                INVALID_REQUEST,
                f"Mcp-Name header {claimed!r} does not match {key!r}",
                400,
            )
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        outcome = await self._forward(scope, receive, send, message, headers, key, route, upstream)
        self._metrics.observe_call(
            method, key, upstream.name, outcome, time.perf_counter() - started
        )

    def _resolve(
        self, request_id: Any, method: str, params: dict[str, Any], modern: bool
    ) -> tuple[str, Route, Upstream] | Response:
        if method == "completion/complete":
            return self._resolve_completion(request_id, params)
        catalog = self._registry.catalog
        if method == "resources/read":
            uri = params.get("uri")
            if not isinstance(uri, str):
                return jsonrpc_error(request_id, INVALID_PARAMS, "resources/read needs params.uri")
            route = route_resource(catalog, uri)
            upstream = self._registry.route(route)
            if route is None or upstream is None:
                return jsonrpc_error(request_id, INVALID_PARAMS, f"unknown resource {uri!r}")
            return uri, route, upstream
        name = params.get("name")
        if not isinstance(name, str):
            return jsonrpc_error(
                request_id, INVALID_PARAMS, f"{method} needs params.name (a string)"
            )
        if method == "prompts/get":
            route = catalog.prompt_routes.get(name)
            upstream = self._registry.route(route)
            if route is None or upstream is None:
                return jsonrpc_error(request_id, INVALID_PARAMS, f"unknown prompt {name!r}")
            return name, route, upstream
        target = self._registry.route_tool(name)
        if target is None:
            known = ", ".join(sorted(catalog.tool_routes)) or "none"
            return jsonrpc_error(
                request_id, INVALID_PARAMS, f"unknown tool {name!r}; known: {known}"
            )
        if isinstance(target, Unavailable):
            reason = f" ({target.error})" if target.error else ""
            return tool_error(
                request_id,
                "upstream_unavailable",
                f"tool {name!r} belongs to upstream {target.upstream!r}, which is unavailable"
                f"{reason} for {target.down_for:.0f}s; its tools return when it recovers",
                modern,
            )
        route, upstream = target
        return name, route, upstream

    def _resolve_completion(
        self, request_id: Any, params: dict[str, Any]
    ) -> tuple[str, Route, Upstream] | Response:
        """A completion goes to the owner of the prompt or resource template its `ref` names.

        Only the owner knows the values an argument can take; the aggregator's SDK server
        cannot complete anything (before this was routed, clients got "method not found").
        """
        ref: dict[str, Any] = params["ref"] if isinstance(params.get("ref"), dict) else {}
        kind = ref.get("type")
        if kind == "ref/prompt" and isinstance(ref.get("name"), str):
            target: str = ref["name"]
            route = self._registry.catalog.prompt_routes.get(target)
        elif kind == "ref/resource" and isinstance(ref.get("uri"), str):
            target = ref["uri"]
            route = route_completion(self._registry.catalog, target)
        else:
            return jsonrpc_error(
                request_id,
                INVALID_PARAMS,
                "completion/complete needs params.ref: {type: 'ref/prompt', name: <prompt>} "
                "or {type: 'ref/resource', uri: <resource template>}",
            )
        upstream = self._registry.route(route)
        if route is None or upstream is None:
            what = "prompt" if kind == "ref/prompt" else "resource template"
            return jsonrpc_error(request_id, INVALID_PARAMS, f"unknown {what} {target!r}")
        return target, route, upstream

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        headers: dict[str, str],
        key: str,
        route: Route,
        upstream: Upstream,
    ) -> str:
        params = renamed(message["method"], message["params"], route.upstream_name)
        meta = dict(params.get("_meta") or {})
        # Continue the client's trace: its `_meta` context (2026-07-28 clients), else the HTTP
        # request's `traceparent` header.
        parent = propagate.extract(meta if "traceparent" in meta else headers)
        with tracer.start_as_current_span(
            f"{message['method']} {key}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"mcp.upstream": upstream.name, "mcp.method.name": message["method"]},
        ):
            propagate.inject(meta)
            params["_meta"] = meta
            outgoing = {k: v for k, v in headers.items() if k in _FORWARDED}
            if "mcp-method" in outgoing and message["method"] in NAME_KEYS:
                outgoing["mcp-name"] = route.upstream_name
            propagate.inject(outgoing)
            payload = json.dumps({**message, "params": params}).encode()
            safe = route.read_only or route.idempotent
            return await self._exchange(
                scope, receive, send, message, upstream, payload, outgoing, safe
            )

    async def _exchange(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        upstream: Upstream,
        payload: bytes,
        headers: dict[str, str],
        safe: bool,
    ) -> str:
        config = upstream.config
        request_id, method = message["id"], message["method"]
        response: aiohttp.ClientResponse | None = None
        failure = ""
        attempt = 0
        while True:
            # Retry when nothing reached the upstream (the connection was refused), or when the
            # request is safe to repeat; never resend an unsafe call the upstream may have run.
            retryable = False
            try:
                response = await upstream.http.post(config.url, data=payload, headers=headers)
            except aiohttp.ClientConnectorError as exc:
                failure = describe_error(exc)
                self._registry.report_call_failure(upstream, failure)
                retryable = True
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = describe_error(exc)
                retryable = safe
            else:
                if response.status in _RETRYABLE_STATUS and safe and attempt < config.retries:
                    failure = f"HTTP {response.status}"
                    response.release()
                    response = None
                    retryable = True
            if response is not None or not retryable or attempt >= config.retries:
                break
            await anyio.sleep(0.05 * (2**attempt))
            attempt += 1
        modern = is_modern(scope)
        if response is None:
            text = f"upstream {upstream.name!r} could not be reached: {failure}"
            answer = failure_message(request_id, method, "upstream_unavailable", text, modern)
            await JSONResponse(answer)(scope, receive, send)
            return "upstream_unavailable"
        try:
            if response.status >= 500:
                await response.read()
                text = f"upstream {upstream.name!r} answered HTTP {response.status}"
                answer = failure_message(request_id, method, "upstream_error", text, modern)
                await JSONResponse(answer)(scope, receive, send)
                return "upstream_error"
            return await self._stream_back(scope, receive, send, message, upstream, response)
        finally:
            response.release()

    async def _stream_back(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        upstream: Upstream,
        response: aiohttp.ClientResponse,
    ) -> str:
        content_type = response.headers.get("content-type", "application/json")
        out_headers = [(b"content-type", content_type.encode())]
        if content_type.startswith("text/event-stream"):
            out_headers += [
                (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"),
            ]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": out_headers}
        )
        tail = b""
        finished = False
        disconnected = False

        async def pump(cancel: anyio.CancelScope) -> None:
            nonlocal tail, finished
            async for chunk in response.content.iter_any():
                tail = (tail + chunk)[-_TAIL:]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finished = True
            cancel.cancel()

        async def watch_disconnect(cancel: anyio.CancelScope) -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected = True
                    cancel.cancel()
                    return

        with anyio.move_on_after(upstream.config.call_timeout) as deadline:
            async with anyio.create_task_group() as group:
                group.start_soon(pump, group.cancel_scope)
                group.start_soon(watch_disconnect, group.cancel_scope)
        if disconnected:
            # Closing our upstream request tells the upstream the caller went away.
            return "cancelled"
        if not finished and deadline.cancelled_caught:
            logger.warning("call to %s timed out", upstream.name, extra={"upstream": upstream.name})
            if content_type.startswith("text/event-stream"):
                timeout_result = failure_message(
                    message["id"],
                    message["method"],
                    "upstream_unavailable",
                    f"upstream {upstream.name!r} did not finish within "
                    f"{upstream.config.call_timeout:g}s",
                    is_modern(scope),
                )
                event = f"event: message\ndata: {json.dumps(timeout_result)}\n\n".encode()
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return "timeout"
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return forwarded_outcome(tail, response.status)
