"""Bearer tokens against an MCP server that requires them (the SDK's resource-server support),
with real RS256 JWTs from the fake Entra ID token endpoint (see `mcp_testkit.fake_entra`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl

from mcp_client.conftest import inprocess_platform, run_cli
from mcp_testkit.fake_entra import FakeEntra, fake_entra
from mcp_testkit.testing import PROTOCOL_MODES, serve

pytestmark = pytest.mark.anyio

AUDIENCE = "api://mcp-platform"
SCOPE = f"{AUDIENCE}/.default"
NO_TOKEN_MESSAGE = (
    "wants a bearer token (HTTP 401); set MCP_BEARER_TOKEN=<token>, or "
    "MCP_CREDENTIAL=workload_identity|service_principal|azure_cli with "
    "MCP_TOKEN_SCOPE=api://<app-id>/.default\n"
)


@dataclass
class EntraVerifier:
    """Checks tokens as the platform's resource servers do: signature, issuer, audience."""

    entra: FakeEntra
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = self.entra.verify(token, AUDIENCE)
        except jwt.InvalidTokenError:
            return None
        self.seen.append(claims)
        return AccessToken(
            token=token, client_id=claims["azp"], scopes=[], expires_at=claims["exp"]
        )


@dataclass
class Protected:
    url: str
    entra: FakeEntra
    verifier: EntraVerifier


@pytest.fixture
async def protected(tmp_path: Path) -> AsyncIterator[Protected]:
    async with fake_entra(tmp_path) as entra:
        verifier = EntraVerifier(entra)
        server = MCPServer(
            "protected",
            token_verifier=verifier,
            auth=AuthSettings(
                issuer_url=AnyHttpUrl(f"{entra.authority}/{entra.tenant_id}/v2.0"),
                resource_server_url=None,
                validate_token_resource=False,
            ),
        )

        @server.tool(description="Who called.")
        async def whoami() -> dict[str, str]:
            return {"answer": "a caller with a valid token"}

        async with serve(server.streamable_http_app(stateless_http=True)) as base:
            yield Protected(f"{base}/mcp", entra, verifier)


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_without_a_token_the_client_says_the_server_wants_one_and_how_to_give_it(
    protected: Protected, mode: str
) -> None:
    run = await run_cli("--url", protected.url, "--protocol", mode, "tools")
    assert (run.code, run.out) == (4, "")
    assert run.err == f"mcp-client: the MCP server at {protected.url} {NO_TOKEN_MESSAGE}"


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_token_from_the_environment_is_sent(
    protected: Protected, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_BEARER_TOKEN", protected.entra.issue(AUDIENCE))
    run = await run_cli("--url", protected.url, "--protocol", mode, "call", "whoami")
    assert run.code == 0, run.err
    assert run.json() == {"answer": "a caller with a valid token"}
    assert protected.verifier.seen


async def test_a_token_for_another_audience_is_refused_with_the_servers_reason(
    protected: Protected, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_BEARER_TOKEN", protected.entra.issue("api://someone-else"))
    run = await run_cli("--url", protected.url, "tools")
    assert run.code == 4
    assert run.err.startswith(
        f"mcp-client: the MCP server at {protected.url} refused the bearer token (HTTP 401"
    )
    assert "get a valid token: set MCP_BEARER_TOKEN" in run.err


async def test_workload_identity_gets_a_token_from_azure_ad_for_the_scope(
    protected: Protected, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in protected.entra.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MCP_CREDENTIAL", "workload_identity")
    monkeypatch.setenv("MCP_TOKEN_SCOPE", SCOPE)
    monkeypatch.setenv("MCP_CA_BUNDLE", protected.entra.ca_bundle)
    run = await run_cli("--url", protected.url, "call", "whoami")
    assert run.code == 0, run.err
    assert protected.entra.token_requests == [
        {
            "tenant": protected.entra.tenant_id,
            "client_id": protected.entra.client_id,
            "scope": SCOPE,
        }
    ]
    assert protected.verifier.seen[-1]["azp"] == protected.entra.client_id


async def test_a_refused_federated_credential_is_unauthorized_naming_it(
    protected: Protected, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in protected.entra.environment().items():
        monkeypatch.setenv(name, value)
    protected.entra.token_file.write_text("a token the federation does not trust")
    monkeypatch.setenv("MCP_CREDENTIAL", "workload_identity")
    monkeypatch.setenv("MCP_TOKEN_SCOPE", SCOPE)
    monkeypatch.setenv("MCP_CA_BUNDLE", protected.entra.ca_bundle)
    run = await run_cli("--url", protected.url, "tools")
    assert run.code == 4
    assert run.err.startswith(
        f"mcp-client: could not get a token for scope '{SCOPE}' with workload_identity"
    )
    assert len(run.err.splitlines()) == 1
    assert "does not trust" not in run.err


async def test_a_credential_without_a_scope_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_CREDENTIAL", "azure_cli")
    run = await run_cli("--url", "http://127.0.0.1:9/mcp", "tools")
    assert run.code == 2
    assert run.err.startswith("mcp-client: MCP_CREDENTIAL=azure_cli: credential 'azure_cli' needs")
    assert run.err.rstrip().endswith("(set MCP_TOKEN_SCOPE)")


async def test_the_real_aggregator_without_a_token_names_the_authority_and_scopes(
    tmp_path: Path,
) -> None:
    async with inprocess_platform(tmp_path) as platform:
        run = await run_cli("--url", platform.url, "tools")
        entra = platform.identity.entra
    assert (run.code, run.out) == (4, "")
    assert run.err == (
        f"mcp-client: the MCP server at {platform.url} wants a bearer token (HTTP 401); "
        f"get a token from {entra.authority}/{entra.tenant_id}/v2.0 for scope "
        "api://mcp-platform/mcp.access or api://mcp-platform/tickets.write, then set "
        "MCP_BEARER_TOKEN=<token>, or MCP_CREDENTIAL=workload_identity|service_principal|"
        "azure_cli with MCP_TOKEN_SCOPE=api://mcp-platform/mcp.access\n"
    )


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_the_real_aggregator_refusing_a_tool_names_the_missing_scope(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with inprocess_platform(tmp_path) as platform:
        monkeypatch.setenv("MCP_BEARER_TOKEN", platform.identity.user_token(("mcp.access",)))
        listed = await run_cli("--url", platform.url, "--protocol", mode, "tools", "--json")
        run = await run_cli(
            "--url", platform.url, "--protocol", mode, "call", "create_ticket", "title=x"
        )
    assert listed.code == 0, listed.err
    assert "create_ticket" not in {tool["name"] for tool in listed.json()}
    assert run.code == 4
    assert run.err.startswith(
        f"mcp-client: the MCP server at {platform.url} refused the request (HTTP 403: "
        "tool 'create_ticket' needs app role Tickets.Write or scope tickets.write;"
    )
    assert run.err.endswith(
        "; get a token with scope api://mcp-platform/tickets.write "
        "(or an app role the server names)\n"
    )
