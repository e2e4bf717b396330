"""A stand-in for Azure AD (Entra ID) at the protocol level, for tests and the local stack.

Azure itself cannot run here, so this runs instead, over HTTPS on 127.0.0.1 with a throwaway
CA, speaking the same protocol:

- the OAuth 2.0 client-credentials flow that azure-identity's real `WorkloadIdentityCredential`
  uses (`POST {authority}/{tenant}/oauth2/v2.0/token` with the federated service-account token
  as `client_assertion`);
- the OpenID configuration (`{authority}/{tenant}/v2.0/.well-known/openid-configuration`) and
  the JWKS it names, which resource servers verify tokens against; keys can be rotated;
- the OAuth 2.0 on-behalf-of grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
  `requested_token_use=on_behalf_of`, `assertion=<the user's token>`) that azure-identity's
  `OnBehalfOfCredential` sends, authenticated by the same federated client assertion: the user
  token must verify, be delegated (`scp`) and be for an API the requesting application owns
  (`apis`), as Entra checks; the answer is a token for the requested scope whose subject is the
  user and whose `azp` is the requesting application. A test can make it refuse as Entra does,
  for missing consent (`invalid_grant`, suberror `consent_required`, AADSTS65001) or for a user
  who must sign in again (`interaction_required`, AADSTS50076);
- `issue()` mints access tokens as Entra would: v2 or v1 issuer, app-only (`roles`) or
  delegated (`scp`), signed RS256 by a key made here. Nothing in the code under test is patched.
"""

from __future__ import annotations

import contextlib
import json
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
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DELEGATED_SCOPE = "user_impersonation"
"""The scope an on-behalf-of token carries (`scp`): what a `.default` request gets consented."""


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeEntra:
    """A running fake Entra ID and what a test needs to point services at it."""

    authority: str
    ca_bundle: str
    tenant_id: str
    client_id: str
    token_file: Path
    trusted_assertion: str
    private_key: rsa.RSAPrivateKey
    token_requests: list[dict[str, str]] = field(default_factory=list)
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    # Keys published in the JWKS, by kid (the current one included).
    published: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    jwks_fetches: int = 0
    # On-behalf-of: the APIs (audiences) each application owns, by client id; a user's token
    # can be exchanged only by an application that owns its audience.
    apis: dict[str, set[str]] = field(default_factory=dict)
    # App roles each user (by oid) holds; every on-behalf-of token for them carries these.
    user_roles: dict[str, list[str]] = field(default_factory=dict)
    # (user oid, audience) pairs with no consent, and users who must sign in again (MFA).
    consent_missing: set[tuple[str, str]] = field(default_factory=set)
    interaction_required: set[str] = field(default_factory=set)
    obo_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.published[self.kid] = self.private_key

    def rotate(self, *, keep_old: bool = True) -> str:
        """Sign with a new key from now on, published in the JWKS; the new kid."""
        self.private_key = _new_key()
        self.kid = uuid.uuid4().hex[:16]
        if not keep_old:
            self.published.clear()
        self.published[self.kid] = self.private_key
        return self.kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.published.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    @property
    def issuer(self) -> str:
        return f"{self.authority}/{self.tenant_id}/v2.0"

    def token(
        self,
        audience: str,
        *,
        roles: list[str] | None = None,
        scopes: list[str] | None = None,
        oid: str | None = None,
        app_id: str | None = None,
        version: int = 2,
        lifetime: int = 3600,
        not_before: int | None = None,
        tenant_id: str | None = None,
        issuer: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        name: str | None = None,
    ) -> str:
        """An access token as Entra issues them; every claim can be bent for negative tests.

        `version=1` gives the v1 form (issuer `https://sts.windows.net/{tid}/`, `appid`).
        """
        now = int(time.time())
        tid = tenant_id or self.tenant_id
        app = app_id or self.client_id
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer or (f"https://sts.windows.net/{tid}/" if version == 1 else self.issuer),
            "tid": tid,
            "oid": oid or str(uuid.uuid5(uuid.NAMESPACE_OID, app)),
            "sub": oid or app,
            "iat": now,
            "nbf": not_before if not_before is not None else now,
            "exp": now + lifetime,
            "ver": "1.0" if version == 1 else "2.0",
            "jti": uuid.uuid4().hex,
        }
        claims["appid" if version == 1 else "azp"] = app
        if roles:
            claims["roles"] = roles
        if scopes:
            claims["scp"] = " ".join(scopes)
        if name:
            claims["name"] = name
        return jwt.encode(
            claims,
            key or self.private_key,
            algorithm="RS256",
            headers={"kid": kid or self.kid},
        )

    def environment(self) -> dict[str, str]:
        """What the AKS Workload Identity webhook would set in the pod."""
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(self.token_file),
            "AZURE_AUTHORITY_HOST": self.authority,
        }

    def issue(self, audience: str, lifetime: int = 3600, client_id: str | None = None) -> str:
        """The app-only token the token endpoint gives a workload identity (this fake's own)."""
        return self.token(audience, lifetime=lifetime, app_id=client_id)

    def verify(self, token: str, audience: str | None) -> dict[str, Any]:
        """Check a bearer token as a resource server would (`audience` None: any audience).

        Raises:
            jwt.InvalidTokenError: when the signature, audience, issuer or expiry is wrong.
        """
        key = self.published.get(jwt.get_unverified_header(token).get("kid", ""))
        if key is None:
            raise jwt.InvalidTokenError("unknown signing key")
        return dict(
            jwt.decode(
                token,
                key.public_key(),
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                options={"verify_aud": audience is not None},
            )
        )

    def known_client(self, client_id: str) -> bool:
        return client_id == self.client_id or client_id in self.apis

    def on_behalf_of(self, client_id: str, assertion: str, scope: str) -> JSONResponse:
        """The on-behalf-of grant's answer: a token for the user, or Entra's refusal."""
        try:
            user = self.verify(assertion, None)
        except jwt.InvalidTokenError as exc:
            return _refusal(
                "invalid_grant", f"AADSTS50013: Assertion failed signature validation. ({exc})"
            )
        if not user.get("scp"):
            return _refusal(
                "invalid_grant",
                "AADSTS50013: the assertion is not a delegated (user) token; an application's "
                "own token cannot be exchanged on behalf of anyone",
            )
        if user.get("aud") not in self.apis.get(client_id, set()):
            return _refusal(
                "invalid_grant",
                f"AADSTS50013: the assertion's audience {user.get('aud')!r} is not an API of "
                f"application {client_id}",
            )
        oid = str(user["oid"])
        audience = scope.split()[0].removesuffix("/.default")
        if oid in self.interaction_required:
            return _refusal(
                "interaction_required",
                "AADSTS50076: Due to a configuration change made by your administrator, or "
                "because you moved to a new location, you must use multi-factor authentication "
                f"to access '{audience}'.",
            )
        if (oid, audience) in self.consent_missing:
            return _refusal(
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented to use the "
                f"application with ID '{client_id}'. Send an interactive authorization request "
                "for this user and resource.",
                suberror="consent_required",
            )
        token = self.token(
            audience,
            scopes=[DELEGATED_SCOPE],
            roles=self.user_roles.get(oid),
            oid=oid,
            app_id=client_id,
            name=user.get("name"),
        )
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": token,
            }
        )


def _unverified_subject(assertion: str) -> str:
    """Whom an exchange was asked for (for the test's records; the grant itself verifies)."""
    try:
        return str(jwt.decode(assertion, options={"verify_signature": False}).get("oid", ""))
    except jwt.InvalidTokenError:
        return ""


def _refusal(error: str, description: str, suberror: str | None = None) -> JSONResponse:
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [int(description[6:11])],
    }
    if suberror:
        body["suberror"] = suberror
    return JSONResponse(body, status_code=400)


def _token_app(entra: FakeEntra) -> FastAPI:
    app = FastAPI()

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def openid_configuration(tenant: str) -> JSONResponse:
        if tenant != entra.tenant_id:
            return JSONResponse({"error": "invalid_tenant"}, status_code=400)
        base = f"{entra.authority}/{tenant}"
        return JSONResponse(
            {
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    @app.get("/{tenant}/discovery/v2.0/keys")
    async def keys(tenant: str) -> JSONResponse:
        entra.jwks_fetches += 1
        return JSONResponse(entra.jwks())

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(
        tenant: str,
        grant_type: str = Form(),
        client_id: str = Form(),
        scope: str = Form(),
        client_assertion: str = Form(""),
        client_assertion_type: str = Form(""),
        assertion: str = Form(""),
        requested_token_use: str = Form(""),
    ) -> JSONResponse:
        if grant_type == JWT_BEARER_GRANT:
            user = _unverified_subject(assertion)
            entra.obo_requests.append({"client_id": client_id, "scope": scope, "user": user})
        else:
            entra.token_requests.append({"tenant": tenant, "client_id": client_id, "scope": scope})
        obo = grant_type == JWT_BEARER_GRANT and requested_token_use == "on_behalf_of"  # noqa: S105
        if (
            tenant != entra.tenant_id
            or not entra.known_client(client_id)
            or (grant_type != "client_credentials" and not obo)
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
        if obo:
            return entra.on_behalf_of(client_id, assertion, scope)
        audience = scope.removesuffix("/.default")
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": entra.issue(audience, client_id=client_id),
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
        private_key=_new_key(),
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
