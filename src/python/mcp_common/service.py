"""The FastAPI application every MCP server of this platform runs in.

One process serves:
- `/mcp`: Streamable HTTP, *stateless*, so any replica behind a plain Kubernetes Service can
  answer any request. Both protocol generations work there: 2025-11-25 clients (initialize
  handshake; the SDK answers without keeping a session) and 2026-07-28 clients (no handshake).
  Responses stream as SSE, so progress notifications reach the caller during a long call.
  The SDK's DNS-rebinding protection (Host/Origin allow-lists) stays on.
- `/health/live`, `/health/ready`: see `mcp_common.health`.
- any routers the service adds (a domain's embedded reference REST API, `/metrics`, ...).

Why the MCP app is mounted under FastAPI and not the reverse: health probes, metrics and the
REST API are ordinary HTTP routes with OpenAPI documents, and FastAPI's OpenTelemetry
instrumentation then covers every request, MCP included. A mounted Starlette app's lifespan
does not run, so this app's lifespan enters the SDK's session manager itself.
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
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp, Scope

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
from mcp_common.settings import ServiceSettings
from mcp_common.telemetry import instrument_app

logger = logging.getLogger(__name__)

LifespanHook = Callable[[], AbstractAsyncContextManager[None]]
"""A resource to hold open while the app runs (a database engine, an HTTP pool)."""


def build_service_app(
    server: Server[Any],
    settings: ServiceSettings,
    *,
    checks: ReadinessChecks,
    routers: Sequence[APIRouter] = (),
    mounts: Sequence[tuple[str, Any]] = (),
    lifespan_hooks: Sequence[LifespanHook] = (),
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """A FastAPI app serving `server` at `/mcp`, plus health, `routers` and `mounts`.

    `lifespan_hooks` are entered in order at start and left in reverse at shutdown, around
    the MCP session manager. Spans go to `tracer_provider`, or the process-wide provider that
    `mcp_common.runner` installs.
    """
    mcp_app = server.streamable_http_app(
        streamable_http_path="/mcp",
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
    return app


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
    )
