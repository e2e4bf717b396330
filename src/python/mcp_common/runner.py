"""The `__main__` of every service: settings, logging, telemetry, then uvicorn."""

from __future__ import annotations

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
    # log_config=None keeps our JSON handler; uvicorn's access log is replaced by OTel spans.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
