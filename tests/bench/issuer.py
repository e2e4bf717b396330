"""A minimal token issuer for the benchmark's authenticated aggregator: OpenID configuration and
JWKS over plain HTTP on 127.0.0.1 (a thread), and RS256 tokens signed by a key made here.

The aggregator verifies these exactly as Entra ID tokens (its authority host points here);
after the first call a token is served from the verifier's cache, which is what the
"aggregator+auth" row measures: the cost of authentication and authorization per call.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "api://mcp-bench"
ROLE = "Bench.Call"


@dataclass(frozen=True)
class Issuer:
    authority: str
    tenant_id: str
    key: rsa.RSAPrivateKey
    kid: str

    def token(self, lifetime: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "aud": AUDIENCE,
            "iss": f"{self.authority}/{self.tenant_id}/v2.0",
            "tid": self.tenant_id,
            "oid": str(uuid.uuid4()),
            "sub": "bench",
            "azp": "bench-client",
            "roles": [ROLE],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid, tenant = uuid.uuid4().hex[:16], str(uuid.uuid4())
    jwk = {
        **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())),
        "kid": kid,
        "use": "sig",
    }
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # - http.server's name
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    authority = f"http://127.0.0.1:{server.server_address[1]}"
    documents[f"/{tenant}/v2.0/.well-known/openid-configuration"] = json.dumps(
        {"issuer": f"{authority}/{tenant}/v2.0", "jwks_uri": f"{authority}/{tenant}/keys"}
    ).encode()
    documents[f"/{tenant}/keys"] = json.dumps({"keys": [jwk]}).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Issuer(authority, tenant, key, kid)
    finally:
        server.shutdown()
        server.server_close()
