"""The aggregator as an OAuth resource server, with a local Entra ID and real test upstreams.

The local Entra ID (mcp_testkit.fake_entra) serves the OpenID configuration, the JWKS and the
workload-identity token endpoint over HTTPS with a throwaway CA; the aggregator verifies the
clients' tokens against it and gets its own upstream tokens from it with the real
WorkloadIdentityCredential. Clients are the real MCP client, in both protocol generations.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from mcp_aggregator.app import build_app
from mcp_aggregator.config import UpstreamConfig
from mcp_aggregator.conftest import HeaderRecorder, build_upstream
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.auth import PRINCIPAL_META_KEY
from mcp_testkit.fake_entra import FakeEntra, fake_entra
from mcp_testkit.testing import PROTOCOL_MODES, connect, serve

pytestmark = pytest.mark.anyio

API_CLIENT_ID = "3b1c9a4e-0000-4000-8000-0000000a66e6"
API_URI = "api://mcp-platform"
POLICY = """
default: deny
tools:
  lookup: {roles: [Lookup.Read], scopes: [lookup.read]}
  "*": {roles: [Mcp.Admin], scopes: [mcp.admin]}
"""
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = {**ACCEPT, "MCP-Protocol-Version": "2025-11-25"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


@dataclass
class Platform:
    url: str
    entra: FakeEntra
    alpha: HeaderRecorder
    beta: HeaderRecorder
    policy: Path

    def user(self, *scopes: str, oid: str = "0000aaaa-0000-4000-8000-000000000001") -> str:
        """A delegated (user) token for the aggregator's API."""
        return self.entra.token(API_URI, scopes=list(scopes), oid=oid, app_id="vscode-app")

    def app(self, *roles: str) -> str:
        """An app-only token (automation) for the aggregator's API, in the v1 form."""
        return self.entra.token(API_CLIENT_ID, roles=list(roles), version=1, app_id="daemon")


@contextlib.asynccontextmanager
async def platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> AsyncIterator[Platform]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    alpha, beta = build_upstream("alpha", ["lookup"]), build_upstream("beta", ["search"])
    async with (
        fake_entra(tmp_path) as entra,
        serve(alpha) as alpha_url,
        serve(beta) as beta_url,
    ):
        for name, value in entra.environment().items():
            monkeypatch.setenv(name, value)
        settings = AggregatorSettings(
            auth="entra",
            tenant_id=entra.tenant_id,
            audiences=[API_CLIENT_ID, API_URI],
            authority_host=entra.authority,
            tls_ca_bundle=entra.ca_bundle,
            credential="workload_identity",
            policy_file=str(policy),
            reload_interval_seconds=0.1,
            debounce_seconds=0.1,
            **overrides,
        )
        upstreams = [
            UpstreamConfig("alpha", f"{alpha_url}/mcp", scope="api://alpha/.default"),
            UpstreamConfig("beta", f"{beta_url}/mcp", scope="api://beta/.default"),
        ]
        async with serve(build_app(settings, upstreams)) as url:
            yield Platform(url, entra, alpha, beta, policy)


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    async with platform(tmp_path, monkeypatch) as running:
        yield running


def client(url: str, token: str, mode: str) -> contextlib.AbstractAsyncContextManager[Client]:
    return connect(f"{url}/mcp", token, mode)


async def _names(url: str, token: str, mode: str) -> set[str]:
    async with client(url, token, mode) as session:
        return {tool.name for tool in (await session.list_tools()).tools}


async def test_no_token_is_401_naming_the_resource_metadata_and_no_tool(stack: Platform) -> None:
    metadata = f"{stack.url}/.well-known/oauth-protected-resource/mcp"
    async with httpx.AsyncClient() as http:
        legacy = await http.post(f"{stack.url}/mcp", json=INITIALIZE, headers=LEGACY)
        modern = await http.post(
            f"{stack.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={**ACCEPT, "MCP-Protocol-Version": "2026-07-28"},
        )
        stream = await http.get(f"{stack.url}/mcp", headers={"Mcp-Session-Id": "x" * 65})
        delete = await http.delete(f"{stack.url}/mcp", headers={"Mcp-Session-Id": "x"})
    for response in (legacy, modern, stream, delete):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'
        assert "lookup" not in response.text
        assert "search" not in response.text


async def test_bad_tokens_are_401_invalid_token(stack: Platform) -> None:
    async with httpx.AsyncClient() as http:
        for authorization in ("Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"):
            response = await http.post(
                f"{stack.url}/mcp",
                json=INITIALIZE,
                headers={**LEGACY, "Authorization": authorization},
            )
            assert response.status_code == 401, authorization
            assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        expired = stack.entra.token(API_URI, scopes=["lookup.read"], lifetime=-3600)
        response = await http.post(
            f"{stack.url}/mcp",
            json=INITIALIZE,
            headers={**LEGACY, "Authorization": f"Bearer {expired}"},
        )
        assert response.status_code == 401
        assert "expired" in response.json()["error_description"]


async def test_a_token_in_the_query_string_is_refused(stack: Platform) -> None:
    token = stack.user("lookup.read")
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{stack.url}/mcp?access_token={token}", json=INITIALIZE, headers=LEGACY
        )
    assert response.status_code == 401
    assert "query string" in response.json()["error_description"]


async def test_the_protected_resource_metadata_names_entra_and_the_scopes(stack: Platform) -> None:
    async with httpx.AsyncClient() as http:
        at_mcp = await http.get(f"{stack.url}/.well-known/oauth-protected-resource/mcp")
        at_root = await http.get(f"{stack.url}/.well-known/oauth-protected-resource")
        live = await http.get(f"{stack.url}/health/live")
        metrics = await http.get(f"{stack.url}/metrics")
    assert at_mcp.status_code == at_root.status_code == 200
    assert at_mcp.json() == at_root.json()
    document = at_mcp.json()
    assert document["resource"].endswith("/mcp")
    assert document["authorization_servers"] == [
        f"{stack.entra.authority}/{stack.entra.tenant_id}/v2.0"
    ]
    assert document["scopes_supported"] == [f"{API_URI}/lookup.read", f"{API_URI}/mcp.admin"]
    assert document["bearer_methods_supported"] == ["header"]
    assert live.status_code == metrics.status_code == 200, "probes and Prometheus need no token"


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_each_caller_lists_only_what_it_may_call(stack: Platform, mode: str) -> None:
    reader = await _names(stack.url, stack.user("lookup.read"), mode)
    admin = await _names(stack.url, stack.app("Mcp.Admin"), mode)
    both = await _names(stack.url, stack.app("Mcp.Admin", "Lookup.Read"), mode)
    nobody = await _names(stack.url, stack.user("unrelated.scope"), mode)
    assert reader == {"lookup"}
    assert admin == {"search", "alpha_count", "alpha_fail", "beta_count", "beta_fail"}
    assert both == admin | {"lookup"}
    assert nobody == set()


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_allowed_calls_work_and_a_denied_one_is_403_insufficient_scope(
    stack: Platform, mode: str
) -> None:
    token = stack.user("lookup.read")
    async with client(stack.url, token, mode) as session:
        allowed = await session.call_tool("lookup", {"text": "hi"})
        with pytest.raises(MCPError):
            await session.call_tool("search", {"text": "hi"})
    assert allowed.structured_content == {"upstream": "alpha", "tool": "lookup", "text": "hi"}
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "search", "arguments": {"text": "hi"}},
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{stack.url}/mcp", json=call, headers={**LEGACY, "Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 403
    metadata = f"{stack.url}/.well-known/oauth-protected-resource/mcp"
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="mcp.admin", resource_metadata="{metadata}"'
    )
    error = response.json()["error"]
    assert "tool 'search' needs app role Mcp.Admin or scope mcp.admin" in error["message"]
    assert response.json()["id"] == 7
    assert not any(
        body.get("params", {}).get("name") == "search" for body in stack.beta.bodies
    ), "a denied call never reaches its upstream"


async def test_unknown_tool_errors_name_only_the_tools_the_caller_may_call(
    stack: Platform,
) -> None:
    async with client(stack.url, stack.user("lookup.read"), "2026-07-28") as session:
        with pytest.raises(MCPError) as refused:
            await session.call_tool("nope", {})
    assert "known: lookup" in str(refused.value)
    assert "search" not in str(refused.value)


async def test_upstreams_get_the_aggregators_token_and_the_end_user_not_the_clients_token(
    stack: Platform,
) -> None:
    oid = "0000bbbb-0000-4000-8000-000000000002"
    token = stack.user("lookup.read", oid=oid)
    async with client(stack.url, token, "legacy") as session:
        await session.call_tool(
            "lookup",
            {"text": "x"},
            meta={PRINCIPAL_META_KEY: {"oid": "forged", "roles": ["Admin"]}},  # type: ignore[arg-type]
        )
    assert stack.alpha.seen, "the upstream was called"
    for headers in stack.alpha.seen:
        authorization = headers.get("authorization", "")
        assert token not in authorization
        claims = stack.entra.verify(authorization.removeprefix("Bearer "), "api://alpha")
        assert claims["azp"] == stack.entra.client_id, "the aggregator's own workload identity"
    forwarded = next(
        b for b in stack.alpha.bodies if isinstance(b, dict) and b.get("method") == "tools/call"
    )
    principal = forwarded["params"]["_meta"][PRINCIPAL_META_KEY]
    assert principal["oid"] == oid, "the verified user, not what the client wrote in _meta"
    assert principal["scopes"] == ["lookup.read"]
    assert principal["tid"] == stack.entra.tenant_id
    assert {r["scope"] for r in stack.entra.token_requests} == {
        "api://alpha/.default",
        "api://beta/.default",
    }


async def _legacy_session(http: httpx.AsyncClient, url: str, token: str) -> str:
    response = await http.post(
        f"{url}/mcp", json=INITIALIZE, headers={**LEGACY, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    return response.headers["mcp-session-id"]


async def test_a_session_id_works_only_for_the_principal_it_was_issued_to(stack: Platform) -> None:
    alice = stack.user("lookup.read", oid="0000cccc-0000-4000-8000-00000000a11c")
    mallory = stack.user("lookup.read", oid="0000dddd-0000-4000-8000-0000000bad00")
    async with httpx.AsyncClient(timeout=10) as http:
        session_id = await _legacy_session(http, stack.url, alice)
        for method in ("GET", "DELETE", "POST"):
            response = await http.request(
                method,
                f"{stack.url}/mcp",
                json={"jsonrpc": "2.0", "id": 2, "method": "ping"} if method == "POST" else None,
                headers={
                    **LEGACY,
                    "Authorization": f"Bearer {mallory}",
                    "Mcp-Session-Id": session_id,
                },
            )
            assert response.status_code == 404, method
        with anyio.fail_after(10):
            async with http.stream(
                "GET",
                f"{stack.url}/mcp",
                headers={
                    "Accept": "text/event-stream",
                    "Authorization": f"Bearer {alice}",
                    "Mcp-Session-Id": session_id,
                },
            ) as own:
                assert own.status_code == 200
                assert own.headers["content-type"].startswith("text/event-stream")
        ended = await http.delete(
            f"{stack.url}/mcp",
            headers={"Authorization": f"Bearer {alice}", "Mcp-Session-Id": session_id},
        )
        assert ended.status_code == 204


async def test_a_policy_change_applies_without_restart_and_a_broken_one_is_kept_out(
    stack: Platform,
) -> None:
    token = stack.user("lookup.read")
    assert await _names(stack.url, token, "2026-07-28") == {"lookup"}
    stack.policy.write_text(
        POLICY.replace("scopes: [mcp.admin]", "scopes: [mcp.admin, lookup.read]")
    )

    async def sees_everything() -> bool:
        return len(await _names(stack.url, token, "2026-07-28")) == 6

    with anyio.fail_after(15):
        while not await sees_everything():
            await anyio.sleep(0.1)
    stack.policy.write_text("default: maybe\n")
    await anyio.sleep(0.5)  # several reload intervals: the broken file is read and rejected
    assert await sees_everything(), "the last good policy stays"
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{stack.url}/metrics")).text
    assert 'mcp_aggregator_config_reloads_total{file="policy",result="rejected"} 1.0' in metrics
    assert 'mcp_aggregator_config_reloads_total{file="policy",result="applied"} 1.0' in metrics


async def test_each_principal_has_its_own_rate_limit_with_a_clear_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with platform(
        tmp_path, monkeypatch, rate_limit_per_second=0.5, rate_limit_burst=3
    ) as stack:
        alice, bob = stack.user("lookup.read", oid="a" * 8), stack.user("lookup.read", oid="b" * 8)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with httpx.AsyncClient() as http:

            async def send(token: str) -> httpx.Response:
                headers = {**LEGACY, "Authorization": f"Bearer {token}"}
                return await http.post(f"{stack.url}/mcp", json=ping, headers=headers)

            allowed = [(await send(alice)).status_code for _ in range(3)]
            limited = await send(alice)
            other = await send(bob)
            probe = await http.get(f"{stack.url}/health/live")
    assert allowed == [200, 200, 200]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "at most 0.5 requests per second (bursts of 3) per caller" in limited.text
    assert other.status_code == 200, "another caller has its own bucket"
    assert probe.status_code == 200, "probes are never limited"


async def test_notification_streams_are_bounded_per_principal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with platform(tmp_path, monkeypatch, max_streams_per_principal=2) as stack:
        token = stack.user("lookup.read")
        async with (
            httpx.AsyncClient(timeout=10) as http,
            contextlib.AsyncExitStack() as open_streams,
        ):
            session_id = await _legacy_session(http, stack.url, token)
            headers = {
                "Accept": "text/event-stream",
                "Authorization": f"Bearer {token}",
                "Mcp-Session-Id": session_id,
            }
            with anyio.fail_after(20):
                for _ in range(2):
                    stream = await open_streams.enter_async_context(
                        http.stream("GET", f"{stack.url}/mcp", headers=headers)
                    )
                    assert stream.status_code == 200
                third = await http.get(f"{stack.url}/mcp", headers=headers)
                listen = await http.post(
                    f"{stack.url}/mcp",
                    json={
                        "jsonrpc": "2.0",
                        "id": 9,
                        "method": "subscriptions/listen",
                        "params": {},
                    },
                    headers={
                        **ACCEPT,
                        "MCP-Protocol-Version": "2026-07-28",
                        "Authorization": f"Bearer {token}",
                    },
                )
                other = stack.user("lookup.read", oid="0000eeee-0000-4000-8000-000000000e1e")
                others = await _legacy_session(http, stack.url, other)
    assert third.status_code == 429
    assert "already has 2 open streams" in third.json()["error_description"]
    assert listen.status_code == 429, "subscriptions/listen streams count too"
    assert others, "another caller still gets in"


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value of each sample in a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


async def test_refused_tokens_rate_limits_streams_and_readiness_are_in_the_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with platform(
        tmp_path, monkeypatch, rate_limit_per_second=0.01, rate_limit_burst=2, max_streams=7
    ) as stack:
        alice = stack.user("lookup.read")
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with httpx.AsyncClient(timeout=10) as http:
            before = _samples((await http.get(f"{stack.url}/metrics")).text)
            await http.post(f"{stack.url}/mcp", json=ping, headers=LEGACY)
            bad = {**LEGACY, "Authorization": "Bearer not-a-token"}
            await http.post(f"{stack.url}/mcp", json=ping, headers=bad)
            session_id = await _legacy_session(http, stack.url, alice)
            headers = {
                "Accept": "text/event-stream",
                "Authorization": f"Bearer {alice}",
                "Mcp-Session-Id": session_id,
            }
            with anyio.fail_after(20):
                while (await http.get(f"{stack.url}/health/ready")).status_code != 200:
                    await anyio.sleep(0.1)
                async with http.stream("GET", f"{stack.url}/mcp", headers=headers) as stream:
                    assert stream.status_code == 200
                    during = _samples((await http.get(f"{stack.url}/metrics")).text)
            # The session and the stream took both tokens of alice's bucket.
            limited = await http.post(
                f"{stack.url}/mcp",
                json=ping,
                headers={**LEGACY, "Authorization": f"Bearer {alice}"},
            )
            after = _samples((await http.get(f"{stack.url}/metrics")).text)
    assert limited.status_code == 429
    refusals = "mcp_guard_refusals_total"
    assert f'{refusals}{{error="unauthorized",status="401"}}' not in before
    assert after[f'{refusals}{{error="unauthorized",status="401"}}'] == 1
    assert after[f'{refusals}{{error="invalid_token",status="401"}}'] == 1
    assert after[f'{refusals}{{error="rate_limited",status="429"}}'] == 1
    assert during["mcp_aggregator_notification_streams{}"] == 1
    assert after["mcp_aggregator_notification_streams{}"] == 0
    assert after["mcp_aggregator_notification_streams_limit{}"] == 7
    assert after["mcp_ready{}"] == 1
    assert "mcp_readiness_changes_total{}" in after
