"""The `__main__` of every service: settings, logging, telemetry, then uvicorn."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from starlette.types import ASGIApp

from mcp_common.logs import configure_logging
from mcp_common.settings import ServiceSettings, SettingsError
from mcp_common.telemetry import build_tracer_provider, install_tracer_provider

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

logger = logging.getLogger(__name__)


def _freeze_startup_objects() -> None:
    """Keep what start-up built out of every later garbage collection.

    Imports and the app (modules, classes, pydantic's and SQLAlchemy's compiled schemas, the
    routes) are about 140,000 objects (the users server) that live as long as the process.
    Python's cyclic collector walks them again whenever its oldest generation is collected,
    which under load is often enough to cost 14% to 16% of a domain server's CPU per call in
    2026-07-28 and 18% in 2025-11-25 (users server at c=32, measured side by side; see
    docs/performance.md). `gc.freeze()`
    moves them to a permanent generation the collector skips. Nothing is kept alive by it:
    frozen objects are still freed when their last reference goes, only a reference cycle
    among them would stay, and start-up leaves none that matter (the soak command watches the
    memory of a long run). Done after `build_app`, before uvicorn starts; what the lifespan
    opens later (connections, caches) is collected as usual.
    """
    gc.collect()
    gc.freeze()


def run_service(settings: SettingsT, build_app: Callable[[SettingsT], ASGIApp]) -> None:
    """Configure logging from `settings`, build the app and serve it until SIGTERM/SIGINT."""
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    # Process-wide, so the MCP SDK's spans and outgoing calls join the same traces.
    install_tracer_provider(build_tracer_provider(settings.service_name, settings.otlp_endpoint))
    try:
        app = build_app(settings)
    except SettingsError as exc:
        # A configuration mistake, said in one line; a traceback would only bury it.
        logger.critical("cannot start %s: %s", settings.service_name, exc)
        raise SystemExit(2) from None
    logger.info(
        "starting %s on http://%s:%d/mcp", settings.service_name, settings.host, settings.port
    )
    _freeze_startup_objects()
    # log_config=None keeps our JSON handler; uvicorn's access log is replaced by OTel spans.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
