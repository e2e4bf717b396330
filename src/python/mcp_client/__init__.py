"""The MCP client of the platform: a library and the `mcp-client` CLI for the aggregator.

`connection.connect` opens an authenticated MCP session (either protocol generation) and
translates transport failures into `errors.ClientError`s; `schema_check` and `compat` are the
pure checks the CLI's `validate` and the contract tests share.
"""

VERSION = "0.1.0"
