"""The users server against a remote, token-protected directory API, as on AKS.

The directory API is the real reference API served over HTTP, behind a resource-server check
of Azure AD tokens; the server gets its tokens with the real WorkloadIdentityCredential from a
local HTTPS token endpoint (mcp_testkit.fake_entra). Only Azure itself is stood in for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mcp import Client

from mcp_common.database import Database
from mcp_common.errors import ReportedError
from mcp_testkit.fake_entra import FakeEntra, RequireEntraToken, fake_entra
from mcp_testkit.testing import serve, tool_error
from mcp_users import store
from mcp_users.api import build_api
from mcp_users.app import build_app
from mcp_users.settings import UsersSettings

pytestmark = pytest.mark.anyio

AUDIENCE = "api://users-directory"


@dataclass
class Deployment:
    mcp_url: str
    entra: FakeEntra
    guard: RequireEntraToken


@pytest.fixture
async def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Deployment]:
    database = Database(
        f"sqlite+aiosqlite:///{tmp_path}/directory.sqlite3", store.metadata, store.seed
    )
    async with fake_entra(tmp_path) as entra, database.lifespan():
        for name, value in entra.environment().items():
            monkeypatch.setenv(name, value)
        guard = RequireEntraToken(build_api(database), entra, AUDIENCE)
        async with serve(guard) as api_url:
            settings = UsersSettings(
                api_url=api_url,
                credential="workload_identity",
                api_scope=f"{AUDIENCE}/.default",
                tls_ca_bundle=entra.ca_bundle,
            )
            async with serve(build_app(settings)) as mcp_url:
                yield Deployment(mcp_url, entra, guard)


async def test_tools_call_the_remote_api_with_workload_identity_tokens(
    deployment: Deployment,
) -> None:
    async with Client(f"{deployment.mcp_url}/mcp", mode="2026-07-28") as client:
        page = await client.call_tool("list_users", {"limit": 3})
        profile = await client.call_tool("get_user_profile", {"user_id": "u-0002"})
        missing = await client.call_tool("get_user_profile", {"user_id": "u-4040"})
    assert page.structured_content is not None
    assert page.structured_content["total"] == 42
    assert profile.structured_content is not None
    assert profile.structured_content["user_id"] == "u-0002"
    assert tool_error(missing) == ReportedError("not_found", "no user with id 'u-4040'")
    assert {claims["azp"] for claims in deployment.guard.seen_claims} == {
        deployment.entra.client_id
    }
    assert (
        len(deployment.entra.token_requests) == 1
    ), "one token serves every call until near expiry"


async def test_readiness_checks_the_remote_api_with_a_token(deployment: Deployment) -> None:
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"{deployment.mcp_url}/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"users-api": {"ok": True}}


async def test_a_refused_federation_is_a_clear_tool_error_not_a_crash(
    deployment: Deployment,
) -> None:
    deployment.entra.token_file.write_text("not the token the federation trusts")
    # A new server process reads the file afresh (azure-identity caches it for 10 minutes).
    settings = UsersSettings(
        api_url="http://127.0.0.1:9",
        credential="workload_identity",
        api_scope=f"{AUDIENCE}/.default",
        tls_ca_bundle=deployment.entra.ca_bundle,
    )
    async with (
        serve(build_app(settings)) as mcp_url,
        Client(f"{mcp_url}/mcp", mode="legacy") as client,
    ):
        result = await client.call_tool("list_users", {})
        again = await client.call_tool("list_users", {})
    error = tool_error(result)
    assert error.code == "unauthorized"
    assert "workload_identity" in error.message
    assert again.is_error, "the server keeps answering"
