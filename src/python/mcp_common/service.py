"""The FastAPI application every MCP server of this platform runs in.

One process serves:
- `/mcp`: Streamable HTTP, *stateless*, so any replica behind a plain Kubernetes Service can
  answer any request. Both protocol generations work there: 2025-11-25 clients (initialize
  handshake; the SDK answers without keeping a session) and 2026-07-28 clients (no handshake).
  Responses stream as SSE, so progress notifications reach the caller during a long call.
  The SDK's DNS-rebinding protection (Host/Origin allow-lists) stays on.
- `/health/live`, `/health/ready`: see `mcp_common.health`.
- any routers the service adds (a domain's embedded reference REST API, `/metrics`, ...).

Health probes, metrics and the REST API are ordinary HTTP routes of a FastAPI app (with
OpenAPI documents and OpenTelemetry's ASGI instrumentation). A request to `/mcp` itself goes
straight to the SDK's app (`McpEntry`), past FastAPI's routing and middleware, which cost more
CPU per call than the SDK's own work: one tracing layer per MCP request, the SDK's span for
the message, continuing the caller's W3C trace context from the HTTP headers. Everything else
(and `/mcp/...`) is FastAPI's, the MCP app still mounted there. A mounted Starlette app's
lifespan does not run, so the FastAPI app's lifespan enters the SDK's session manager itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_common.auth import TokenVerifier
from mcp_common.guard import (
    Authenticator,
    EntraAuthentication,
    HostPolicy,
    NoAuthentication,
    RequestGuard,
)
from mcp_common.health import ReadinessChecks, health_router
from mcp_common.limits import RateLimiter
from mcp_common.metrics import ServiceMetrics
from mcp_common.settings import ServiceSettings
from mcp_common.telemetry import instrument_app

logger = logging.getLogger(__name__)

LifespanHook = Callable[[], AbstractAsyncContextManager[None]]
"""A resource to hold open while the app runs (a database engine, an HTTP pool)."""

MCP_PATH = "/mcp"


class _HeaderGetter(Getter[Scope]):
    """Reads W3C trace headers from ASGI's raw (lower-case, latin-1) header list."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        name = key.encode("latin-1")
        values = [value.decode("latin-1") for k, value in carrier["headers"] if k == name]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier["headers"]]


_HEADERS = _HeaderGetter()


class McpEntry:
    """`/mcp` to the SDK's app under the caller's trace context; everything else to `app`."""

    def __init__(self, mcp_app: ASGIApp, app: ASGIApp) -> None:
        self._mcp_app = mcp_app
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != MCP_PATH:
            await self._app(scope, receive, send)
            return
        # The SDK's span for the message becomes a child of the caller's span.
        token = otel_context.attach(propagate.extract(scope, getter=_HEADERS))
        try:
            await self._mcp_app(scope, receive, send)
        finally:
            otel_context.detach(token)


def build_service_app(
    server: Server[Any],
    settings: ServiceSettings,
    *,
    checks: ReadinessChecks,
    routers: Sequence[APIRouter] = (),
    mounts: Sequence[tuple[str, Any]] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
    tracer_provider: TracerProvider | None = None,
) -> McpEntry:
    """An app serving `server` at `/mcp`, plus FastAPI's health, `routers` and `mounts`.

    `lifespan_hooks` are entered in order at start and left in reverse at shutdown, around
    the MCP session manager. Spans go to `tracer_provider`, or the process-wide provider that
    `mcp_common.runner` installs.
    """
    mcp_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(settings.allowed_hosts),
            allowed_origins=list(settings.allowed_origins),
        ),
        host=settings.host,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for hook in lifespan_hooks:
                await stack.enter_async_context(hook())
            await stack.enter_async_context(server.session_manager.run())
            yield

    app = FastAPI(title=settings.service_name, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(health_router(checks))
    for router in routers:
        app.include_router(router)
    for path, sub_app in mounts:
        app.mount(path, sub_app)
    # Last: the MCP app answers only /mcp, and a catch-all mount must not shadow the routes above.
    app.mount("/", mcp_app)
    instrument_app(app, tracer_provider)
    return McpEntry(mcp_app, app)


def build_authenticator(
    settings: ServiceSettings, allowed_apps: Sequence[str] | None = None
) -> Authenticator:
    """Entra ID token checks as `settings` say, or none (loopback only; checked by settings)."""
    if settings.auth == "none":
        logger.warning(
            "AUTHENTICATION IS OFF (auth=none): every caller on %s is trusted; "
            "never run like this outside a developer's machine",
            settings.host,
        )
        return NoAuthentication()
    return EntraAuthentication(TokenVerifier(settings.entra()), allowed_apps)


def guard_app(
    app: ASGIApp,
    settings: ServiceSettings,
    authenticator: Authenticator,
    *,
    resource_metadata: Callable[[Scope], str] | None = None,
    metrics: ServiceMetrics | None = None,
) -> RequestGuard:
    """`app` behind the request guard (see `mcp_common.guard`): every route passes through it."""
    limiter = None
    if settings.rate_limit_per_second is not None:
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    return RequestGuard(
        app,
        authenticator=authenticator,
        hosts=HostPolicy(settings.allowed_hosts, settings.allowed_origins),
        resource_metadata=resource_metadata,
        rate_limiter=limiter,
        metrics=metrics,
    )
