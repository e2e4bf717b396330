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
import time
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


# A token is reused until this many seconds before it expires; azure-identity refreshes
# well before that, so the next `get_token` returns a fresh one.
_REUSE_MARGIN = 300.0


class AzureToken:
    """Tokens for one scope (e.g. `api://tickets-api/.default`) from an azure-identity credential.

    The current token is kept here too, so the hot path of a call costs a clock read, not
    azure-identity's locking and cache look-up. `owns_credential=False` shares a credential
    between scopes (the aggregator's one identity, one token per upstream audience).
    """

    def __init__(
        self, credential: Any, scope: str, kind: str, *, owns_credential: bool = True
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._kind = kind
        self._owns = owns_credential
        self._current: str | None = None
        self._reuse_until = 0.0

    async def token(self) -> str | None:
        if self._current is not None and time.time() < self._reuse_until:
            return self._current
        try:
            access = await self._credential.get_token(self._scope)
        except ClientAuthenticationError as exc:
            # azure-identity's message says which variable or response was wrong; it holds no secret.
            raise Unauthorized(
                f"could not get a token for scope {self._scope!r} with {self._kind}: {exc.message}"
            ) from exc
        self._current = str(access.token)
        self._reuse_until = float(access.expires_on) - _REUSE_MARGIN
        return self._current

    async def close(self) -> None:
        if self._owns:
            await self._credential.close()


class ServiceIdentity:
    """One azure-identity credential for a service, and a token source per scope from it."""

    def __init__(self, kind: CredentialKind, *, connection_verify: str | None = None) -> None:
        self.kind = kind
        self._credential = _credential(kind, connection_verify) if kind != "none" else None

    def tokens(self, scope: str | None) -> TokenSource:
        """The source of tokens for `scope`; no token when the identity or the scope is none."""
        if self._credential is None or not scope:
            return NoToken()
        return AzureToken(self._credential, scope, self.kind, owns_credential=False)

    async def close(self) -> None:
        if self._credential is not None:
            await self._credential.close()


def _credential(kind: CredentialKind, connection_verify: str | None) -> Any:
    transport_options: dict[str, Any] = {}
    if connection_verify:
        transport_options["connection_verify"] = connection_verify
    if kind == "workload_identity":
        from azure.identity.aio import WorkloadIdentityCredential

        return WorkloadIdentityCredential(**transport_options)
    if kind == "service_principal":
        from azure.identity.aio import EnvironmentCredential

        return EnvironmentCredential(**transport_options)
    from azure.identity.aio import AzureCliCredential

    return AzureCliCredential()


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
    return AzureToken(_credential(kind, connection_verify), scope, kind)
