"""What a refusing server said (HTTP 401/403), and telling the user how to get in.

The SDK turns an HTTP error into a bare JSON-RPC error; an observer on the HTTP client keeps
what the server actually said: the status, the `WWW-Authenticate` challenge (RFC 6750) and, on
401, the protected-resource metadata it points to (RFC 9728), which names the authorization
server and the scopes to ask for. The messages then say exactly which token to get.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

import httpx2

from mcp_client.errors import Unauthorized

logger = logging.getLogger(__name__)

_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')
AUTH_HINT = (
    "set MCP_BEARER_TOKEN=<token>, or MCP_CREDENTIAL=workload_identity|service_principal|"
    "azure_cli with MCP_TOKEN_SCOPE=api://<app-id>/.default"
)


@dataclass
class Refusal:
    status: int
    challenge: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    authorization_servers: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)


class HttpObserver:
    """Remembers the last HTTP error the server answered with (the SDK hides it)."""

    def __init__(self, verify: object = True, timeout: float = 10.0) -> None:
        self.refusal: Refusal | None = None
        self._verify = verify
        self._timeout = timeout

    async def on_response(self, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        refusal = Refusal(
            response.status_code,
            dict(_PARAM.findall(response.headers.get("www-authenticate", ""))),
        )
        if response.status_code in (401, 403):
            await response.aread()
            refusal.detail = _server_words(response, refusal.challenge)
            metadata = refusal.challenge.get("resource_metadata")
            if metadata:
                await self._read_metadata(refusal, metadata)
        self.refusal = refusal

    async def _read_metadata(self, refusal: Refusal, url: str) -> None:
        try:
            async with httpx2.AsyncClient(verify=self._verify, timeout=self._timeout) as http:  # type: ignore[arg-type]
                document = (await http.get(url)).raise_for_status().json()
        except (httpx2.HTTPError, ValueError) as exc:
            logger.debug("could not read the resource metadata at %s: %s", url, exc)
            return
        if isinstance(document, dict):
            refusal.authorization_servers = [
                s for s in document.get("authorization_servers") or [] if isinstance(s, str)
            ]
            refusal.scopes = [
                s for s in document.get("scopes_supported") or [] if isinstance(s, str)
            ]


def _server_words(response: httpx2.Response, challenge: dict[str, str]) -> str:
    """The server's own reason: the challenge's error_description, else the JSON body's."""
    if challenge.get("error_description"):
        return challenge["error_description"]
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])  # a JSON-RPC error
    return str(body.get("error_description") or "")


def _token_hint(refusal: Refusal) -> str:
    if not refusal.authorization_servers:
        return AUTH_HINT
    scopes = refusal.scopes or ["api://<app-id>/.default"]
    return (
        f"get a token from {refusal.authorization_servers[0]} for scope {' or '.join(scopes)}, "
        "then set MCP_BEARER_TOKEN=<token>, or MCP_CREDENTIAL=workload_identity|"
        f"service_principal|azure_cli with MCP_TOKEN_SCOPE={scopes[0]}"
    )


def unauthorized(url: str, refusal: Refusal, *, sent_token: bool) -> Unauthorized:
    """The message for a 401 or 403: what the server said, and what token would do."""
    detail = f": {refusal.detail}" if refusal.detail else ""
    if refusal.status == 403:
        needed = refusal.challenge.get("scope", "")
        if needed:
            full = [s for s in refusal.scopes if s.rsplit("/", 1)[-1] in needed.split()]
            wants = " or ".join(full or needed.split())
            advice = f"get a token with scope {wants} (or an app role the server names)"
        else:
            advice = "the token lacks a scope or role the server requires"
        return Unauthorized(
            f"the MCP server at {url} refused the request (HTTP 403{detail}); {advice}"
        )
    if sent_token:
        return Unauthorized(
            f"the MCP server at {url} refused the bearer token (HTTP 401{detail}); "
            f"get a valid token: {_token_hint(refusal)}"
        )
    return Unauthorized(
        f"the MCP server at {url} wants a bearer token (HTTP 401); {_token_hint(refusal)}"
    )
