"""Builds the aggregator's ASGI app."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.server.transport_security import TransportSecuritySettings

from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.front import McpFront
from mcp_aggregator.metrics import Metrics
from mcp_aggregator.notifications import ChangeFeed, LegacyNotifier
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.registry_file import RegistryFile, packaged_upstreams
from mcp_aggregator.server import build_server
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.health import ReadinessChecks
from mcp_common.service import build_service_app
from mcp_common.settings import SettingsError, env_name


def is_loopback(host: str) -> bool:
    """Whether listening on `host` reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def build_app(
    settings: AggregatorSettings, upstreams: Sequence[UpstreamConfig] | None = None
) -> McpFront:
    """The aggregator. `upstreams` (tests) replaces the registry file and its watching.

    Raises:
        ConfigError: at start-up, when the registry file is missing or invalid.
        SettingsError: no registry file while listening beyond loopback (the packaged one
            names the local stack's 127.0.0.1 ports, which a deployment must never route to).
    """
    if upstreams is None and not settings.upstreams_file and not is_loopback(settings.host):
        raise SettingsError(
            f"{env_name(settings, 'upstreams_file')} is not set, and the aggregator listens on "
            f"{settings.host}, beyond loopback: set it to the Envoy v3 bootstrap file that lists "
            "the upstreams (the packaged registry is the local stack's, for 127.0.0.1 only)"
        )
    registry = UpstreamRegistry(
        RegistrySettings(
            unavailable_after=settings.unavailable_after_seconds,
            probe_interval=settings.probe_interval_seconds,
            refresh_interval=settings.refresh_interval_seconds,
            readiness_policy=settings.readiness_policy,
        )
    )
    metrics = Metrics()
    metrics.bind(registry)
    bus = InMemorySubscriptionBus()
    legacy = LegacyNotifier()
    feed = ChangeFeed(bus, legacy, settings.debounce_seconds)
    registry.on_change(feed.on_catalog_change)
    registry_file = None
    if upstreams is None and settings.upstreams_file:
        registry_file = RegistryFile(
            Path(settings.upstreams_file),
            registry.apply,
            metrics.observe_reload,
            settings.reload_interval_seconds,
        )
    initial = list(upstreams) if upstreams is not None else None
    if initial is None:
        initial = registry_file.load() if registry_file else packaged_upstreams()

    @contextlib.asynccontextmanager
    async def run_registry() -> AsyncIterator[None]:
        await registry.apply(initial)
        async with anyio.create_task_group() as group:
            registry.start(group)
            group.start_soon(feed.run)
            if registry_file is not None:
                group.start_soon(registry_file.watch)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
        await registry.aclose()

    checks = ReadinessChecks()
    checks.add("upstreams", registry.check_ready)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(settings.allowed_hosts),
        allowed_origins=list(settings.allowed_origins),
    )

    app = build_service_app(
        build_server(registry, bus),
        settings,
        checks=checks,
        routers=[metrics.router()],
        lifespan_hooks=[run_registry],
    )
    # Outermost: routed requests are forwarded before FastAPI's routing and the per-request
    # ASGI instrumentation (the front makes the span itself); the rest passes through.
    return McpFront(app, registry, security, metrics, legacy)
