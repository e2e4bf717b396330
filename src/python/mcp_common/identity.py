"""Bearer tokens for calls to systems of record, from Azure AD through azure-identity.

No secret is stored by this platform: on AKS the pod's service account is federated with an
Azure AD application (Workload Identity); the webhook mounts a projected service-account token
and sets AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST,
which `WorkloadIdentityCredential` reads. For a developer working against real Azure, the
`azure_cli` credential uses `az login`, and `service_principal` reads AZURE_CLIENT_SECRET from
the developer's own environment. A local backend needs no token (`none`).

azure-identity caches tokens per scope and refreshes them ahead of expiry, so asking for a
token on every request costs a dictionary look-up, not a round trip.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Protocol

from azure.core.exceptions import ClientAuthenticationError

from mcp_common.errors import Unauthorized

logger = logging.getLogger(__name__)

CredentialKind = Literal["none", "workload_identity", "service_principal", "azure_cli"]


class TokenSource(Protocol):
    """Where a REST client gets its bearer token."""

    async def token(self) -> str | None:
        """The current token, or None when the upstream needs none.

        Raises:
            Unauthorized: when no token could be had.
        """
        ...

    async def close(self) -> None: ...


class NoToken:
    """For an upstream that needs no authentication (the embedded reference API)."""

    async def token(self) -> str | None:
        return None

    async def close(self) -> None:
        return None


class AzureToken:
    """Tokens for one scope (e.g. `api://tickets-api/.default`) from an azure-identity credential."""

    def __init__(self, credential: Any, scope: str, kind: str) -> None:
        self._credential = credential
        self._scope = scope
        self._kind = kind

    async def token(self) -> str | None:
        try:
            access = await self._credential.get_token(self._scope)
        except ClientAuthenticationError as exc:
            # azure-identity's message says which variable or response was wrong; it holds no secret.
            raise Unauthorized(
                f"could not get a token for scope {self._scope!r} with {self._kind}: {exc.message}"
            ) from exc
        return str(access.token)

    async def close(self) -> None:
        await self._credential.close()


def build_token_source(
    kind: CredentialKind,
    scope: str | None,
    *,
    connection_verify: str | None = None,
) -> TokenSource:
    """The token source for `kind`, reading Azure's standard environment variables.

    `connection_verify` is a CA bundle for the token endpoint (a TLS-intercepting proxy, or a
    test's local authority); None uses the system's trust store.

    Raises:
        ValueError: when a credential is configured without a scope.
    """
    if kind == "none":
        return NoToken()
    if not scope:
        raise ValueError(f"credential {kind!r} needs a token scope, e.g. api://<app-id>/.default")
    transport_options: dict[str, Any] = {}
    if connection_verify:
        transport_options["connection_verify"] = connection_verify
    if kind == "workload_identity":
        from azure.identity.aio import WorkloadIdentityCredential

        return AzureToken(WorkloadIdentityCredential(**transport_options), scope, kind)
    if kind == "service_principal":
        from azure.identity.aio import EnvironmentCredential

        return AzureToken(EnvironmentCredential(**transport_options), scope, kind)
    from azure.identity.aio import AzureCliCredential

    return AzureToken(AzureCliCredential(), scope, kind)
