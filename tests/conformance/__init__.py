"""The MCP conformance suite, run against the aggregator and against a fixture server directly."""
