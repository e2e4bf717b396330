"""Per-dataset roles: the data server (auth=entra) called as the aggregator calls it, by the
real MCP client with tokens of a local Entra ID, and its reference API called with a person's
token. A dataset naming roles answers `forbidden` (naming them) to an end user without one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcp_common.auth import PRINCIPAL_META_KEY
from mcp_data.app import build_app
from mcp_data.settings import DataSettings
from mcp_testkit.fake_entra import DELEGATED_SCOPE, FakeEntra, fake_entra
from mcp_testkit.testing import connect, serve, tool_error

pytestmark = pytest.mark.anyio

AUDIENCE = "api://mcp-data"
CATALOG = """
datasets:
  - name: salaries
    description: One person's yearly salary.
    roles: [Data.Salaries.Read, Data.Admin]
    demo_rows: 20
    columns:
      - {name: person, type: string, demo_pattern: "p-{row:03d}"}
      - {name: amount, type: integer, demo_range: [30000, 90000]}
  - name: sales
    description: Daily sales.
    demo_rows: 20
    columns:
      - {name: region, type: string, demo_values: [EMEA, AMER]}
      - {name: units, type: integer, demo_range: [1, 9]}
"""


@dataclass
class DataServer:
    url: str
    entra: FakeEntra

    def person(self, *roles: str) -> str:
        """A person's on-behalf-of token for the data server, as the aggregator sends it."""
        return self.entra.token(
            AUDIENCE,
            scopes=[DELEGATED_SCOPE],
            roles=list(roles),
            oid="0000a11c-0000-4000-8000-00000000a11c",
            app_id=self.entra.client_id,
        )

    def aggregator(self) -> str:
        """The aggregator's own (app-only) token."""
        return self.entra.token(AUDIENCE, app_id=self.entra.client_id)


@contextlib.asynccontextmanager
async def data_server(tmp_path: Path) -> AsyncIterator[DataServer]:
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text(CATALOG)
    async with fake_entra(tmp_path) as entra:
        settings = DataSettings(
            demo=True,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/data.sqlite3",
            datasets_file=str(catalog),
            auth="entra",
            tenant_id=entra.tenant_id,
            audiences=[AUDIENCE],
            authority_host=entra.authority,
            tls_ca_bundle=entra.ca_bundle,
            allowed_callers=[entra.client_id],
        )
        async with serve(build_app(settings)) as url:
            yield DataServer(url, entra)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DataServer]:
    async with data_server(tmp_path) as running:
        yield running


async def _query(
    server: DataServer, token: str, dataset: str, meta: dict[str, Any] | None = None
) -> Any:
    async with connect(f"{server.url}/mcp", token, "2026-07-28") as client:
        return await client.call_tool(
            "query_data",
            {"dataset": dataset, "limit": 5},
            meta=meta,  # type: ignore[arg-type]
        )


async def test_a_person_without_a_datasets_role_is_forbidden_naming_the_roles(
    server: DataServer,
) -> None:
    with anyio.fail_after(30):
        refused = await _query(server, server.person("Some.Other.Role"), "salaries")
        allowed = await _query(server, server.person("Data.Admin"), "salaries")
        open_dataset = await _query(server, server.person(), "sales")
    error = tool_error(refused)
    assert error.code == "forbidden"
    assert "Data.Salaries.Read, Data.Admin" in error.message
    assert "Some.Other.Role" in error.message
    for result in (allowed, open_dataset):
        assert not result.is_error, result.content
        assert len(result.structured_content["rows"]) == 5


async def test_an_app_only_end_user_is_judged_by_the_roles_the_aggregator_passes_on(
    server: DataServer,
) -> None:
    def meta(*roles: str) -> dict[str, Any]:
        return {PRINCIPAL_META_KEY: {"oid": "app-oid", "app_id": "ci", "roles": list(roles)}}

    with anyio.fail_after(30):
        refused = await _query(server, server.aggregator(), "salaries", meta("Mcp.User"))
        allowed = await _query(server, server.aggregator(), "salaries", meta("Data.Salaries.Read"))
    assert tool_error(refused).code == "forbidden"
    assert not allowed.is_error, allowed.content


async def test_the_reference_api_refuses_a_person_without_the_role_with_403(
    server: DataServer,
) -> None:
    body = {"filters": {}, "limit": 5}
    async with httpx.AsyncClient(base_url=f"{server.url}/api") as http:
        refused = await http.post(
            "/datasets/salaries/query",
            json=body,
            headers={"Authorization": f"Bearer {server.person()}"},
        )
        allowed = await http.post(
            "/datasets/salaries/query",
            json=body,
            headers={"Authorization": f"Bearer {server.person('Data.Salaries.Read')}"},
        )
    assert refused.status_code == 403
    assert "needs one of the roles Data.Salaries.Read, Data.Admin" in refused.json()["detail"]
    assert allowed.status_code == 200
    assert len(allowed.json()["rows"]) == 5
