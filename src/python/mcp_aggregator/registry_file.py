"""Loading the upstream registry, and picking up changes to its file without a restart.

The file is re-read every `interval` seconds and compared by content (not mtime: Kubernetes
swaps a ConfigMap volume's symlink, and editors may keep the mtime). A valid new version is
applied; an invalid one is rejected with an error log and a metric, and the running set stays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path

import anyio
import yaml

from mcp_aggregator.config import ConfigError, UpstreamConfig, load_upstreams, parse_upstreams

logger = logging.getLogger(__name__)

PACKAGED_REGISTRY = "upstreams.local.yaml"


def packaged_upstreams() -> list[UpstreamConfig]:
    """The registry shipped in the package: the local stack's three domain servers."""
    text = resources.files("mcp_aggregator").joinpath(PACKAGED_REGISTRY).read_text()
    return parse_upstreams(yaml.safe_load(text))


class RegistryFile:
    def __init__(
        self,
        path: Path,
        apply: Callable[[Sequence[UpstreamConfig]], Awaitable[None]],
        on_result: Callable[[str], None],
        interval: float,
    ) -> None:
        self.path = path
        self._apply = apply
        self._on_result = on_result
        self._interval = interval
        self._digest = self._read_digest()

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def load(self) -> list[UpstreamConfig]:
        """The file's upstreams now.

        Raises:
            ConfigError: when the file is missing or invalid.
        """
        self._digest = self._read_digest()
        return load_upstreams(self.path)

    async def check(self) -> None:
        """Apply the file if its content changed since it was last read."""
        digest = self._read_digest()
        if digest is None or digest == self._digest:
            return
        self._digest = digest
        try:
            upstreams = load_upstreams(self.path)
        except ConfigError as exc:
            logger.error("registry change rejected, keeping the running upstreams: %s", exc)
            self._on_result("rejected")
            return
        logger.info("registry %s changed; applying %d upstreams", self.path, len(upstreams))
        await self._apply(upstreams)
        self._on_result("applied")

    async def watch(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            await self.check()
