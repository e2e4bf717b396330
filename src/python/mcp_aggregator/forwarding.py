"""The forwarding fast path: one routed request to its upstream, the answer streamed back.

The request goes as one HTTP POST over the upstream's pooled keep-alive connections (aiohttp),
carrying the aggregator's own token for that upstream (or, with on-behalf-of on and a user
calling, the user's token for that upstream's scope, exchanged by `mcp_common.delegation`;
a refused exchange ends the call with `consent_required`, `interaction_required` or
`unauthorized`, and nothing is sent), and the upstream's response (JSON or an
SSE stream) is streamed back byte for byte: progress notifications, log messages, structured
content and errors reach the client exactly as the upstream sent them.

Retries: when nothing reached the upstream (the connection was refused), and for requests safe
to repeat (read-only or idempotent tools) after a dropped connection, a timeout, or HTTP
502/503/504; never an unsafe call the upstream may have run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
from opentelemetry import propagate
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from mcp_aggregator.errors import (
    ConsentRequired,
    DelegationRefused,
    InteractionRequired,
    Outcome,
    UpstreamBroken,
)
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.routing import Target
from mcp_aggregator.session_relay import SessionRelay
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.streaming import read_answer, stream_answer
from mcp_aggregator.transport import (
    TRANSPORT_ERRORS,
    Phase,
    describe_error,
    nothing_sent,
    upstream_failure,
)
from mcp_aggregator.upstream import Upstream
from mcp_aggregator.wire import (
    NAME_KEYS,
    failure_message,
    forwarded_outcome,
    is_modern,
    last_answer,
    renamed,
)
from mcp_common import errors as common_errors
from mcp_common.asgi import send_body
from mcp_common.auth import PRINCIPAL_META_KEY, Principal
from mcp_common.delegation import OnBehalfOf

_TAIL = 64 * 1024
_RETRYABLE_STATUS = frozenset({502, 503, 504})


# Request headers passed to the upstream; everything else (the client's Authorization,
# cookies, the session id) stays at the aggregator.
_FORWARDED = frozenset(
    {"accept", "content-type", "mcp-protocol-version", "mcp-method", "user-agent"}
)


class Forwarder:
    """Sends routed requests to their upstream: the fast path, or the session relay."""

    def __init__(
        self,
        registry: UpstreamRegistry,
        relay: SessionRelay,
        delegation: OnBehalfOf | None = None,
    ) -> None:
        self._registry = registry
        self._relay = relay
        self._delegation = delegation

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        params: dict[str, Any],
        principal: Principal,
        target: Target,
        client: ClientSession | None,
    ) -> Outcome:
        """Forward an authorized routed request to `target` and relay its answer; the outcome.

        The target is renamed as its upstream knows it; `_meta` carries the trace context and
        the verified principal (always ours: a client cannot claim to be someone else).

        Raises:
            AggregatorError: see `exchange` and `SessionRelay.forward`.
        """
        method, route, upstream = message["method"], target.route, target.upstream
        params = renamed(method, params, route.upstream_name)
        meta = dict(params.get("_meta") or {})
        meta.pop("traceparent", None)
        meta.pop("tracestate", None)
        propagate.inject(meta)
        if principal.authenticated:
            meta[PRINCIPAL_META_KEY] = principal.to_meta()
        else:
            meta.pop(PRINCIPAL_META_KEY, None)
        params["_meta"] = meta
        if upstream.session_based and not (upstream.modern and is_modern(scope)):
            # A session-based upstream, unless client and upstream both speak 2026-07-28.
            request = {**message, "params": params}
            return await self._relay.forward(
                scope, receive, send, request, upstream, principal, client
            )
        outgoing = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.decode("latin-1") in _FORWARDED
        }
        if "mcp-method" in outgoing and method in NAME_KEYS:
            outgoing["mcp-name"] = route.upstream_name
        propagate.inject(outgoing)
        payload = json.dumps({**message, "params": params}).encode()
        safe = route.read_only or route.idempotent
        return await self.exchange(
            scope, receive, send, message, upstream, payload, outgoing, safe, principal
        )

    async def _authorization(self, upstream: Upstream, principal: Principal) -> str | None:
        """The upstream's Authorization: the user's exchanged token when a person calls and
        on-behalf-of is on, else the aggregator's own.

        Raises:
            DelegationRefused: Entra refused the exchange (a subclass names why).
            UpstreamUnavailable: no token of the aggregator's own could be had.
        """
        scope = upstream.config.scope
        if self._delegation is None or not principal.assertion or not scope:
            return await upstream.authorization()
        try:
            token = await self._delegation.token(principal.key, principal.assertion, scope)
        except common_errors.ConsentRequired as exc:
            raise ConsentRequired(exc.message) from exc
        except common_errors.InteractionRequired as exc:
            raise InteractionRequired(exc.message) from exc
        except common_errors.Unauthorized as exc:
            raise DelegationRefused(exc.message) from exc
        return f"Bearer {token}"

    async def exchange(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        message: dict[str, Any],
        upstream: Upstream,
        payload: bytes,
        headers: dict[str, str],
        safe: bool,
        principal: Principal,
    ) -> Outcome:
        """Send `payload` to `upstream` and stream its answer to the client; the outcome.

        Raises:
            DelegationRefused: the user's token could not be exchanged; nothing was sent.
            UpstreamUnavailable: nothing could be sent, or no answer came.
            UpstreamBroken: the upstream answered with a server error, or not with JSON-RPC.
        """
        authorization = await self._authorization(upstream, principal)
        if authorization:
            headers["authorization"] = authorization
        response = await self._post(upstream, payload, headers, safe)
        try:
            if response.status >= 500:
                with contextlib.suppress(*TRANSPORT_ERRORS):
                    await response.read()
                raise UpstreamBroken(f"upstream {upstream.name!r} answered HTTP {response.status}")
            content_type = response.headers.get("content-type", "application/json")
            if content_type.startswith("text/event-stream"):
                events = _PassThrough(response)
                return await stream_answer(
                    send,
                    receive,
                    message,
                    upstream,
                    events,
                    modern=is_modern(scope),
                    status=response.status,
                    content_type=content_type.encode(),
                )
            # A JSON answer is small and complete: checked to be JSON-RPC before it is passed on.
            body, _ = await read_answer(response, upstream)
            await send_body(send, response.status, content_type.encode(), body)
            return forwarded_outcome(body, response.status)
        finally:
            response.release()

    async def _post(
        self, upstream: Upstream, payload: bytes, headers: dict[str, str], safe: bool
    ) -> aiohttp.ClientResponse:
        """The upstream's response once it begins, retried as the module docstring says.

        Raises:
            UpstreamUnavailable: nothing could be sent (or no answer came, `UpstreamTimeout`).
        """
        config = upstream.config
        attempt = 0
        while True:
            last = attempt >= config.retries
            try:
                response = await upstream.http.post(config.url, data=payload, headers=headers)
            except TRANSPORT_ERRORS as exc:
                if nothing_sent(exc):
                    self._registry.report_call_failure(upstream, describe_error(exc))
                if last or not (safe or nothing_sent(exc)):
                    raise upstream_failure(
                        exc, upstream.name, config.call_timeout, Phase.SEND
                    ) from exc
            else:
                if response.status not in _RETRYABLE_STATUS or not safe or last:
                    return response
                response.release()
            await anyio.sleep(0.05 * (2**attempt))
            attempt += 1


class _PassThrough:
    """An upstream's event stream byte for byte; its answer is the last one in its tail."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._tail = b""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_any():
            self._tail = (self._tail + chunk)[-_TAIL:]
            yield chunk

    @property
    def answer(self) -> dict[str, Any] | None:
        return last_answer(self._tail)


async def send_failure(
    scope: Scope, receive: Receive, send: Send, message: dict[str, Any], error: Exception
) -> None:
    """Answer a routed request that the aggregator ended with an upstream failure."""
    code = getattr(error, "code", "upstream_error")
    answer = failure_message(message["id"], message["method"], code, str(error), is_modern(scope))
    await JSONResponse(answer)(scope, receive, send)
