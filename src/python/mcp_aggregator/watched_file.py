"""Configuration files the aggregator follows without a restart (the registry, the policy).

A file is re-read every `interval` seconds and compared by content (not mtime: Kubernetes
swaps a ConfigMap volume's symlink, and editors may keep the mtime). A valid new version is
applied; an invalid one is rejected with an error log and a metric, and the running version
stays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Generic, TypeVar

import anyio

from mcp_aggregator.errors import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class WatchedFile(Generic[T]):
    """A configuration file, parsed by `parse` and handed to `apply` whenever it changes.

    `on_result` hears "applied" or "rejected" for every change (a metric); `what` names the
    file in logs ("registry", "policy").
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[Path], T],
        apply: Callable[[T], Awaitable[None]],
        on_result: Callable[[str], None],
        interval: float,
        what: str,
    ) -> None:
        self.path = path
        self._parse = parse
        self._apply = apply
        self._on_result = on_result
        self._interval = interval
        self._what = what
        self._digest = self._read_digest()

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def load(self) -> T:
        """The file's content now.

        Raises:
            ConfigError: when the file is missing or invalid.
        """
        self._digest = self._read_digest()
        return self._parse(self.path)

    async def check(self) -> None:
        """Apply the file if its content changed since it was last read."""
        digest = self._read_digest()
        if digest is None or digest == self._digest:
            return
        self._digest = digest
        try:
            value = self._parse(self.path)
        except ConfigError as exc:
            logger.error("%s change rejected, keeping the running one: %s", self._what, exc)
            self._on_result("rejected")
            return
        logger.info("%s %s changed; applying it", self._what, self.path)
        await self._apply(value)
        self._on_result("applied")

    async def watch(self) -> None:
        """Check the file every `interval` seconds, for as long as the app runs."""
        while True:
            await anyio.sleep(self._interval)
            try:
                await self.check()
            except Exception:  # this loop's top level (see below)
                # A parser bug (anything but ConfigError) must not end this task: it would end
                # the app's other background loops with it while the app goes on serving.
                logger.exception("%s change could not be read; keeping the running one", self._what)
                self._on_result("rejected")
