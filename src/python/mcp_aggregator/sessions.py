"""Legacy (2025-11-25) session ids that no replica stores, bound to the principal they were issued to.

A 2025-11-25 client learns of list changes only over a GET stream, which needs a session id.
The answer to `initialize` carries `<nonce>.<binding>`, where the binding is a SHA-256 of the
nonce and the principal's key (tenant, object id, app). Any replica can check that a presented
id belongs to the caller presenting it, with nothing shared between replicas; another principal
presenting it gets 404, as if the session did not exist.

No secret is needed: the id grants nothing but a stream of this replica's list-changed
notifications, so the binding only has to stop one principal from using another's id, and a
caller can only ever mint ids bound to itself.
"""

from __future__ import annotations

import hashlib
import secrets

from mcp_common.auth import Principal

HEADER = b"mcp-session-id"


def new_session_id(principal: Principal) -> str:
    nonce = secrets.token_hex(16)
    return f"{nonce}.{_binding(nonce, principal)}"


def belongs_to(session_id: str, principal: Principal) -> bool:
    nonce, dot, binding = session_id.partition(".")
    if not dot or len(nonce) != 32 or len(binding) != 32:
        return False
    return secrets.compare_digest(binding, _binding(nonce, principal))


def _binding(nonce: str, principal: Principal) -> str:
    return hashlib.sha256(f"{nonce}\n{principal.key}".encode()).hexdigest()[:32]
