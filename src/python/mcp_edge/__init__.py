"""The edge: an Envoy in front of the aggregator replicas (TLS, Entra JWT checks, rate limits).

`envoy.render` builds the Envoy v3 bootstrap; `python -m mcp_edge VALUES.yaml` writes it.
"""
