"""The RFC 9728 protected-resource metadata: where a client that got a 401 learns how to get a
token. The real aggregator app, served on 127.0.0.1; no token is needed to read the document,
so no identity provider runs here (auth_test.py covers the policy's scopes with a local one).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mcp_aggregator.app import build_app
from mcp_aggregator.settings import AggregatorSettings
from mcp_testkit.testing import serve

pytestmark = pytest.mark.anyio

TENANT = "7f3e1a52-0000-4000-8000-00000000feed"
CLIENT_ID = "3b1c9a4e-0000-4000-8000-0000000a66e6"
WELL_KNOWN = "/.well-known/oauth-protected-resource"
ENTRA = {
    "auth": "entra",
    "tenant_id": TENANT,
    "audiences": [CLIENT_ID, "api://mcp-platform"],
    "authority_host": "https://login.example.test/",
}


@contextlib.asynccontextmanager
async def aggregator(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the aggregator with `settings` and no upstreams."""
    async with (
        serve(build_app(AggregatorSettings(**settings), [])) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


async def test_the_document_names_the_resource_entra_and_the_scopes_at_both_paths() -> None:
    async with aggregator(**ENTRA, resource_url="https://mcp.example.com/mcp") as http:
        at_resource = await http.get(f"{WELL_KNOWN}/mcp")
        at_root = await http.get(WELL_KNOWN)
    assert at_resource.status_code == at_root.status_code == 200
    assert (
        at_resource.json()
        == at_root.json()
        == {
            "resource": "https://mcp.example.com/mcp",
            "authorization_servers": [f"https://login.example.test/{TENANT}/v2.0"],
            "scopes_supported": ["api://mcp-platform/.default"],  # no policy: the app's scopes
            "bearer_methods_supported": ["header"],
            "resource_name": "MCP platform",
        }
    )


async def test_a_resource_under_a_path_is_described_under_that_path_and_challenged_so() -> None:
    resource = "https://mcp.example.com/platform/mcp"
    async with aggregator(**ENTRA, resource_url=resource) as http:
        under_path = await http.get(f"{WELL_KNOWN}/platform/mcp")
        at_root = await http.get(WELL_KNOWN)
        elsewhere = await http.get(f"{WELL_KNOWN}/mcp")
        refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert under_path.status_code == at_root.status_code == 200
    assert under_path.json()["resource"] == at_root.json()["resource"] == resource
    assert elsewhere.status_code == 404
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge == (
        f'Bearer resource_metadata="https://mcp.example.com{WELL_KNOWN}/platform/mcp"'
    ), "the client is sent where the document is"


async def test_without_a_configured_url_the_resource_is_the_one_the_client_asked() -> None:
    async with aggregator(**ENTRA) as http:
        port = http.base_url.port
        by_address = await http.get(f"{WELL_KNOWN}/mcp")
        by_name = await http.get(f"{WELL_KNOWN}/mcp", headers={"host": f"localhost:{port}"})
        refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert by_address.json()["resource"] == f"http://127.0.0.1:{port}/mcp"
    assert by_name.json()["resource"] == f"http://localhost:{port}/mcp"
    assert refused.headers["www-authenticate"] == (
        f'Bearer resource_metadata="http://127.0.0.1:{port}{WELL_KNOWN}/mcp"'
    )


@pytest.mark.parametrize(
    ("settings", "scopes"),
    [
        ({"scopes_supported": ["api://custom/mcp.access"]}, ["api://custom/mcp.access"]),
        ({"audiences": [CLIENT_ID]}, [f"api://{CLIENT_ID}/.default"]),
    ],
)
async def test_the_scopes_are_the_configured_ones_else_under_the_apps_uri(
    settings: dict[str, Any], scopes: list[str]
) -> None:
    async with aggregator(**{**ENTRA, **settings}) as http:
        document = (await http.get(f"{WELL_KNOWN}/mcp")).json()
    assert document["scopes_supported"] == scopes


async def test_without_authentication_there_is_no_metadata_to_follow() -> None:
    async with aggregator(auth="none") as http:
        answers = [await http.get(path) for path in (WELL_KNOWN, f"{WELL_KNOWN}/mcp")]
        served = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"accept": "application/json, text/event-stream"},
        )
    assert [answer.status_code for answer in answers] == [404, 404]
    assert served.status_code == 200, "no token is asked for, so no challenge names one"
    assert "www-authenticate" not in served.headers
