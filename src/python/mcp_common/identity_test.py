"""The real WorkloadIdentityCredential against a local HTTPS token endpoint (see fake_entra)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcp_common.errors import Unauthorized
from mcp_common.identity import NoToken, build_token_source
from mcp_testkit.fake_entra import FakeEntra, fake_entra

pytestmark = pytest.mark.anyio

SCOPE = "api://tickets-api/.default"


@pytest.fixture
async def entra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEntra]:
    async with fake_entra(tmp_path) as running:
        for name, value in running.environment().items():
            monkeypatch.setenv(name, value)
        yield running


async def test_workload_identity_exchanges_the_federated_token_and_caches(entra: FakeEntra) -> None:
    source = build_token_source("workload_identity", SCOPE, connection_verify=entra.ca_bundle)
    try:
        first = await source.token()
        second = await source.token()
    finally:
        await source.close()
    assert first is not None
    claims = entra.verify(first, audience="api://tickets-api")
    assert claims["azp"] == entra.client_id
    assert claims["tid"] == entra.tenant_id
    assert second == first, "a cached token is reused until it nears expiry"
    assert entra.token_requests == [
        {"tenant": entra.tenant_id, "client_id": entra.client_id, "scope": SCOPE}
    ]


async def test_a_refused_assertion_is_an_unauthorized_error_naming_the_credential(
    entra: FakeEntra,
) -> None:
    entra.token_file.write_text("a token the federation does not trust")
    source = build_token_source("workload_identity", SCOPE, connection_verify=entra.ca_bundle)
    try:
        with pytest.raises(Unauthorized) as caught:
            await source.token()
    finally:
        await source.close()
    message = caught.value.message
    assert "workload_identity" in message
    assert SCOPE in message
    assert "a token the federation does not trust" not in message


async def test_no_credential_means_no_token() -> None:
    assert await NoToken().token() is None
    assert isinstance(build_token_source("none", None), NoToken)


def test_a_credential_without_a_scope_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="needs a token scope"):
        build_token_source("workload_identity", None)
