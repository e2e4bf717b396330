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

import json
import logging
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
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcp_aggregator.registry import UpstreamRegistry
from mcp_aggregator.routing import Target
from mcp_aggregator.sessions import ClientSession
from mcp_aggregator.session_relay import SessionRelay
from mcp_aggregator.upstream import Upstream, describe_error
from mcp_aggregator.wire import (
    NAME_KEYS,
    failure_message,
    forwarded_outcome,
    is_modern,
    last_answer,
    read_bounded,
    renamed,
    sse_event,
)
from mcp_common import errors as common_errors
from mcp_common.auth import PRINCIPAL_META_KEY, Principal
from mcp_common.delegation import OnBehalfOf

logger = logging.getLogger(__name__)

_TAIL = 64 * 1024
_RETRYABLE_STATUS = frozenset({502, 503, 504})
_MAX_JSON_ANSWER = 16 * 1024 * 1024


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
            UpstreamBroken: the upstream answered with a server error.
        """
        config = upstream.config
        authorization = await self._authorization(upstream, principal)
        if authorization:
            headers["authorization"] = authorization
        response: aiohttp.ClientResponse | None = None
        failure = ""
        attempt = 0
        while True:
            retryable = False
            try:
                response = await upstream.http.post(config.url, data=payload, headers=headers)
            except aiohttp.ClientConnectorError as exc:
                failure = describe_error(exc)
                self._registry.report_call_failure(upstream, failure)
                retryable = True
            except TimeoutError:
                failure = "timeout"
                retryable = safe
            except aiohttp.ClientError as exc:
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
        if response is None and failure == "timeout":
            raise UpstreamTimeout(
                f"upstream {upstream.name!r} did not answer within {config.call_timeout:g}s"
            )
        if response is None:
            raise UpstreamUnavailable(f"upstream {upstream.name!r} could not be reached: {failure}")
        try:
            if response.status >= 500:
                await response.read()
                raise UpstreamBroken(f"upstream {upstream.name!r} answered HTTP {response.status}")
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
    ) -> Outcome:
        content_type = response.headers.get("content-type", "application/json")
        if not content_type.startswith("text/event-stream"):
            return await self._json_back(scope, receive, send, upstream, response, content_type)
        out_headers = [
            (b"content-type", content_type.encode()),
            (b"cache-control", b"no-cache, no-transform"),
            (b"x-accel-buffering", b"no"),
        ]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": out_headers}
        )
        tail = b""
        finished = False
        disconnected = False
        broken = ""

        async def pump(cancel: anyio.CancelScope) -> None:
            nonlocal tail, finished, broken
            try:
                async for chunk in response.content.iter_any():
                    tail = (tail + chunk)[-_TAIL:]
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (aiohttp.ClientError, OSError) as exc:
                broken = describe_error(exc)
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
        if broken or (not finished and deadline.cancelled_caught):
            outcome: Outcome
            if broken:
                logger.warning("upstream %s broke off its answer: %s", upstream.name, broken)
                code, outcome = "upstream_error", "upstream_error"
                text = f"upstream {upstream.name!r} broke off its answer before it was complete"
            else:
                logger.warning("call to %s timed out", upstream.name)
                code, outcome = "upstream_unavailable", "timeout"
                text = (
                    f"upstream {upstream.name!r} did not finish within "
                    f"{upstream.config.call_timeout:g}s"
                )
            if last_answer(tail) is None:
                # The stream is still open: end it with a JSON-RPC answer the client can read.
                answer = failure_message(
                    message["id"], message["method"], code, text, is_modern(scope)
                )
                await send(
                    {"type": "http.response.body", "body": sse_event(answer), "more_body": True}
                )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return outcome
        if last_answer(tail) is None:
            # The stream ended without the answer: the client must still get one.
            logger.warning("upstream %s ended its stream without an answer", upstream.name)
            answer = failure_message(
                message["id"],
                message["method"],
                "upstream_error",
                f"upstream {upstream.name!r} ended its answer without a result",
                is_modern(scope),
            )
            await send({"type": "http.response.body", "body": sse_event(answer), "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return "upstream_error"
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return forwarded_outcome(tail, response.status)

    async def _json_back(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        upstream: Upstream,
        response: aiohttp.ClientResponse,
        content_type: str,
    ) -> Outcome:
        """A JSON answer is small and complete: checked to be JSON-RPC before it is passed on.

        Raises:
            UpstreamBroken: the body is not a JSON-RPC message, or was cut off.
        """
        try:
            with anyio.fail_after(upstream.config.call_timeout):
                body = await read_bounded(response.content, _MAX_JSON_ANSWER)
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamBroken(f"upstream {upstream.name!r} broke off its answer") from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {upstream.name!r} did not finish within {upstream.config.call_timeout:g}s"
            ) from exc
        try:
            parsed = json.loads(body) if len(body) <= _MAX_JSON_ANSWER else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or parsed.get("jsonrpc") != "2.0":
            logger.warning(
                "upstream %s answered with something that is not JSON-RPC", upstream.name
            )
            raise UpstreamBroken(
                f"upstream {upstream.name!r} answered with something that is not a JSON-RPC message"
            )
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return forwarded_outcome(body, response.status)


async def send_failure(
    scope: Scope, receive: Receive, send: Send, message: dict[str, Any], error: Exception
) -> None:
    """Answer a routed request that the aggregator ended with an upstream failure."""
    code = getattr(error, "code", "upstream_error")
    answer = failure_message(message["id"], message["method"], code, str(error), is_modern(scope))
    await JSONResponse(answer)(scope, receive, send)
