"""The MCP aggregator: one endpoint and one namespace in front of every domain MCP server.

See docs/aggregator.md for the design: the Envoy-form upstream registry, naming and collision
rules, the forwarding fast path, health and readiness, and what it does not do yet.
"""

VERSION = "0.1.0"
