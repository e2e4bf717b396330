"""The tickets domain MCP server: `create_ticket` and `list_tickets` over a ticket tracker."""

VERSION = "0.1.0"
