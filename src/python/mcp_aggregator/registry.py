"""The live set of upstreams and the merged catalog, kept fresh in the background.

- `apply()` reconciles the configured upstreams (start new, drop removed, replace changed).
- Probe loop (every second): a light ping of healthy upstreams every `probe_interval`, a full
  listing fetch of the others; a failed call wakes it at once.
- Refresh loop: a full listing fetch of every healthy upstream every `refresh_interval`.
- Listen loops: for upstreams that speak 2026-07-28, a `subscriptions/listen` stream; each
  list-changed event triggers a refetch of that upstream.
- The merged catalog is rebuilt after any change; when what clients see changes, one
  notification goes out after `debounce` seconds of quiet (see `ChangeFeed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.shared.exceptions import MCPError

from mcp_aggregator.catalog import Catalog, describe_problems, merge
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.errors import METHOD_NOT_FOUND, NotReady
from mcp_aggregator.pins import Mismatch, Pins, check, log_changes
from mcp_aggregator.transport import describe_error
from mcp_aggregator.upstream import Health, Upstream
from mcp_common.identity import ServiceIdentity

logger = logging.getLogger(__name__)

CatalogListener = Callable[[Catalog, Catalog], None]
"""Called with (old, new) whenever the merged catalog is rebuilt with a difference."""


@dataclass(frozen=True)
class RegistrySettings:
    unavailable_after: float = 10.0
    probe_interval: float = 5.0
    refresh_interval: float = 60.0
    readiness_policy: str = "any"  # "any" upstream available, or "all"


class UpstreamRegistry:
    """The live upstreams and their merged catalog.

    `identity` gives each upstream its token source: the aggregator's own credential, asking
    for the `scope` its registry entry names.
    """

    def __init__(self, settings: RegistrySettings, identity: ServiceIdentity | None = None) -> None:
        self.settings = settings
        self._identity = identity
        self.pins = Pins()
        # Listed tools whose definition does not match its pin (quarantined when enforced).
        self.mismatches: dict[str, Mismatch] = {}
        self.upstreams: dict[str, Upstream] = {}
        self.catalog = Catalog()
        self._listeners: list[CatalogListener] = []
        self._wake = anyio.Event()
        self._task_group: TaskGroup | None = None
        self._listen_scopes: dict[str, anyio.CancelScope] = {}

    def on_change(self, listener: CatalogListener) -> None:
        self._listeners.append(listener)

    # -- configuration -----------------------------------------------------------------------

    async def apply(self, configs: Sequence[UpstreamConfig]) -> None:
        """Make the configured upstreams the live set, fetching new ones' listings now."""
        wanted = {config.name: config for config in configs}
        for name in list(self.upstreams):
            if name not in wanted or self.upstreams[name].config != wanted[name]:
                await self._remove(name)
        added = [
            Upstream(
                config,
                unavailable_after=self.settings.unavailable_after,
                tokens=self._identity.tokens(config.scope) if self._identity else None,
            )
            for name, config in wanted.items()
            if name not in self.upstreams
        ]
        for upstream in added:
            self.upstreams[upstream.name] = upstream
            logger.info("upstream %s at %s", upstream.name, upstream.config.url)
        async with anyio.create_task_group() as group:
            for upstream in added:
                group.start_soon(upstream.refresh)
        for upstream in added:
            self._start_listening(upstream)
        self.rebuild()

    async def _remove(self, name: str) -> None:
        upstream = self.upstreams.pop(name)
        scope = self._listen_scopes.pop(name, None)
        if scope is not None:
            scope.cancel()
        await upstream.aclose()
        logger.info("upstream %s removed", name)

    # -- the merged catalog ------------------------------------------------------------------

    def rebuild(self) -> None:
        listings = {
            name: upstream.listing
            for name, upstream in self.upstreams.items()
            if upstream.available and upstream.listing is not None
        }
        old = self.catalog
        new, mismatches = check(merge(listings), self.pins)
        log_changes(self.mismatches, mismatches, self.pins.mode)
        self.catalog, self.mismatches = new, mismatches
        known = set(describe_problems(old))
        for problem in describe_problems(new):
            if problem not in known:
                logger.error("catalog problem: %s", problem)
        if new != old:
            for listener in self._listeners:
                listener(old, new)

    async def set_pins(self, pins: Pins) -> None:
        """Check every tool against `pins` from now on (a changed pins file)."""
        self.pins = pins
        self.rebuild()

    def unavailable_owner(self, tool_name: str) -> Upstream | None:
        """The unavailable upstream that last listed `tool_name`, so an error can name it
        (see `routing.Router`)."""
        for upstream in self.upstreams.values():
            if upstream.available or upstream.listing is None:
                continue
            prefix = upstream.config.tool_prefix
            if any(prefix + tool.name == tool_name for tool in upstream.listing.tools):
                return upstream
        return None

    def report_call_failure(self, upstream: Upstream, error: str) -> None:
        """A forwarded call could not reach `upstream`: record it and probe at once."""
        if upstream.record_failure(error):
            self.rebuild()
        self._wake.set()

    # -- readiness ---------------------------------------------------------------------------

    async def check_ready(self) -> None:
        """Readiness: no name collisions, and the policy's upstreams available.

        Raises:
            NotReady: naming the collisions or the unavailable upstreams.
        """
        problems = [collision.describe() for collision in self.catalog.collisions]
        unavailable = sorted(
            f"{name} ({upstream.health.value}{': ' + upstream.last_error if upstream.last_error else ''})"
            for name, upstream in self.upstreams.items()
            if not upstream.available
        )
        available = len(self.upstreams) - len(unavailable)
        if self.settings.readiness_policy == "all" and unavailable:
            problems.append("unavailable upstreams: " + ", ".join(unavailable))
        elif available == 0:
            problems.append(
                "no upstream available: " + (", ".join(unavailable) or "none configured")
            )
        if problems:
            raise NotReady("; ".join(problems))

    def describe(self) -> dict[str, dict[str, str]]:
        """Each upstream's health and kind, for readiness: `sessions` is `stateless`,
        `per-client` or `shared` (session-based), or `unknown` until it has been listed."""
        return {
            name: {
                "health": upstream.health.value,
                "sessions": "unknown" if upstream.session_based is None else upstream.session_mode,
            }
            for name, upstream in sorted(self.upstreams.items())
        }

    # -- background work ---------------------------------------------------------------------

    def start(self, group: TaskGroup) -> None:
        self._task_group = group
        group.start_soon(self._probe_loop)
        group.start_soon(self._refresh_loop)
        for upstream in self.upstreams.values():
            self._start_listening(upstream)

    async def aclose(self) -> None:
        for name in list(self.upstreams):
            await self._remove(name)

    async def _probe_loop(self) -> None:
        last_ping: dict[str, float] = {}
        while True:
            with anyio.move_on_after(1.0):
                await self._wake.wait()
            self._wake = anyio.Event()
            now = time.monotonic()
            changed = False

            async def probe(upstream: Upstream, now: float) -> None:
                nonlocal changed
                if upstream.health is Health.UP:
                    if now - last_ping.get(upstream.name, 0.0) < self.settings.probe_interval:
                        return
                    last_ping[upstream.name] = now
                    moved = await upstream.ping()
                else:
                    moved = await upstream.refresh()
                # Not `changed |= await ...`: that reads `changed` before the await and would
                # overwrite what a concurrent probe set meanwhile.
                if moved:
                    changed = True

            async with anyio.create_task_group() as group:
                for upstream in list(self.upstreams.values()):
                    group.start_soon(probe, upstream, now)
            if changed:
                self.rebuild()

    async def _refresh_loop(self) -> None:
        while True:
            await anyio.sleep(self.settings.refresh_interval)
            await self.refresh_all()

    async def refresh_all(self) -> None:
        async with anyio.create_task_group() as group:
            for upstream in list(self.upstreams.values()):
                group.start_soon(upstream.refresh)
        self.rebuild()

    def _start_listening(self, upstream: Upstream) -> None:
        if self._task_group is None or upstream.name in self._listen_scopes:
            return
        scope = anyio.CancelScope()
        self._listen_scopes[upstream.name] = scope
        self._task_group.start_soon(self._listen, upstream, scope)

    async def _listen(self, upstream: Upstream, scope: anyio.CancelScope) -> None:
        """Follow the upstream's list-changed events while it is up (2026-07-28 upstreams)."""
        with scope:
            while upstream.listen_supported is not False:
                if upstream.health is not Health.UP or upstream.connect_mode in ("auto", "legacy"):
                    await anyio.sleep(1.0)
                    continue
                try:
                    async with (
                        upstream.client(streaming=True) as client,
                        client.listen(
                            tools_list_changed=True,
                            prompts_list_changed=True,
                            resources_list_changed=True,
                        ) as subscription,
                    ):
                        upstream.listen_supported = True
                        async for _event in subscription:
                            logger.info("upstream %s says its lists changed", upstream.name)
                            await upstream.refresh()
                            self.rebuild()
                except (ListenNotSupportedError, MCPError) as exc:
                    if isinstance(exc, ListenNotSupportedError) or exc.code == METHOD_NOT_FOUND:
                        logger.info(
                            "upstream %s cannot be listened to; polling only", upstream.name
                        )
                        upstream.listen_supported = False
                        return
                    await anyio.sleep(2.0)
                except Exception as exc:  # noqa: BLE001 - a dropped stream is re-opened
                    logger.debug("listen to %s ended: %s", upstream.name, describe_error(exc))
                    await anyio.sleep(2.0)
