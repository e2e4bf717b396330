"""Assembles a domain MCP server: tools over a backend, remote (REST) or embedded (in-process).

A domain package provides its tool specs (built on a backend: a small protocol naming what the
tools need), two implementations of that backend, its reference REST API (a FastAPI app over a
`Database`) and its settings. This module wires them the same way for every domain:

- `api_url` set: the backend calls that system of record's REST API over HTTP with Azure AD
  tokens (`credential`, `api_scope`), through a `RestClient`; readiness checks that the API
  answers.
- `demo` set (`MCP_<DOMAIN>_DEMO=true`, which the local stack sets): the reference
  implementation runs in-process over `database_url`, seeded with demo data, and the tools
  call its service layer directly, the one its REST API serves. There is no HTTP hop inside
  the process (an in-memory ASGI transport and FastAPI per call were more than half of a
  call's CPU); the REST contract is proven by the API's own tests and by the remote backend's.
  The reference API is still served at `/api` (its OpenAPI document at `/api/openapi.json`)
  for people and tests.
- Neither, or both: a start-up error naming the variables. Demo data is never served because
  a deployment forgot its `api_url`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI
from mcp.server.lowlevel import Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler

from mcp_common.database import Database
from mcp_common.delegation import OnBehalfOf, OnBehalfOfTokens, WorkloadIdentity
from mcp_common.errors import ToolFailure
from mcp_common.guard import RequestGuard
from mcp_common.health import CheckFailed, ReadinessChecks
from mcp_common.identity import TokenSource, build_token_source
from mcp_common.metrics import ServiceMetrics
from mcp_common.rest import RestClient
from mcp_common.service import LifespanHook, build_authenticator, build_service_app, guard_app
from mcp_common.settings import DomainSettings, SettingsError, env_name
from mcp_common.tools import ToolCatalog, ToolSpec

BackendT = TypeVar("BackendT")


def check_backend(settings: DomainSettings, domain: str) -> None:
    """Exactly one backend is configured: a system of record's `api_url`, or `demo`.

    Raises:
        SettingsError: naming what to set.
    """
    api_url, demo = env_name(settings, "api_url"), env_name(settings, "demo")
    if settings.api_url is None and not settings.demo:
        raise SettingsError(
            f"{api_url} is not set: set it to the base URL of the {domain} system of record's "
            f"REST API, or set {demo}=true to serve seeded demo data (development only)"
        )
    if settings.api_url is not None and settings.demo:
        raise SettingsError(
            f"{demo}=true serves the embedded demo API, but {api_url} is set too; unset one"
        )


def build_rest_client(settings: DomainSettings, name: str, api_url: str) -> RestClient:
    """The client of the system of record at `api_url`, with this service's Azure AD tokens;
    with `on_behalf_of`, the end user's exchanged token whenever a person is calling.

    Raises:
        SettingsError: on_behalf_of without an api_scope or the workload identity's variables.
    """
    tokens: TokenSource = build_token_source(
        settings.credential, settings.api_scope, connection_verify=settings.tls_ca_bundle
    )
    if settings.on_behalf_of:
        if not settings.api_scope:
            raise SettingsError(
                f"{env_name(settings, 'on_behalf_of')}=true needs {env_name(settings, 'api_scope')}: "
                "the system of record's scope to exchange the user's token for"
            )
        try:
            identity = WorkloadIdentity.from_environment()
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        exchange = OnBehalfOf(identity, connection_verify=settings.tls_ca_bundle)
        tokens = OnBehalfOfTokens(tokens, exchange, settings.api_scope)
    return RestClient(
        name,
        api_url,
        tokens=tokens,
        timeout_seconds=settings.api_timeout_seconds,
        retries=settings.api_retries,
    )


def build_domain_app(
    settings: DomainSettings,
    *,
    domain: str,
    version: str,
    instructions: str,
    tools: Callable[[BackendT], Sequence[ToolSpec[Any, Any]]],
    remote: Callable[[RestClient], BackendT],
    embedded: Callable[[Database], BackendT],
    reference_api: Callable[[Database], FastAPI],
    database: Database,
) -> RequestGuard:
    """The complete ASGI app of one domain MCP server, behind the request guard.

    `remote` makes the backend over a REST client of `settings.api_url`; `embedded`, the
    in-process one over `database` (then `reference_api` is served at `/api` too).

    With auth=entra only the `allowed_callers` (the aggregator) get past the guard, on `/mcp`
    and on the embedded `/api` alike; the tools' in-process calls to the embedded service
    layer do not pass through it (they are this server's own code). The guard reads each
    request's whole body first, so a client gone mid-request runs nothing and logs one DEBUG
    line.

    Raises:
        SettingsError: neither `api_url` nor `demo` is set, or both are.
    """
    check_backend(settings, domain)
    checks = ReadinessChecks()
    hooks: list[LifespanHook] = []
    mounts: list[tuple[str, Any]] = []
    if settings.api_url is None:
        backend = embedded(database)
        hooks.append(database.lifespan)
        checks.add("database", database.check)
        # Traced by the service app's instrumentation, as one of its routes (one layer).
        mounts.append(("/api", reference_api(database)))
    else:
        rest = build_rest_client(settings, domain, settings.api_url)
        backend = remote(rest)

        async def api_reachable() -> None:
            try:
                await rest.get("/health")
            except ToolFailure as exc:
                raise CheckFailed(exc.message) from exc  # its messages name no URL or body

        @contextlib.asynccontextmanager
        async def close_rest() -> AsyncIterator[None]:
            try:
                yield
            finally:
                await rest.aclose()

        checks.add(f"{domain}-api", api_reachable)
        hooks.append(close_rest)
    catalog = ToolCatalog(tools(backend))
    # Served so an aggregator can follow list changes over 2026-07-28 `subscriptions/listen`.
    subscriptions = InMemorySubscriptionBus()
    server: Server[Any] = Server(
        settings.service_name,
        version=version,
        instructions=instructions,
        on_list_tools=catalog.list_tools,
        on_call_tool=catalog.call_tool,
        get_tool_input_schema=catalog.input_schema,
        on_subscriptions_listen=ListenHandler(subscriptions),
    )
    metrics = ServiceMetrics()
    metrics.watch_readiness(checks)
    app = build_service_app(
        server,
        settings,
        checks=checks,
        routers=[metrics.router()],
        mounts=mounts,
        lifespan_hooks=hooks,
    )
    return guard_app(
        app, settings, build_authenticator(settings, settings.allowed_callers), metrics=metrics
    )
