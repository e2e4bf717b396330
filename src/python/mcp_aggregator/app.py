"""Builds the aggregator's ASGI app: guard -> front -> FastAPI (health, metrics, SDK server)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp.server.subscriptions import InMemorySubscriptionBus

from mcp_aggregator.config import UpstreamConfig, load_upstreams, packaged_upstreams
from mcp_aggregator.front import McpFront
from mcp_aggregator.metrics import Metrics
from mcp_aggregator.notifications import ChangeFeed, LegacyNotifier
from mcp_aggregator.pins import load_pins
from mcp_aggregator.policy import Policy, PolicyHolder, load_policy
from mcp_aggregator.registry import RegistrySettings, UpstreamRegistry
from mcp_aggregator.resource_metadata import ResourceUrls, resource_metadata_router
from mcp_aggregator.sealing import load_sealer
from mcp_aggregator.server import build_server
from mcp_aggregator.session_pool import SessionPool
from mcp_aggregator.session_relay import SessionRelay
from mcp_aggregator.sessions import SessionCodec
from mcp_aggregator.settings import AggregatorSettings
from mcp_aggregator.watched_file import WatchedFile
from mcp_common.delegation import OnBehalfOf, WorkloadIdentity
from mcp_common.guard import RequestGuard
from mcp_common.health import ReadinessChecks
from mcp_common.identity import ServiceIdentity
from mcp_common.limits import StreamLimits
from mcp_common.service import build_authenticator, build_service_app, guard_app
from mcp_common.settings import SettingsError, env_name, is_loopback

logger = logging.getLogger(__name__)


def build_app(
    settings: AggregatorSettings, upstreams: Sequence[UpstreamConfig] | None = None
) -> RequestGuard:
    """The aggregator. `upstreams` (tests) replaces the registry file and its watching.

    Raises:
        ConfigError: at start-up, when the registry or policy file is missing or invalid.
        SettingsError: no registry file while listening beyond loopback (the packaged one
            names the local stack's 127.0.0.1 ports, which a deployment must never route to).
    """
    if upstreams is None and not settings.upstreams_file and not is_loopback(settings.host):
        raise SettingsError(
            f"{env_name(settings, 'upstreams_file')} is not set, and the aggregator listens on "
            f"{settings.host}, beyond loopback: set it to the Envoy v3 bootstrap file that lists "
            "the upstreams (the packaged registry is the local stack's, for 127.0.0.1 only)"
        )
    identity = ServiceIdentity(settings.credential, connection_verify=settings.tls_ca_bundle)
    registry = UpstreamRegistry(
        RegistrySettings(
            unavailable_after=settings.unavailable_after_seconds,
            probe_interval=settings.probe_interval_seconds,
            refresh_interval=settings.refresh_interval_seconds,
            readiness_policy=settings.readiness_policy,
        ),
        identity,
    )
    metrics = Metrics()
    metrics.bind(registry)
    bus = InMemorySubscriptionBus()
    legacy = LegacyNotifier()
    feed = ChangeFeed(bus, legacy, settings.debounce_seconds)
    registry.on_change(feed.on_catalog_change)
    watched: list[WatchedFile[Any]] = []
    initial = list(upstreams) if upstreams is not None else None
    if initial is None and settings.upstreams_file:
        registry_file = WatchedFile(
            Path(settings.upstreams_file),
            load_upstreams,
            registry.apply,
            metrics.observe_reload,
            settings.reload_interval_seconds,
            "registry",
        )
        initial = registry_file.load()
        watched.append(registry_file)
    if initial is None:
        initial = packaged_upstreams()

    policy = PolicyHolder(_initial_policy(settings))
    if settings.auth == "entra" and settings.policy_file:
        policy_file = WatchedFile(
            Path(settings.policy_file),
            load_policy,
            policy.apply,
            metrics.observe_policy_reload,
            settings.reload_interval_seconds,
            "policy",
        )
        policy.current = policy_file.load()
        watched.append(policy_file)

    if settings.pins_file:
        pins_file = WatchedFile(
            Path(settings.pins_file),
            load_pins,
            registry.set_pins,
            metrics.observe_pins_reload,
            settings.reload_interval_seconds,
            "pins",
        )
        registry.pins = pins_file.load()
        watched.append(pins_file)

    @contextlib.asynccontextmanager
    async def run_registry() -> AsyncIterator[None]:
        await registry.apply(initial)
        async with anyio.create_task_group() as group:
            registry.start(group)
            group.start_soon(feed.run)
            for file in watched:
                group.start_soon(file.watch)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
        await registry.aclose()
        await identity.close()

    checks = ReadinessChecks()
    metrics.service.watch_readiness(checks)
    checks.add("upstreams", registry.check_ready)
    checks.describe("upstreams", registry.describe)
    routers = [metrics.router()]
    resource_metadata = None
    if settings.auth == "entra":
        urls = ResourceUrls(settings.resource_url)
        routers.append(resource_metadata_router(settings, policy, urls))
        resource_metadata = urls.metadata
    app = build_service_app(
        build_server(registry, bus, policy),
        settings,
        checks=checks,
        routers=routers,
        lifespan_hooks=[run_registry],
    )
    # The front sits before FastAPI: routed requests are forwarded before FastAPI's routing and
    # the per-request ASGI instrumentation (the front makes the span itself). The guard is
    # outermost, so every route, the front's included, passes through it.
    streams = StreamLimits(settings.max_streams, settings.max_streams_per_principal)
    metrics.bind_streams(streams)
    sealer = load_sealer(settings.session_keys_file, loopback=is_loopback(settings.host))
    front = McpFront(
        app,
        registry,
        metrics,
        legacy,
        policy,
        streams,
        SessionRelay(SessionPool(registry), sealer),
        SessionCodec(sealer),
        resource_metadata,
        _delegation(settings),
    )
    return guard_app(
        front,
        settings,
        build_authenticator(settings),
        resource_metadata=resource_metadata,
        metrics=metrics.service,
    )


def _delegation(settings: AggregatorSettings) -> OnBehalfOf | None:
    """The on-behalf-of exchange of users' tokens, when `on_behalf_of` is on.

    Raises:
        SettingsError: the workload identity's variables are missing.
    """
    if not settings.on_behalf_of:
        return None
    try:
        identity = WorkloadIdentity.from_environment()
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    return OnBehalfOf(identity, connection_verify=settings.tls_ca_bundle)


def _initial_policy(settings: AggregatorSettings) -> Policy:
    if settings.auth == "none":
        return Policy.open()
    if not settings.policy_file:
        logger.warning(
            "no authorization policy file (MCP_AGGREGATOR_POLICY_FILE): any valid token of "
            "tenant %s may call every tool",
            settings.tenant_id,
        )
        return Policy(default=Policy.open().default)
    return Policy()  # replaced by the file's policy before the app starts
