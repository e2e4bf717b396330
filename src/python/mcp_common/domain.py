"""Assembles a domain MCP server: tools over a REST client, over a real or embedded API.

A domain package provides three things: its tool specs (built on a `RestClient`), its
reference REST API (a FastAPI app over a `Database`), and its settings. This module wires
them the same way for every domain:

- `api_url` set: the tools call that system of record over HTTP with Azure AD tokens
  (`credential`, `api_scope`); readiness checks that the API answers.
- `demo` set (`MCP_<DOMAIN>_DEMO=true`, which the local stack sets): the reference API runs
  in-process over `database_url`, seeded with demo data, and the tools call it through the
  same `RestClient` (an in-memory ASGI transport, so the HTTP contract, status codes and error
  mapping are exercised exactly as against a remote API). The reference API is also served at
  `/api` (its OpenAPI document at `/api/openapi.json`) for people and tests.
- Neither, or both: a start-up error naming the variables. Demo data is never served because
  a deployment forgot its `api_url`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from mcp.server.lowlevel import Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler

from mcp_common.database import Database
from mcp_common.errors import ToolFailure
from mcp_common.guard import RequestGuard
from mcp_common.health import CheckFailed, ReadinessChecks
from mcp_common.identity import build_token_source
from mcp_common.rest import RestClient
from mcp_common.service import LifespanHook, build_authenticator, build_service_app, guard_app
from mcp_common.settings import DomainSettings, SettingsError, env_name
from mcp_common.telemetry import instrument_app
from mcp_common.tools import ToolCatalog, ToolSpec

EMBEDDED_API_BASE = "http://embedded-api"


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


def build_rest_client(
    settings: DomainSettings, name: str, embedded_api: FastAPI | None = None
) -> RestClient:
    """The client the tools use: to `settings.api_url`, or to `embedded_api` in-process."""
    common: dict[str, Any] = {
        "timeout_seconds": settings.api_timeout_seconds,
        "retries": settings.api_retries,
    }
    if settings.api_url is None:
        if embedded_api is None:
            raise ValueError("no api_url is configured and no embedded API was given")
        return RestClient(
            name, EMBEDDED_API_BASE, transport=httpx.ASGITransport(app=embedded_api), **common
        )
    tokens = build_token_source(
        settings.credential, settings.api_scope, connection_verify=settings.tls_ca_bundle
    )
    return RestClient(name, settings.api_url, tokens=tokens, **common)


def build_domain_app(
    settings: DomainSettings,
    *,
    domain: str,
    version: str,
    instructions: str,
    tools: Callable[[RestClient], Sequence[ToolSpec[Any, Any]]],
    reference_api: Callable[[Database], FastAPI],
    database: Database,
) -> RequestGuard:
    """The complete ASGI app of one domain MCP server, behind the request guard.

    With auth=entra only the `allowed_callers` (the aggregator) get past the guard, on `/mcp`
    and on the embedded `/api` alike; the tools' own in-process calls to the embedded API do
    not pass through it (they are this server's own code). The guard reads each request's
    whole body first, so a client gone mid-request runs nothing and logs one DEBUG line.

    Raises:
        SettingsError: neither `api_url` nor `demo` is set, or both are.
    """
    check_backend(settings, domain)
    checks = ReadinessChecks()
    hooks: list[LifespanHook] = []
    mounts: list[tuple[str, Any]] = []
    embedded_api = None
    if settings.api_url is None:
        embedded_api = reference_api(database)
        instrument_app(embedded_api)  # the trace continues into the system of record
        hooks.append(database.lifespan)
        checks.add("database", database.check)
        mounts.append(("/api", embedded_api))
    rest = build_rest_client(settings, domain, embedded_api)
    if settings.api_url is not None:

        async def api_reachable() -> None:
            try:
                await rest.get("/health")
            except ToolFailure as exc:
                raise CheckFailed(exc.message) from exc  # its messages name no URL or body

        checks.add(f"{domain}-api", api_reachable)

    @contextlib.asynccontextmanager
    async def close_rest() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await rest.aclose()

    hooks.append(close_rest)
    catalog = ToolCatalog(tools(rest))
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
    app = build_service_app(server, settings, checks=checks, mounts=mounts, lifespan_hooks=hooks)
    return guard_app(app, settings, build_authenticator(settings, settings.allowed_callers))
