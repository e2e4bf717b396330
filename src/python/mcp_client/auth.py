"""The bearer token sent to the MCP server: from the environment or from Azure AD.

`MCP_BEARER_TOKEN` is sent as given (a token minted elsewhere, a CI secret). Otherwise
`MCP_CREDENTIAL` picks an azure-identity credential through the platform's shared
`build_token_source`: `workload_identity` in a pod federated with an Azure AD application,
`service_principal` (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET), or `azure_cli`
(`az login`), each asking for `MCP_TOKEN_SCOPE`. `none` sends no Authorization header.
"""

from __future__ import annotations

import logging

from mcp_client.errors import Unauthorized, UsageError
from mcp_client.settings import ClientSettings
from mcp_common import errors as platform_errors
from mcp_common.identity import build_token_source

logger = logging.getLogger(__name__)


async def bearer_token(settings: ClientSettings) -> str | None:
    """The token to send, or None to send none.

    Raises:
        UsageError: a credential is chosen without MCP_TOKEN_SCOPE.
        Unauthorized: the credential could not get a token (the message says why).
    """
    if settings.bearer_token is not None:
        return settings.bearer_token.get_secret_value()
    if settings.credential == "none":
        return None
    try:
        source = build_token_source(
            settings.credential, settings.token_scope, connection_verify=settings.ca_bundle
        )
    except ValueError as exc:
        raise UsageError(
            f"MCP_CREDENTIAL={settings.credential}: {exc} (set MCP_TOKEN_SCOPE)"
        ) from exc
    try:
        token = await source.token()
    except platform_errors.Unauthorized as exc:
        raise Unauthorized(exc.message) from exc
    finally:
        await source.close()
    logger.debug("got a token from %s for %s", settings.credential, settings.token_scope)
    return token
