"""The aggregator (its real ASGI app under uvicorn) in front of server-everything."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx

from mcp_aggregator.app import build_app
from mcp_aggregator.config import envoy_bootstrap, envoy_cluster, parse_upstreams
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.testing import serve

UPSTREAM = "everything"


class NotReadyError(Exception):
    """The aggregator did not report ready; the message carries its last answer."""


async def wait_ready(base_url: str, timeout: float = 30.0) -> None:
    """Until the aggregator's readiness says its upstream is listed (200).

    Raises:
        NotReadyError: it did not within `timeout` seconds.
    """
    last = ""
    async with httpx.AsyncClient(timeout=5.0) as client:
        with anyio.move_on_after(timeout):
            while True:
                response = await client.get(f"{base_url}/health/ready")
                if response.status_code == 200:
                    return
                last = response.text
                await anyio.sleep(0.1)
    raise NotReadyError(f"aggregator not ready after {timeout:g}s: {last}")


@contextlib.asynccontextmanager
async def aggregator_in_front(
    upstream_url: str, *, session_keys_file: Path | None = None
) -> AsyncIterator[str]:
    """The aggregator with `upstream_url` (an MCP endpoint on 127.0.0.1) as its only upstream,
    registered the way a platform team would (an Envoy cluster, `sessions: per-client`), once
    ready; yields the aggregator's MCP URL."""
    address = urlsplit(upstream_url)
    if not address.hostname or not address.port:
        raise ValueError(f"expected http://HOST:PORT/PATH, got {upstream_url!r}")
    cluster = envoy_cluster(
        UPSTREAM, address.hostname, address.port, path=address.path, sessions="per-client"
    )
    upstreams = parse_upstreams(envoy_bootstrap([cluster]))
    keys = str(session_keys_file) if session_keys_file else None
    settings = AggregatorSettings(session_keys_file=keys)
    async with serve(build_app(settings, upstreams=upstreams)) as base:
        await wait_ready(base)
        yield f"{base}/mcp"
