"""The token verifier against a local Entra ID (HTTPS, a throwaway CA, keys made here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_common.auth import EntraConfig, InvalidToken, KeysUnavailable, TokenVerifier
from mcp_testkit.fake_entra import FakeEntra, fake_entra

pytestmark = pytest.mark.anyio

CLIENT_ID = "7d3f0d5e-0000-4000-8000-00000000a9a1"
APP_URI = "api://mcp-platform"


@pytest.fixture
async def entra(tmp_path: Path) -> AsyncIterator[FakeEntra]:
    async with fake_entra(tmp_path) as running:
        yield running


def _verifier(entra: FakeEntra, **overrides: object) -> TokenVerifier:
    config = EntraConfig(
        tenant_id=entra.tenant_id,
        audiences=(CLIENT_ID, APP_URI),
        authority_host=entra.authority,
        ca_bundle=entra.ca_bundle,
        **overrides,  # type: ignore[arg-type]
    )
    return TokenVerifier(config)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(token)
    return str(refused.value)


async def test_a_v2_delegated_token_gives_the_user_and_scopes(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    oid = str(uuid.uuid4())
    token = entra.token(CLIENT_ID, scopes=["mcp.access", "tickets.read"], oid=oid)
    principal = await verifier.verify(token)
    assert principal.object_id == oid
    assert principal.tenant_id == entra.tenant_id
    assert principal.app_id == entra.client_id
    assert principal.scopes == {"mcp.access", "tickets.read"}
    assert principal.roles == frozenset()
    assert not principal.app_only
    await verifier.aclose()


async def test_a_v1_app_only_token_for_the_app_id_uri_gives_its_roles(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    token = entra.token(APP_URI, roles=["Tickets.Write"], version=1, app_id="daemon-app")
    principal = await verifier.verify(token)
    assert principal.roles == {"Tickets.Write"}
    assert principal.app_id == "daemon-app"
    assert principal.app_only
    await verifier.aclose()


async def test_malformed_tokens_are_refused(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    assert "not a JWT" in await _refused(verifier, "not-a-jwt")
    assert "not a JWT" in await _refused(verifier, "a.b.c")
    no_kid = jwt.encode({"aud": CLIENT_ID}, entra.private_key, algorithm="RS256")
    assert "kid" in await _refused(verifier, no_kid)
    await verifier.aclose()


async def test_a_bad_signature_is_refused(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = entra.token(CLIENT_ID, scopes=["mcp.access"], key=forger)  # the tenant's kid
    assert "signature" in await _refused(verifier, token)
    # A real token with its payload swapped keeps its signature, which no longer matches.
    header, _payload, signature = entra.token(CLIENT_ID, scopes=["a"]).split(".")
    claims = jwt.decode(
        entra.token(CLIENT_ID, roles=["Admin"]), options={"verify_signature": False}
    )
    tampered = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert "signature" in await _refused(verifier, tampered)
    await verifier.aclose()


async def test_alg_none_and_hs256_with_the_public_key_are_refused(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    claims = jwt.decode(
        entra.token(CLIENT_ID, roles=["Admin"]), options={"verify_signature": False}
    )
    header = {"alg": "none", "typ": "JWT", "kid": entra.kid}
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
    assert "'none' is not allowed" in await _refused(verifier, unsigned)
    # Key confusion: an HMAC "signed" with the public key, which anyone can fetch.
    public_pem = entra.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": entra.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert "'HS256' is not allowed" in await _refused(verifier, f"{signing_input}.{_b64(mac)}")
    await verifier.aclose()


async def test_expired_and_not_yet_valid_tokens_are_refused(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    assert "expired" in await _refused(verifier, entra.token(CLIENT_ID, lifetime=-600))
    future = int(time.time()) + 3600
    assert "not valid yet" in await _refused(verifier, entra.token(CLIENT_ID, not_before=future))
    # Within the leeway (clock skew), both are accepted.
    await verifier.verify(entra.token(CLIENT_ID, lifetime=-30))
    await verifier.verify(entra.token(CLIENT_ID, not_before=int(time.time()) + 30))
    await verifier.aclose()


async def test_wrong_audience_issuer_and_tenant_are_refused(entra: FakeEntra) -> None:
    verifier = _verifier(entra)
    message = await _refused(verifier, entra.token("api://someone-else"))
    assert "another audience" in message
    assert APP_URI in message
    wrong_issuer = entra.token(CLIENT_ID, issuer="https://login.example.org/evil/v2.0")
    assert "issuer" in await _refused(verifier, wrong_issuer)
    other_tenant = str(uuid.uuid4())
    # Signed with the right key, for another tenant (a multi-tenant app's token).
    token = entra.token(CLIENT_ID, tenant_id=other_tenant)
    assert "another tenant" in await _refused(verifier, token)
    await verifier.aclose()


async def test_an_unknown_kid_refetches_the_keys_once_and_follows_a_rotation(
    entra: FakeEntra,
) -> None:
    verifier = _verifier(entra, refetch_cooldown=3600.0)
    await verifier.verify(entra.token(CLIENT_ID))
    assert entra.jwks_fetches == 1
    entra.rotate(keep_old=False)
    rotated = await verifier.verify(entra.token(CLIENT_ID, scopes=["mcp.access"]))
    assert rotated.scopes == {"mcp.access"}
    assert entra.jwks_fetches == 2, "an unknown kid fetches the keys again"
    # Junk kids within the cooldown do not make the verifier hammer the identity provider.
    for _ in range(5):
        junk = entra.token(CLIENT_ID, kid=uuid.uuid4().hex)
        assert "not one of the tenant's keys" in await _refused(verifier, junk)
    assert entra.jwks_fetches == 2
    await verifier.aclose()


async def test_unreachable_keys_are_a_clear_temporary_refusal(tmp_path: Path) -> None:
    verifier = TokenVerifier(
        EntraConfig(
            tenant_id=str(uuid.uuid4()),
            audiences=(CLIENT_ID,),
            authority_host="https://127.0.0.1:9",
        )
    )
    async with fake_entra(tmp_path) as entra:
        token = entra.token(CLIENT_ID)
    with pytest.raises(KeysUnavailable, match="signing keys are unavailable"):
        await verifier.verify(token)
    await verifier.aclose()


async def test_a_verified_token_is_served_from_the_cache_until_it_expires(
    entra: FakeEntra,
) -> None:
    verifier = _verifier(entra, refetch_cooldown=0.0)
    token = entra.token(CLIENT_ID, roles=["Mcp.User"])
    first = await verifier.verify(token)
    entra.rotate(keep_old=False)  # the token's key is gone from the JWKS
    assert await verifier.verify(token) is first
    other = entra.token(CLIENT_ID, roles=["Mcp.User"])  # not cached: checked against the keys
    assert (await verifier.verify(other)).roles == {"Mcp.User"}
    await verifier.aclose()
