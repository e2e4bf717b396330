"""An async REST client for a system of record: pooled, traced, authenticated, retried with care.

- One `httpx.AsyncClient` per upstream, kept for the life of the process (pooled keep-alive
  connections), with a connect and a total timeout.
- Each request carries a bearer token from a `TokenSource` and the W3C trace context, so a
  trace continues from the MCP call into the system of record.
- Retries, bounded, with exponential backoff and jitter: any request whose connection could not
  be opened (nothing was sent), and requests that are safe to repeat (`idempotent=True`: reads,
  and creates that carry an idempotency key) after a timeout, a dropped connection, or a 502,
  503 or 504. A plain create is never sent twice.
- Upstream failures become `mcp_common.errors` with a message naming the upstream. A message
  never carries the API's base URL or a body the API answered with, except the `detail` of a
  4xx JSON answer (the system of record's explanation of what the caller asked wrong, e.g.
  "no user with id 'u-9999'"): what callers see may reach an assistant or a person outside.
  The URL and the body go to the log instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry import propagate

from mcp_common.errors import (
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    ToolFailure,
    Unauthorized,
    UpstreamError,
    UpstreamUnavailable,
)
from mcp_common.identity import NoToken, TokenSource

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({502, 503, 504})


def _detail(response: httpx.Response) -> str | None:
    """The upstream's own explanation: FastAPI's `detail` (a string or validation list), or
    None when the body is not JSON with a `detail` (a proxy's error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "detail" not in body:
        return None
    detail = body["detail"]
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p not in ("body", "query"))
                parts.append(
                    f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", ""))
                )
        return "; ".join(parts) or str(detail)
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    return str(detail)


def path_segment(value: str) -> str:
    """`value` as one URL path segment: percent-encoded, and never a dot segment.

    "." and ".." would be resolved away by URL normalization (`/users/.` is `/users`), so a
    call meant for one resource would reach another.

    Raises:
        InvalidArgument: for "." and "..".
    """
    if value in (".", ".."):
        raise InvalidArgument(f"{value!r} cannot name a resource")
    return quote(value, safe="")


class RestClient:
    """Calls one upstream REST API. Create once, share, and `aclose()` at shutdown."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        tokens: TokenSource | None = None,
        timeout_seconds: float = 10.0,
        retries: int = 2,
        backoff_seconds: float = 0.1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._tokens = tokens or NoToken()
        self._retries = retries
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._tokens.close()

    async def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET `path` and return the decoded JSON body. Reads are always safe to retry."""
        return await self.request("GET", path, params=params, idempotent=True)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool,
    ) -> Any:
        """Send one request, retrying as the module docstring says; return the JSON body.

        Raises:
            ToolFailure: a subclass naming what went wrong upstream.
        """
        attempt = 0
        while True:
            try:
                response = await self._send(method, path, params, json, headers)
            except httpx.ConnectError as exc:
                failure: ToolFailure = UpstreamUnavailable(
                    f"{self.name} API unreachable ({type(exc).__name__})"
                )
                cause = f"{type(exc).__name__}: {exc}"
                retryable = True  # nothing was sent
            except httpx.TimeoutException as exc:
                failure = UpstreamUnavailable(
                    f"{self.name} API did not answer within {self._timeout:g}s ({type(exc).__name__})"
                )
                cause = type(exc).__name__
                retryable = idempotent
            except httpx.TransportError as exc:
                failure = UpstreamUnavailable(
                    f"{self.name} API connection failed: {type(exc).__name__}"
                )
                cause = f"{type(exc).__name__}: {exc}"
                retryable = idempotent
            else:
                if response.is_success:
                    return response.json() if response.content else None
                failure = self._failure_for(response)
                cause = f"HTTP {response.status_code}: {response.text[:500]!r}"
                retryable = idempotent and response.status_code in _RETRYABLE_STATUS
            if not retryable or attempt >= self._retries:
                # What the caller is not told (where the API is, what it answered) is logged.
                logger.warning(
                    "%s %s%s failed: %s",
                    method,
                    str(self._http.base_url).rstrip("/"),
                    path,
                    cause,
                    extra={"upstream": self.name},
                )
                raise failure
            delay = self._backoff * (2**attempt) * (0.5 + random.random())
            logger.info(
                "retrying %s %s after %s (attempt %d)",
                method,
                path,
                failure.code,
                attempt + 1,
                extra={"upstream": self.name},
            )
            await asyncio.sleep(delay)
            attempt += 1

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        outgoing = dict(headers or {})
        propagate.inject(outgoing)  # W3C traceparent of the current span
        token = await self._tokens.token()
        if token:
            outgoing["Authorization"] = f"Bearer {token}"
        return await self._http.request(method, path, params=params, json=json, headers=outgoing)

    def _failure_for(self, response: httpx.Response) -> ToolFailure:
        status = response.status_code
        detail = _detail(response) if 400 <= status < 500 else None
        if status == 403 and detail is not None:
            # The system of record refusing the end user (on-behalf-of) says why: pass it on.
            return Forbidden(detail)
        if detail is None:
            detail = f"{self.name} API refused the request (HTTP {status})"
        if status in (400, 422):
            return InvalidArgument(detail)
        if status == 404:
            return NotFound(detail)
        if status == 409:
            return Conflict(detail)
        if status in (401, 403):
            return Unauthorized(
                f"{self.name} API refused this service's credentials (HTTP {status})"
            )
        return UpstreamError(f"{self.name} API answered HTTP {status}")
