"""OAuth 2.0 Protected Resource Metadata (RFC 9728): how a client learns where to get a token.

An MCP client that gets a 401 follows the challenge's `resource_metadata` URL here and learns
the authorization server (the tenant's Entra v2 authority) and the scopes to ask for. Entra
refuses the RFC 8707 `resource` parameter on its v2 endpoints, so clients must ask for scopes
under the API's App ID URI (`api://<app>/mcp.access`, or `api://<app>/.default`); the document
names them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.types import Scope

from mcp_aggregator.policy import PolicyHolder
from mcp_aggregator.settings import AggregatorSettings

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_url(resource: str) -> str:
    """Where the metadata of `resource` is: the well-known path inserted before its path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{parts.path.rstrip('/')}"


class ResourceUrls:
    """The public MCP URL (the RFC 9728 `resource`) and where its metadata is.

    Configured (`resource_url`, as in production behind an ingress), or else taken from the
    request (its scheme and Host, which the guard has already checked against allowed_hosts).
    """

    def __init__(self, configured: str | None) -> None:
        self._configured = configured

    def resource(self, scope: Scope) -> str:
        if self._configured:
            return self._configured
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        return f"{scope.get('scheme', 'http')}://{host}/mcp"

    def metadata(self, scope: Scope) -> str:
        return metadata_url(self.resource(scope))


def scopes_supported(settings: AggregatorSettings, policy: PolicyHolder) -> list[str]:
    if settings.scopes_supported is not None:
        return list(settings.scopes_supported)
    app_uri = next((a for a in settings.audiences if a.startswith("api://")), None)
    if app_uri is None and settings.audiences:
        app_uri = f"api://{settings.audiences[0]}"
    if app_uri is None:
        return []
    names = policy.current.scopes()
    return [f"{app_uri}/{name}" for name in names] or [f"{app_uri}/.default"]


def resource_metadata_router(
    settings: AggregatorSettings, policy: PolicyHolder, urls: ResourceUrls
) -> APIRouter:
    router = APIRouter()
    path = urlsplit(settings.resource_url or "/mcp").path.rstrip("/")

    async def document(request: Request) -> dict[str, Any]:
        return {
            "resource": urls.resource(request.scope),
            "authorization_servers": [
                f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}/v2.0"
            ],
            "scopes_supported": scopes_supported(settings, policy),
            "bearer_methods_supported": ["header"],
            "resource_name": "MCP platform",
        }

    paths = {WELL_KNOWN + path, WELL_KNOWN}
    for route_path in sorted(paths):
        router.add_api_route(route_path, document, methods=["GET"], include_in_schema=False)
    return router
