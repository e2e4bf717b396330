"""Run the data MCP server: `python -m mcp_data` (or the `mcp-data` PEX)."""

from __future__ import annotations

from mcp_common.runner import run_service
from mcp_data.app import build_app
from mcp_data.settings import DataSettings

if __name__ == "__main__":
    run_service(DataSettings(), build_app)
