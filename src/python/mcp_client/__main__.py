"""Run the CLI: `python -m mcp_client` (or the `mcp-client` PEX)."""

from __future__ import annotations

from mcp_client.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
