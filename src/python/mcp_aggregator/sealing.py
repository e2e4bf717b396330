"""Sealed tokens: small JSON values that only the aggregator's replicas can read or make.

Session-based upstreams hand out session ids the aggregator must remember per client, and
their server-to-client requests carry ids the aggregator must route back. Nothing is stored:
the value travels with the client (in its `Mcp-Session-Id`, in a request id) sealed with
AES-256-GCM under a key every replica has, with the principal's key as associated data. So:

- a replica that never saw the session opens it and routes the request (no shared store);
- a client cannot read the upstream's session id nor forge or alter one (authenticated);
- a token issued to one principal does not open for another (the associated data differs).

Token: `<key id, 4 bytes><nonce, 12 bytes><ciphertext+tag>`, base64url without padding. The
key id is the start of the key's SHA-256, so a keyring can be rotated: seal with the first key,
open with any. Keys come from a file (one base64url 32-byte key per line, `#` comments), which
in Kubernetes is a Secret mounted into every replica.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mcp_aggregator.errors import ConfigError

logger = logging.getLogger(__name__)

KEY_BYTES = 32
MAX_TOKEN_CHARS = 4096
"""Longer presented tokens are refused before any decoding (they never come from us)."""
_NONCE = 12
_KEY_ID = 4


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key() -> str:
    """A fresh key, as a line of a keys file."""
    return _b64encode(secrets.token_bytes(KEY_BYTES))


class Sealer:
    """Seals and opens tokens with a keyring (the first key seals, every key opens)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self._ring = {hashlib.sha256(key).digest()[:_KEY_ID]: AESGCM(key) for key in keys}
        self._sealing_id = hashlib.sha256(keys[0]).digest()[:_KEY_ID]

    @classmethod
    def ephemeral(cls) -> Sealer:
        """A random key of this process: what it seals only this process can open."""
        return cls([os.urandom(KEY_BYTES)])

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """The keyring in `path`.

        Raises:
            ConfigError: the file cannot be read, holds no key, or a line is not a
                base64url-encoded 32-byte key (the message names the line, never the key).
        """
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read session keys file {path}: {exc.strerror}") from exc
        keys = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                key = _b64decode(line)
            except (binascii.Error, ValueError) as exc:
                raise ConfigError(f"{path}:{number}: not base64url text") from exc
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"{path}:{number}: a key must be {KEY_BYTES} bytes (base64url, 43 "
                    f"characters); this one is {len(key)} bytes"
                )
            keys.append(key)
        if not keys:
            raise ConfigError(f"{path}: no key in the session keys file")
        return cls(keys)

    def seal(self, value: Any, context: str) -> str:
        """`value` (JSON-serializable) sealed for `context` (e.g. the principal's key)."""
        nonce = os.urandom(_NONCE)
        plain = json.dumps(value, separators=(",", ":")).encode()
        sealed = self._ring[self._sealing_id].encrypt(nonce, plain, context.encode())
        return _b64encode(self._sealing_id + nonce + sealed)

    def open(self, token: str, context: str) -> Any | None:
        """The value sealed in `token` for `context`; None for anything else (another
        context, another keyring, altered, truncated or not a token at all)."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            raw = _b64decode(token)
        except (binascii.Error, ValueError):
            return None
        key = self._ring.get(raw[:_KEY_ID])
        if key is None or len(raw) < _KEY_ID + _NONCE + 16:
            return None
        try:
            plain = key.decrypt(
                raw[_KEY_ID : _KEY_ID + _NONCE], raw[_KEY_ID + _NONCE :], context.encode()
            )
        except InvalidTag:
            return None
        try:
            return json.loads(plain)
        except ValueError:  # pragma: no cover - we only ever seal JSON
            return None


def load_sealer(path: str | None, *, loopback: bool) -> Sealer:
    """The keyring from `path`, or an ephemeral one (with a warning beyond loopback).

    Raises:
        ConfigError: see `Sealer.from_file`.
    """
    if path:
        return Sealer.from_file(Path(path))
    log = logger.info if loopback else logger.warning
    log(
        "no session keys file (MCP_AGGREGATOR_SESSION_KEYS_FILE): sessions with session-based "
        "upstreams are sealed with a key of this process only; with more than one replica, "
        "give every replica the same keys file"
    )
    return Sealer.ephemeral()
