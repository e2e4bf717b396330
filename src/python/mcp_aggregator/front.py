"""The aggregator's `/mcp` endpoint: a pipeline of small steps in front of the SDK server.

It runs behind `mcp_common.guard.RequestGuard`, which has already checked Host and Origin,
authenticated the caller (the principal is in the request scope) and read the body within its
size limit. Then, for each request:

1. **Sessions** (2025-11-25, `session_endpoint`): a session id must be one issued to this
   principal, else 404; a GET opens the session's notification stream, a DELETE ends its
   upstream sessions. Notification streams (a GET without a session id too) are bounded
   (429 beyond).
2. **Parse**: the JSON-RPC message, depth-limited and shape-checked (`wire.parse_message`);
   a malformed one gets the JSON-RPC error saying what is wrong.
3. **Route** (`tools/call`, `prompts/get`, `resources/read`, `resources/subscribe` and
   `unsubscribe`, `completion/complete`): find the
   owner by name or URI (`routing`), **authorize** the principal for that name (`policy`; 403
   `insufficient_scope` with the spec's step-up challenge, and an audit line either way),
   then **forward** (`forwarding`): one HTTP request with the aggregator's own token (a
   user's on-behalf-of token for that upstream when `ON_BEHALF_OF` is on), the answer
   streamed back byte for byte. The end user's verified identity travels in `_meta`.
4. Everything else (initialize, `server/discover`, lists, `subscriptions/listen`, ping,
   `logging/setLevel`) goes to the SDK's stateless server, whose handlers serve the merged
   catalog filtered by the same policy. The answer to `initialize` carries a session id.

Session-based upstreams (`session_relay`): routed requests to them go through `SessionRelay`
instead of the fast path, in the upstream session the client's session id names; a client's
answers to their requests and its notifications for them are `session_endpoint`'s.

Failures are `errors.AggregatorError`s, each turned into its answer in one place (`_answer`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import propagate, trace
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_aggregator.audit import record_decision
from mcp_aggregator.errors import (
    AccessDenied,
    AggregatorError,
    InvalidParams,
    InvalidRequest,
    RequestRejected,
    SessionGone,
    ToolResultError,
)
from mcp_aggregator.forwarding import Forwarder, send_failure
from mcp_aggregator.metrics import Metrics
from mcp_aggregator.notifications import LegacyNotifier
from mcp_aggregator.policy import Kind, PolicyHolder
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.routing import ROUTED_METHODS, Router, check_subscribable
from mcp_aggregator.session_endpoint import SessionEndpoint, without_session_id
from mcp_aggregator.session_relay import SessionRelay
from mcp_aggregator.sessions import CLIENT_CAPABILITIES, ClientSession, SessionCodec
from mcp_aggregator.upstream_streams import UpstreamStreams
from mcp_aggregator.wire import (
    jsonrpc_error,
    parse_message,
    safe_id,
)
from mcp_common.asgi import header_value, read_replayed_body, replay, send_json
from mcp_common.auth import Forbidden, Principal
from mcp_common.delegation import OnBehalfOf
from mcp_common.guard import challenge, principal_of
from mcp_common.limits import StreamLimits

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class McpFront:
    """The ASGI app at `/mcp` (see the module docstring); other paths go to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        registry: UpstreamRegistry,
        metrics: Metrics,
        notifier: LegacyNotifier,
        policy: PolicyHolder,
        streams: StreamLimits,
        relay: SessionRelay,
        codec: SessionCodec,
        resource_metadata: Callable[[Scope], str] | None = None,
        delegation: OnBehalfOf | None = None,
    ) -> None:
        self._app = app
        upstream_streams = UpstreamStreams(registry, relay)
        self._sessions = SessionEndpoint(codec, relay, upstream_streams, notifier, streams)
        self._metrics = metrics
        self._policy = policy
        self._resource_metadata = resource_metadata
        self._forwarder = Forwarder(registry, relay, delegation)
        self._router = Router(registry, policy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != "/mcp":
            await self._app(scope, receive, send)
            return
        principal = principal_of(scope)
        answered, client = await self._sessions.admit(scope, receive, send, principal)
        if answered:
            return
        if scope["method"] != "POST":
            inner = without_session_id(scope)
            if scope["method"] == "GET":
                # The SDK server answers a GET with an idle event stream: bounded like the rest.
                await self._sessions.bounded_stream(
                    principal, send, lambda: self._app(inner, receive, send)
                )
            else:
                await self._app(inner, receive, send)
            return
        content_type = header_value(scope, b"content-type") or ""
        if not content_type.lower().startswith("application/json"):
            await Response("Content-Type must be application/json", status_code=415)(
                scope, receive, send
            )
            return
        # The guard has read the body within its limit and replays it: one message.
        body = await read_replayed_body(receive)
        try:
            message = parse_message(body)
        except RequestRejected as exc:
            await self._reject(scope, receive, send, None, exc)
            return
        method_name = message.get("method") if isinstance(message, dict) else None
        if method_name in ROUTED_METHODS and "id" in message:
            await self._routed(scope, receive, send, message, principal, client)
            return
        if await self._sessions.relayed(scope, receive, send, message, principal, client):
            return
        inner_send = send
        if method_name == "initialize":
            inner_send = await self._sessions.initialize(message.get("params"), principal, send)
        inner_scope, inner_receive = without_session_id(scope), replay(body, receive)
        # The lists leave out tools this client could not call (see `catalog.Route.needs`).
        inner_scope[CLIENT_CAPABILITIES] = client.capabilities if client else frozenset()
        if method_name == "subscriptions/listen":
            await self._sessions.bounded_stream(
                principal, send, lambda: self._app(inner_scope, inner_receive, inner_send)
            )
        else:
            await self._app(inner_scope, inner_receive, inner_send)

    # -- routed requests ---------------------------------------------------------------------

    async def _routed(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        principal: Principal,
        client: ClientSession | None,
    ) -> None:
        method: str = message["method"]
        params = message.get("params")
        started = time.perf_counter()
        try:
            if not isinstance(params, dict):
                raise InvalidParams(f"{method} needs params (an object)")
            target = self._router.resolve(method, params, principal, client)
            claimed = header_value(scope, b"mcp-name")
            if claimed is not None and claimed != target.key:
                raise InvalidRequest(
                    f"Mcp-Name header {claimed!r} does not match {target.key!r}", http_status=400
                )
        except AggregatorError as exc:
            await self._answer(scope, receive, send, message, exc)
            # Counted too, so an alert can fire on calls no upstream ever saw.
            name, owner = self._router.refused_labels(method, params, principal)
            self._metrics.observe_call(
                method, name, owner, exc.outcome, time.perf_counter() - started
            )
            return
        key, upstream = target.key, target.upstream
        with tracer.start_as_current_span(
            f"{method} {key}",
            context=propagate.extract(_trace_carrier(params, scope)),
            kind=trace.SpanKind.SERVER,
            attributes={"mcp.upstream": upstream.name, "mcp.method.name": method},
        ):
            try:
                self._authorize(principal, target.kind, key)
                if method in ("resources/subscribe", "resources/unsubscribe"):
                    check_subscribable(upstream, key, client)
                outcome = await self._forwarder.forward(
                    scope, receive, send, message, params, principal, target, client
                )
            except AggregatorError as exc:
                await self._answer(scope, receive, send, message, exc)
                outcome = exc.outcome
        self._metrics.observe_call(
            method, key, upstream.name, outcome, time.perf_counter() - started
        )

    def _authorize(self, principal: Principal, kind: Kind, name: str) -> None:
        """Raises: AccessDenied, when the policy does not let `principal` use `name`."""
        policy = self._policy.current
        if not policy.enforced:
            return
        rule = policy.rule(kind, name)
        allowed = rule.allows(principal)
        record_decision(principal, kind, name, allowed)
        if not allowed:
            self._metrics.observe_denial(kind, name)
            raise AccessDenied(
                f"{_SINGULAR[kind]} {name!r} needs {rule.describe()}; the token has "
                f"roles {sorted(principal.roles)} and scopes {sorted(principal.scopes)}",
                scopes=tuple(sorted(rule.scopes)),
            )

    # -- answers -----------------------------------------------------------------------------

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        error: AggregatorError,
    ) -> None:
        if isinstance(error, AccessDenied):
            refusal = Forbidden(str(error))
            metadata = self._resource_metadata(scope) if self._resource_metadata else None
            header = challenge(refusal, metadata, " ".join(error.scopes))
            body = {
                "jsonrpc": "2.0",
                "id": safe_id(message),
                "error": {"code": error.jsonrpc_code, "message": str(error)},
            }
            await send_json(send, error.http_status, body, [(b"www-authenticate", header.encode())])
        elif isinstance(error, SessionGone):
            body = {
                "jsonrpc": "2.0",
                "id": safe_id(message),
                "error": {"code": error.jsonrpc_code, "message": str(error)},
            }
            await send_json(send, error.http_status, body)
        elif isinstance(error, ToolResultError):
            await send_failure(scope, receive, send, message, error)
        elif isinstance(error, RequestRejected):
            await self._reject(scope, receive, send, message, error)
        else:
            logger.error("unexpected aggregator error: %s", error)
            response = jsonrpc_error(safe_id(message), error.jsonrpc_code, str(error))
            await response(scope, receive, send)

    @staticmethod
    async def _reject(
        scope: Scope, receive: Receive, send: Send, message: Any, error: RequestRejected
    ) -> None:
        response = jsonrpc_error(
            safe_id(message), error.jsonrpc_code, str(error), error.http_status
        )
        await response(scope, receive, send)


def _trace_carrier(params: dict[str, Any], scope: Scope) -> dict[str, str]:
    """Where the client's trace context is: `_meta` (2026-07-28 clients), else the headers."""
    meta = params.get("_meta")
    if isinstance(meta, dict) and isinstance(meta.get("traceparent"), str):
        return {
            k: v
            for k, v in meta.items()
            if k in ("traceparent", "tracestate") and isinstance(v, str)
        }
    return {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in scope["headers"]
        if k in (b"traceparent", b"tracestate")
    }


_SINGULAR = {"tools": "tool", "prompts": "prompt", "resources": "resource"}
