"""The edge: an Envoy in front of the aggregator replicas (TLS, Entra JWT checks, rate limits).

`values.EdgeValues` reads the values, `envoy.render` builds the Envoy v3 bootstrap from them;
`python -m mcp_edge VALUES.yaml OUT.yaml` writes it.
"""
