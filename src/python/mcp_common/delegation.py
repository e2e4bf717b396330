"""On-behalf-of: calling the next hop as the end user, not as this service.

A user's token is for one API only (its `aud`). To call the next hop as that user, a service
exchanges the token it received for one to the next hop's scope with the OAuth 2.0
on-behalf-of grant (Entra's OBO: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
`requested_token_use=on_behalf_of`, `assertion=<the user's token>`). The service
authenticates as itself with its Workload Identity assertion (the projected service-account
token, `AZURE_FEDERATED_TOKEN_FILE`) as the client assertion: no secret anywhere. The real
azure-identity `OnBehalfOfCredential` does the protocol.

Where it runs (`ON_BEHALF_OF=true`):

- the aggregator exchanges the client's token for one to each domain's scope (the cluster's
  `scope` in its registry), so a domain sees the user as its caller;
- a domain exchanges that token for one to its system of record's scope (`API_SCOPE`), so the
  system of record decides per user (`OnBehalfOfTokens`, the `RestClient`'s token source).

App-only callers (no `scp`) keep the service's own token: nothing changes on their path, and
the check is one attribute read. A refused exchange is an error naming Entra's reason
(`consent_required`, `interaction_required`, else `unauthorized`), never a quiet fall-back to
the service's own identity, which would let a user act with the service's rights.

Exchanged tokens are cached per user (tenant, object id, app) and scope until shortly before
they expire, so a user's later calls cost a dictionary look-up; the cache is bounded. A user
whose token changes (new scopes) within the hour keeps the earlier exchange until it expires:
the downstream token carries the downstream scopes Entra consented, not the upstream ones.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ClientAuthenticationError

from mcp_common.caller import end_user
from mcp_common.errors import ConsentRequired, InteractionRequired, Unauthorized
from mcp_common.identity import TokenSource

logger = logging.getLogger(__name__)

# Reuse an exchanged token until this many seconds before it expires.
_REUSE_MARGIN = 120.0
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class WorkloadIdentity:
    """Who this service is to Entra, as the Workload Identity webhook describes it."""

    tenant_id: str
    client_id: str
    token_file: Path
    authority_host: str

    @classmethod
    def from_environment(cls) -> WorkloadIdentity:
        """From AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST.

        Raises:
            ValueError: naming the variables that are missing.
        """
        names = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE")
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise ValueError(
                f"on-behalf-of needs the workload identity's {', '.join(missing)} (set by the "
                "AKS Workload Identity webhook)"
            )
        return cls(
            tenant_id=os.environ["AZURE_TENANT_ID"],
            client_id=os.environ["AZURE_CLIENT_ID"],
            token_file=Path(os.environ["AZURE_FEDERATED_TOKEN_FILE"]),
            authority_host=os.environ.get(
                "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com"
            ),
        )

    def client_assertion(self) -> str:
        # Read at each exchange: the kubelet renews the projected token in place.
        return self.token_file.read_text().strip()


class OnBehalfOf:
    """Exchanges users' tokens for tokens to other scopes, cached per user and scope."""

    def __init__(self, identity: WorkloadIdentity, *, connection_verify: str | None = None):
        self._identity = identity
        self._verify = connection_verify
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}
        self.exchanges = 0

    async def token(self, user_key: str, assertion: str, scope: str) -> str:
        """A token for `scope` on behalf of the user whose token is `assertion`.

        Raises:
            ConsentRequired: nobody consented to this access (AADSTS65001).
            InteractionRequired: the user must sign in again first (MFA, a changed policy).
            Unauthorized: any other refusal, or no assertion at all.
        """
        if not assertion:
            raise Unauthorized(
                "the end user is a person, but the call carried no delegated token to act for "
                "them; the caller must use on-behalf-of (ON_BEHALF_OF=true)"
            )
        key = (user_key, scope)
        cached = self._cache.get(key)
        now = time.time()
        if cached is not None and now < cached[1]:
            return cached[0]
        token, expires_on = await self._exchange(assertion, scope)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
        self._cache[key] = (token, expires_on - _REUSE_MARGIN)
        return token

    async def _exchange(self, assertion: str, scope: str) -> tuple[str, float]:
        from azure.identity.aio import OnBehalfOfCredential

        options: dict[str, Any] = {"authority": self._identity.authority_host, "retry_total": 1}
        if self._verify:
            options["connection_verify"] = self._verify
        credential = OnBehalfOfCredential(
            self._identity.tenant_id,
            self._identity.client_id,
            client_assertion_func=self._identity.client_assertion,
            user_assertion=assertion,
            **options,
        )
        try:
            async with credential:
                access = await credential.get_token(scope)
        except ClientAuthenticationError as exc:
            raise refusal(exc, scope) from exc
        self.exchanges += 1
        return str(access.token), float(access.expires_on)


def refusal(exc: ClientAuthenticationError, scope: str) -> Unauthorized:
    """Entra's refusal of an exchange, as the error a client can act on."""
    error, suberror = _entra_error(exc)
    message = str(exc.message or exc)
    logger.info("on-behalf-of exchange for %s refused: %s", scope, message)
    if suberror == "consent_required" or "AADSTS65001" in message:
        return ConsentRequired(
            f"the end user has not consented to access {scope!r} on their behalf; ask them "
            f"(or an admin) to grant it interactively. Entra said: {message}"
        )
    if error == "interaction_required" or suberror in ("basic_action", "additional_action"):
        return InteractionRequired(
            f"the end user must sign in again (e.g. multi-factor) before {scope!r} can be "
            f"reached on their behalf. Entra said: {message}"
        )
    return Unauthorized(f"could not act for the end user at {scope!r}: {message}")


def _entra_error(exc: ClientAuthenticationError) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except (ValueError, AttributeError):
        body = None
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("suberror") or "")


class OnBehalfOfTokens:
    """A `RestClient`'s token source: the end user's exchanged token when a person is calling,
    this service's own token (`app`) when an application is.

    The end user comes from the tool call being handled (`mcp_common.caller.end_user`).
    """

    def __init__(self, app: TokenSource, exchange: OnBehalfOf, scope: str) -> None:
        self._app = app
        self._exchange = exchange
        self._scope = scope

    async def token(self) -> str | None:
        user = end_user()
        if user is None or not user.delegated:
            return await self._app.token()
        return await self._exchange.token(user.key, user.assertion, self._scope)

    async def close(self) -> None:
        await self._app.close()
