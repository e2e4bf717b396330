"""The one gate every HTTP request of a service passes through, whatever its route.

Protections that sit on one route only get forgotten on the next one (a REST API mounted
beside `/mcp` had none), so they live here, outermost, in this order:

1. **Public paths** (health probes, `/metrics`, the OAuth protected-resource metadata) pass
   untouched: kubelet and Prometheus reach them by pod IP, and they reveal nothing.
2. **Host and Origin** allow-lists (DNS-rebinding protection): 421 / 403.
3. **No token in a query string** (`?access_token=`): URLs end up in logs and histories (401).
4. **Authentication**: a bearer token verified by `mcp_common.auth.TokenVerifier`, or the
   anonymous principal when authentication is off; 401 with a `WWW-Authenticate` challenge
   (naming the RFC 9728 metadata where the service has one). Domain servers also check that
   the caller is an application they accept (403).
5. **Rate**: with a `RateLimiter`, each principal (each client address when anonymous) gets
   a token bucket; beyond it, 429 with `Retry-After` (per replica: see `mcp_common.limits`).
6. **Body size**: the body is read here, up to `max_body` bytes (413 beyond), and replayed to
   the app; a `Content-Length` over the limit is refused before reading.

The verified principal is put in `scope["state"]["principal"]` (Starlette's
`request.state.principal`), where the routes and MCP handlers find it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_common.asgi import header_value, replay, send_json
from mcp_common.auth import (
    ANONYMOUS,
    AuthError,
    Forbidden,
    InvalidToken,
    MissingToken,
    Principal,
    TokenVerifier,
    bearer_token,
)
from mcp_common.limits import RateLimiter, retry_after_header
from mcp_common.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 4 * 1024 * 1024
PUBLIC_PREFIXES = ("/health/", "/.well-known/oauth-protected-resource")
PUBLIC_PATHS = frozenset({"/metrics"})
_QUERY_TOKEN_KEYS = (b"access_token=", b"&access_token=")


class Authenticator(Protocol):
    """Turns a request's Authorization header into a principal."""

    async def authenticate(self, authorization: str | None) -> Principal:
        """Raises: AuthError (MissingToken, InvalidToken, Forbidden, KeysUnavailable)."""
        ...

    async def aclose(self) -> None:
        """Release what it holds (the key fetcher's connections); at shutdown."""
        ...


class NoAuthentication:
    """Authentication off (loopback development only): everyone is `ANONYMOUS`."""

    async def authenticate(self, authorization: str | None) -> Principal:
        return ANONYMOUS

    async def aclose(self) -> None:
        return None


class EntraAuthentication:
    """Entra ID bearer tokens; with `allowed_apps`, only those calling applications."""

    def __init__(self, verifier: TokenVerifier, allowed_apps: Collection[str] | None = None):
        self.verifier = verifier
        self._allowed_apps = frozenset(allowed_apps) if allowed_apps is not None else None

    async def aclose(self) -> None:
        await self.verifier.aclose()

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise MissingToken("this endpoint needs an Entra ID bearer token")
        principal = await self.verifier.verify(token)
        if self._allowed_apps is not None and principal.app_id not in self._allowed_apps:
            raise Forbidden(
                f"application {principal.app_id!r} may not call this service directly; "
                "call it through the MCP aggregator"
            )
        return principal


@dataclass(frozen=True)
class HostPolicy:
    """Host and Origin allow-lists; `host:*` allows any port of that host."""

    allowed_hosts: Sequence[str]
    allowed_origins: Sequence[str]

    @staticmethod
    def _matches(value: str, allowed: Sequence[str]) -> bool:
        for pattern in allowed:
            if value == pattern:
                return True
            if pattern.endswith(":*") and value.startswith(pattern[:-1]):
                return True
        return False

    def host_ok(self, host: str | None) -> bool:
        return host is not None and self._matches(host, self.allowed_hosts)

    def origin_ok(self, origin: str | None) -> bool:
        # Browsers send Origin on cross-site requests; other clients send none.
        return origin is None or self._matches(origin, self.allowed_origins)


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def challenge(error: AuthError | None, resource_metadata: str | None, scope: str = "") -> str:
    """A `WWW-Authenticate` value for a refused request (RFC 6750, RFC 9728).

    An invalid token gets `error="invalid_token"`; a refusal naming the `scope` a token
    would need gets `error="insufficient_scope", scope="..."` (MCP's step-up answer).
    """
    parts: list[str] = []
    if isinstance(error, InvalidToken):
        parts.append('error="invalid_token"')
    elif isinstance(error, Forbidden):
        parts.append('error="insufficient_scope"')
        if scope:
            parts.append(f'scope="{scope}"')
    if resource_metadata:
        parts.append(f'resource_metadata="{resource_metadata}"')
    return "Bearer " + ", ".join(parts) if parts else "Bearer"


class RequestGuard:
    """ASGI middleware applying the module's protections to every route of `app`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        hosts: HostPolicy,
        resource_metadata: Callable[[Scope], str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        rate_limiter: RateLimiter | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._app = app
        self._metrics = metrics
        self._rate_limiter = rate_limiter
        self._authenticator = authenticator
        self._hosts = hosts
        self._resource_metadata = resource_metadata
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            try:
                await self._app(scope, receive, send)
            finally:
                if scope["type"] == "lifespan":
                    # The app has shut down: close the token verifier's connections too.
                    await self._authenticator.aclose()
            return
        if _is_public(scope["path"]):
            await self._app(scope, receive, send)
            return
        if not self._hosts.host_ok(header_value(scope, b"host")):
            self._count(421, "invalid_host")
            await send_json(send, 421, {"error": "invalid_host", "error_description": _HOST_HELP})
            return
        if not self._hosts.origin_ok(header_value(scope, b"origin")):
            self._count(403, "invalid_origin")
            await send_json(
                send, 403, {"error": "invalid_origin", "error_description": _ORIGIN_HELP}
            )
            return
        query: bytes = scope.get("query_string", b"")
        if query.startswith(_QUERY_TOKEN_KEYS[0]) or _QUERY_TOKEN_KEYS[1] in query:
            await self._refuse(
                scope,
                send,
                InvalidToken(
                    "a token in the query string is refused; send it in the Authorization header"
                ),
            )
            return
        try:
            principal = await self._authenticator.authenticate(
                header_value(scope, b"authorization")
            )
        except AuthError as exc:
            await self._refuse(scope, send, exc)
            return
        scope.setdefault("state", {})["principal"] = principal
        if self._rate_limiter is not None:
            client = scope.get("client") or ("unknown", 0)
            key = principal.key if principal.authenticated else f"address:{client[0]}"
            wait = self._rate_limiter.retry_after(key)
            if wait is not None:
                self._count(429, "rate_limited")
                limit = f"{self._rate_limiter.rate:g} requests per second (bursts of {self._rate_limiter.burst})"
                await send_json(
                    send,
                    429,
                    {
                        "error": "rate_limited",
                        "error_description": f"too many requests: at most {limit} per caller; retry after {wait:.1f}s",
                    },
                    [(b"retry-after", retry_after_header(wait))],
                )
                return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self._app(scope, receive, send)
            return
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        await self._app(scope, replay(body, receive), send)

    async def _refuse(self, scope: Scope, send: Send, error: AuthError) -> None:
        metadata = self._resource_metadata(scope) if self._resource_metadata else None
        header = challenge(error, metadata)
        kind = {401: "invalid_token", 403: "forbidden", 503: "temporarily_unavailable"}
        code = "unauthorized" if isinstance(error, MissingToken) else kind.get(error.status)
        self._count(error.status, code or "error")
        logger.info("request refused (%d): %s", error.status, error)
        await send_json(
            send,
            error.status,
            {"error": code, "error_description": str(error)},
            [(b"www-authenticate", header.encode())] if error.status in (401, 403) else [],
        )

    def _count(self, status: int, error: str) -> None:
        if self._metrics is not None:
            self._metrics.observe_refusal(status, error)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 (or when the client went away)."""
        declared = header_value(scope, b"content-length")
        too_large = {
            "error": "request_too_large",
            "error_description": f"the request body is over the limit of {self._max_body} bytes",
        }
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            self._count(413, "request_too_large")
            await send_json(send, 413, too_large)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # A client gone mid-request (ClientDisconnect, had a handler read the body) is
                # ordinary traffic, not an error: nothing runs and nothing more is said.
                logger.debug(
                    "client disconnected before sending all of %s %s; nothing was run",
                    scope["method"],
                    scope["path"],
                )
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                self._count(413, "request_too_large")
                await send_json(send, 413, too_large)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def principal_of(scope: Scope) -> Principal:
    """The principal the guard verified for this request (ANONYMOUS outside a guard)."""
    state = scope.get("state") or {}
    principal = state.get("principal")
    return principal if isinstance(principal, Principal) else ANONYMOUS


_HOST_HELP = (
    "the Host header is not one this service answers to (DNS-rebinding protection); "
    "add it to the service's ALLOWED_HOSTS setting"
)
_ORIGIN_HELP = (
    "the Origin header is not an allowed origin (DNS-rebinding protection); "
    "add it to the service's ALLOWED_ORIGINS setting"
)
