"""The data domain MCP server: `query_data` over analytics datasets declared in a YAML catalog."""

VERSION = "0.1.0"
