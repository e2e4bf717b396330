from __future__ import annotations

import anyio
import httpx
import pytest
from fastapi import FastAPI

from mcp_common.health import CheckFailed, ReadinessChecks, health_router
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio


def _app(checks: ReadinessChecks) -> FastAPI:
    app = FastAPI()
    app.include_router(health_router(checks))
    return app


async def test_ready_when_every_check_passes() -> None:
    checks = ReadinessChecks()

    async def database() -> None:
        return None

    checks.add("database", database)
    async with serve(_app(checks)) as url, httpx.AsyncClient() as http:
        live = await http.get(f"{url}/health/live")
        ready = await http.get(f"{url}/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "failed": [], "checks": {"database": {"ok": True}}}


async def test_not_ready_names_the_failed_and_timed_out_checks() -> None:
    checks = ReadinessChecks(timeout_seconds=0.2)

    async def fine() -> None:
        return None

    async def broken() -> None:
        raise CheckFailed("connection refused by 127.0.0.1:5432")

    async def slow() -> None:
        await anyio.sleep(5)

    checks.add("cache", fine)
    checks.add("database", broken)
    checks.add("upstream", slow)
    async with serve(_app(checks)) as url, httpx.AsyncClient() as http:
        live = await http.get(f"{url}/health/live")
        ready = await http.get(f"{url}/health/ready")
    assert live.status_code == 200, "liveness never depends on dependencies"
    assert ready.status_code == 503
    body = ready.json()
    assert body["failed"] == ["database", "upstream"]
    assert body["checks"]["database"]["error"] == "connection refused by 127.0.0.1:5432"
    assert body["checks"]["upstream"]["error"] == "timed out after 0.2s"
    assert body["checks"]["cache"] == {"ok": True}


def test_a_check_name_is_registered_once() -> None:
    checks = ReadinessChecks()

    async def check() -> None:
        return None

    checks.add("db", check)
    with pytest.raises(ValueError, match="'db' is already registered"):
        checks.add("db", check)


async def test_an_unexpected_exception_shows_only_its_type_the_rest_goes_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    checks = ReadinessChecks()

    async def database() -> None:
        raise OSError("connect to postgresql://mcp:s3cret@10.1.2.3:5432/users failed")

    checks.add("database", database)
    async with serve(_app(checks)) as url, httpx.AsyncClient() as http:
        ready = await http.get(f"{url}/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == {"ok": False, "error": "OSError"}
    assert "s3cret" not in ready.text
    assert "10.1.2.3" in caplog.text
