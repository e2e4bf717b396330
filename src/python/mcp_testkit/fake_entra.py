"""A stand-in for Azure AD (Entra ID) at the protocol level, for tests.

Azure itself cannot run here, so tests run this instead: an HTTPS token endpoint on 127.0.0.1
with a throwaway CA, speaking the OAuth 2.0 client-credentials flow that azure-identity's real
`WorkloadIdentityCredential` uses (`POST {authority}/{tenant}/oauth2/v2.0/token` with the
federated service-account token as `client_assertion`). It issues RS256 JWTs signed by a key
made for the test, which a protected test API verifies like a real resource server would
(signature, audience, expiry). Nothing in the code under test is patched.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_testkit.testing import serve

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class FakeEntra:
    """A running fake token endpoint and what a test needs to point azure-identity at it."""

    authority: str
    ca_bundle: str
    tenant_id: str
    client_id: str
    token_file: Path
    trusted_assertion: str
    private_key: rsa.RSAPrivateKey
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        """What the AKS Workload Identity webhook would set in the pod."""
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(self.token_file),
            "AZURE_AUTHORITY_HOST": self.authority,
        }

    def issue(self, audience: str, lifetime: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": f"{self.authority}/{self.tenant_id}/v2.0",
            "aud": audience,
            "tid": self.tenant_id,
            "appid": self.client_id,
            "azp": self.client_id,
            "sub": self.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """Check a bearer token as a resource server would.

        Raises:
            jwt.InvalidTokenError: when the signature, audience, issuer or expiry is wrong.
        """
        return dict(
            jwt.decode(
                token,
                self.private_key.public_key(),
                algorithms=["RS256"],
                audience=audience,
                issuer=f"{self.authority}/{self.tenant_id}/v2.0",
            )
        )


def _token_app(entra: FakeEntra) -> FastAPI:
    app = FastAPI()

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(
        tenant: str,
        grant_type: str = Form(),
        client_id: str = Form(),
        scope: str = Form(),
        client_assertion: str = Form(""),
        client_assertion_type: str = Form(""),
    ) -> JSONResponse:
        entra.token_requests.append({"tenant": tenant, "client_id": client_id, "scope": scope})
        if (
            tenant != entra.tenant_id
            or client_id != entra.client_id
            or grant_type != "client_credentials"
            or client_assertion_type != CLIENT_ASSERTION_TYPE
            or client_assertion != entra.trusted_assertion
        ):
            return JSONResponse(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS700213: No matching federated identity record "
                    "found for presented assertion.",
                },
                status_code=401,
            )
        audience = scope.removesuffix("/.default")
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": entra.issue(audience),
            }
        )

    return app


@contextlib.asynccontextmanager
async def fake_entra(workdir: Path) -> AsyncIterator[FakeEntra]:
    """Run the fake token endpoint over HTTPS; files (CA, cert, token file) go in `workdir`."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_path, cert_path, key_path = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    token_file = workdir / "azure-identity-token"
    # What the kubelet projects into the pod: the service account's own signed token.
    # The federation trusts exactly this token; a test may overwrite the file to be refused.
    assertion = "projected-service-account-token-" + uuid.uuid4().hex
    token_file.write_text(assertion)
    entra = FakeEntra(
        authority="",
        ca_bundle=str(ca_path),
        tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        token_file=token_file,
        trusted_assertion=assertion,
        private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    async with serve(
        _token_app(entra), ssl_certfile=str(cert_path), ssl_keyfile=str(key_path)
    ) as url:
        entra.authority = url
        yield entra


class RequireEntraToken:
    """ASGI middleware of a protected test API: 401 unless a valid token for `audience`."""

    def __init__(self, app: ASGIApp, entra: FakeEntra, audience: str) -> None:
        self._app = app
        self._entra = entra
        self._audience = audience
        self.seen_claims: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode()
        try:
            if not authorization.startswith("Bearer "):
                raise jwt.InvalidTokenError("no bearer token")
            claims = self._entra.verify(authorization.removeprefix("Bearer "), self._audience)
        except jwt.InvalidTokenError as exc:
            response = JSONResponse({"detail": f"invalid token: {exc}"}, status_code=401)
            await response(scope, receive, send)
            return
        self.seen_claims.append(claims)
        await self._app(scope, receive, send)
