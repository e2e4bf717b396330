"""Test helpers shared by the tests of every package: never part of a shipped service.

- `testing`: serve an ASGI app under uvicorn on 127.0.0.1, and the two protocol modes.
- `fake_entra`: Entra ID at the protocol level (HTTPS token endpoint, JWKS, OpenID metadata).
- `postgres`: a throwaway PostgreSQL server from Debian's binaries.
"""
