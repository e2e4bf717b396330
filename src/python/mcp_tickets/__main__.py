"""Run the tickets MCP server: `python -m mcp_tickets` (or the `mcp-tickets` PEX)."""

from __future__ import annotations

from mcp_common.runner import run_service
from mcp_tickets.app import build_app
from mcp_tickets.settings import TicketsSettings

if __name__ == "__main__":
    run_service(TicketsSettings(), build_app)
