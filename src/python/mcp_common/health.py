"""Liveness and readiness endpoints.

`/health/live` says the process is serving HTTP; it never checks dependencies, so a slow
database cannot get a healthy pod restarted. `/health/ready` runs every registered dependency
check (each with a time limit) and answers 503 naming the checks that failed, so Kubernetes
stops routing to a replica that cannot do its work, and an operator can see why.

`/health/ready` is unauthenticated, so a failed check says only what it chose to say (the
message of a `CheckFailed`) or the type of what it raised; the exception itself, which may
hold a database address or an upstream's answer, goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mcp_common.errors import CheckFailed

__all__ = ["CheckFailed", "ReadinessCheck", "ReadinessChecks", "ReadinessDetail", "health_router"]

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
"""An async callable that returns when the dependency is usable and raises when not."""

ReadinessDetail = Callable[[], Mapping[str, Any]]
"""A callable describing a dependency for `/health/ready` (what it is, never a secret)."""


@dataclass
class ReadinessChecks:
    """The named dependency checks that decide readiness."""

    timeout_seconds: float = 2.0
    _checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    _details: dict[str, ReadinessDetail] = field(default_factory=dict)
    # What the last run found (None before the first), and how often that flipped: metrics.
    ready: bool | None = None
    changes: int = 0

    def add(self, name: str, check: ReadinessCheck) -> None:
        """Register `check` under `name`.

        Raises:
            ValueError: when a check of that name is already registered.
        """
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} is already registered")
        self._checks[name] = check

    def describe(self, name: str, detail: ReadinessDetail) -> None:
        """Show `detail()` under the check `name` in `/health/ready`, pass or fail."""
        self._details[name] = detail

    def detail(self, name: str) -> Mapping[str, Any] | None:
        describe = self._details.get(name)
        return describe() if describe is not None else None

    async def run(self) -> dict[str, str | None]:
        """Run every check; map each name to None (passed) or the reason it failed."""
        results: dict[str, str | None] = {}
        for name, check in self._checks.items():
            results[name] = await self._run_one(name, check)
        ready = all(error is None for error in results.values())
        if self.ready is not None and ready != self.ready:
            self.changes += 1
        self.ready = ready
        return results

    async def _run_one(self, name: str, check: ReadinessCheck) -> str | None:
        try:
            with anyio.fail_after(self.timeout_seconds):
                await check()
        except TimeoutError:
            return f"timed out after {self.timeout_seconds:g}s"
        except CheckFailed as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            return str(exc) or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - a check's failure is data, whatever it raised
            logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            return type(exc).__name__
        return None


def health_router(checks: ReadinessChecks) -> APIRouter:
    """Routes for `/health/live` and `/health/ready`."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        results = await checks.run()
        failed = sorted(name for name, error in results.items() if error is not None)
        body = {
            "status": "not_ready" if failed else "ready",
            "failed": failed,
            "checks": {
                name: {
                    "ok": error is None,
                    **({"error": error} if error else {}),
                    **({"detail": detail} if (detail := checks.detail(name)) else {}),
                }
                for name, error in results.items()
            },
        }
        return JSONResponse(body, status_code=503 if failed else 200)

    return router
