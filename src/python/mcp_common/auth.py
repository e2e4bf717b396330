"""Entra ID access tokens, verified the way a resource server must: one verifier for every service.

The aggregator checks the tokens of MCP clients with it; each domain server checks the
aggregator's tokens with it. What is checked, and why:

- **Signature**: RS256 only, against the tenant's keys. The keys come from the JWKS named by
  `{authority}/{tenant}/v2.0/.well-known/openid-configuration` (Entra signs v1 and v2 tokens
  with the same keys). `alg: none`, HS256 (a classic key-confusion attack, signing with the
  public key as an HMAC secret) and every other algorithm are refused before any key is used.
- **Keys rotate**: a token whose `kid` is unknown makes the verifier fetch the JWKS again,
  at most once per `refetch_cooldown` (so junk `kid`s cannot make it hammer Entra), with one
  fetch in flight however many requests wait for it. Fetches are async HTTP, never blocking
  the event loop.
- **Issuer** in either form the tenant issues: v1 `https://sts.windows.net/{tid}/` and v2
  `{authority}/{tid}/v2.0` (the API's `accessTokenAcceptedVersion` decides which it gets).
- **Audience**: one of the configured values (the API's client id GUID for v2 tokens, its App
  ID URI for v1 tokens). Entra never puts the MCP URL there.
- **Lifetime**: `exp` and `nbf` with a small leeway for clock skew; `exp` is required.
- **Tenant**: `tid` must be the configured tenant (a multi-tenant app's token from another
  tenant carries a valid signature).

A verified token is cached (by its SHA-256) until it expires, so the second and later requests
with the same token cost a dictionary look-up, not an RSA verification.

Callers are identified by `oid` and `tid`, the calling application by `azp` (v2) or `appid`
(v1); never by `upn` or e-mail, which a user or an admin can change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
PRINCIPAL_META_KEY = "io.mcp-platform/principal"
"""The `_meta` key under which the aggregator passes the end user's verified identity on."""


class AuthError(Exception):
    """A request could not be authenticated or authorized; the message is safe to show."""

    status: int = 401


class MissingToken(AuthError):
    """No bearer token was presented (401 without `error=`)."""


class InvalidToken(AuthError):
    """A token was presented and refused (401 with `error="invalid_token"`)."""


class Forbidden(AuthError):
    """The token is valid, but its holder may not do this (403)."""

    status = 403


class KeysUnavailable(AuthError):
    """The tenant's signing keys could not be fetched (the request cannot be judged: 503)."""

    status = 503


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified token (or `ANONYMOUS` when authentication is off)."""

    subject: str
    tenant_id: str = ""
    object_id: str = ""
    app_id: str = ""
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    expires_at: float = float("inf")
    authenticated: bool = True
    name: str = ""
    """The `name` claim (display name), for records a person reads; never an identifier."""
    assertion: str = field(default="", repr=False, compare=False)
    """A delegated caller's own token, kept only to exchange it on-behalf-of the user
    (`mcp_common.delegation`); empty for app-only callers. Never logged, never forwarded."""

    @property
    def key(self) -> str:
        """A stable identifier of this principal: tenant, object (or subject) and app."""
        return f"{self.tenant_id}/{self.object_id or self.subject}/{self.app_id}"

    @property
    def app_only(self) -> bool:
        """An application calling as itself (workload identity): no delegated scopes."""
        return not self.scopes

    def to_meta(self) -> dict[str, Any]:
        """The identity a domain server receives in `_meta` (no token, nothing secret)."""
        return {
            "oid": self.object_id,
            "tid": self.tenant_id,
            "sub": self.subject,
            "app_id": self.app_id,
            "roles": sorted(self.roles),
            "scopes": sorted(self.scopes),
        }

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str = "") -> Principal:
        """The principal of verified `claims`; a delegated one keeps `token` as its assertion."""
        roles = claims.get("roles") or []
        scopes = str(claims.get("scp") or "").split()
        return cls(
            subject=str(claims.get("sub", "")),
            tenant_id=str(claims.get("tid", "")),
            object_id=str(claims.get("oid", "")),
            app_id=str(claims.get("azp") or claims.get("appid") or ""),
            roles=frozenset(str(role) for role in roles if isinstance(role, str)),
            scopes=frozenset(scopes),
            expires_at=float(claims["exp"]),
            name=str(claims.get("name") or ""),
            assertion=token if scopes else "",
        )


ANONYMOUS = Principal(subject="anonymous", authenticated=False)


@dataclass(frozen=True)
class EntraConfig:
    """Where a tenant's keys are and what its tokens for this API look like."""

    tenant_id: str
    audiences: tuple[str, ...]
    authority_host: str = "https://login.microsoftonline.com"
    ca_bundle: str | None = None
    leeway_seconds: float = 60.0
    refetch_cooldown: float = 30.0
    cache_size: int = 10_000

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def issuers(self) -> frozenset[str]:
        return frozenset({f"{self.authority}/v2.0", f"https://sts.windows.net/{self.tenant_id}/"})

    @property
    def metadata_url(self) -> str:
        return f"{self.authority}/v2.0/.well-known/openid-configuration"


@dataclass
class _Keys:
    by_kid: dict[str, Any] = field(default_factory=dict)
    fetched_at: float = float("-inf")


class TokenVerifier:
    """Verifies Entra ID access tokens for one API (see the module docstring).

    Create once per process, `await verify(token)` per request, `await aclose()` at shutdown.
    """

    def __init__(self, config: EntraConfig) -> None:
        if not config.audiences:
            raise ValueError("at least one audience is needed (the API's client id or App ID URI)")
        self.config = config
        self._keys = _Keys()
        self._last_refetch = float("-inf")
        self._lock = asyncio.Lock()
        self._verified: dict[bytes, Principal] = {}
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None  # a later verification (a restarted app) opens a new one

    async def verify(self, token: str) -> Principal:
        """The principal `token` proves, or an error saying why it proves nothing.

        Raises:
            InvalidToken: malformed, badly signed, expired, not yet valid, or for another
                audience, issuer or tenant.
            KeysUnavailable: the tenant's keys could not be fetched.
        """
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        cached = self._verified.get(digest)
        if cached is not None:
            if cached.expires_at + self.config.leeway_seconds > now:
                return cached
            del self._verified[digest]
        principal = await self._verify(token)
        if len(self._verified) >= self.config.cache_size:
            self._evict(now)
        self._verified[digest] = principal
        return principal

    def _evict(self, now: float) -> None:
        expired = [k for k, p in self._verified.items() if p.expires_at <= now]
        for k in expired:
            del self._verified[k]
        # Still full: drop the oldest half (dicts keep insertion order).
        if len(self._verified) >= self.config.cache_size:
            for k in list(self._verified)[: len(self._verified) // 2]:
                del self._verified[k]

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("the bearer token is not a JWT") from exc
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise InvalidToken(f"token algorithm {algorithm!r} is not allowed; only {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        key = await self._key(kid)
        config = self.config
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=list(config.audiences),
                leeway=config.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "tid"], "verify_iss": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet (nbf)") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken(
                f"the token is for another audience; this API accepts {list(config.audiences)}"
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token has no {exc.claim!r} claim") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the token is invalid: {type(exc).__name__}") from exc
        if claims.get("tid") != config.tenant_id:
            raise InvalidToken("the token was issued for another tenant")
        if claims.get("iss") not in config.issuers:
            raise InvalidToken(
                f"the token's issuer is not this tenant's; accepted: {sorted(config.issuers)}"
            )
        return Principal.from_claims(claims, token)

    async def _key(self, kid: str) -> Any:
        key = self._keys.by_kid.get(kid)
        if key is not None:
            return key
        async with self._lock:
            # Another request may have fetched while this one waited.
            key = self._keys.by_kid.get(kid)
            now = time.monotonic()
            never_fetched = self._keys.fetched_at == float("-inf")
            if key is None and (
                never_fetched or now - self._last_refetch >= self.config.refetch_cooldown
            ):
                if not never_fetched:
                    self._last_refetch = now
                self._keys = await self._fetch_keys()
                key = self._keys.by_kid.get(kid)
        if key is None:
            raise InvalidToken("the token's signing key is not one of the tenant's keys")
        return key

    async def _fetch_keys(self) -> _Keys:
        if self._http is None:
            verify: ssl.SSLContext | bool = True
            if self.config.ca_bundle:
                verify = ssl.create_default_context(cafile=self.config.ca_bundle)
            self._http = httpx.AsyncClient(verify=verify, timeout=10.0, follow_redirects=False)
        try:
            metadata = (await self._http.get(self.config.metadata_url)).raise_for_status().json()
            jwks_uri = metadata["jwks_uri"]
            jwks = (await self._http.get(jwks_uri)).raise_for_status().json()
            keys = {
                str(jwk["kid"]): jwt.PyJWK(dict(jwk), algorithm=ALGORITHM).key
                for jwk in _signing_keys(jwks.get("keys", []))
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWKError) as exc:
            logger.error("could not fetch the signing keys of %s: %s", self.config.authority, exc)
            raise KeysUnavailable(
                "the identity provider's signing keys are unavailable; try again shortly"
            ) from exc
        logger.info("fetched %d signing keys of tenant %s", len(keys), self.config.tenant_id)
        return _Keys(by_kid=keys, fetched_at=time.monotonic())


def _signing_keys(keys: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for jwk in keys:
        if (
            isinstance(jwk, Mapping)
            and jwk.get("kty") == "RSA"
            and jwk.get("use", "sig") == "sig"
            and jwk.get("kid")
        ):
            yield jwk


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when there is none.

    Raises:
        InvalidToken: an Authorization header of another scheme, or an empty token.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("the Authorization header must be 'Bearer <token>'")
    token = token.strip()
    if not token:
        raise InvalidToken("the bearer token is empty")
    return token
