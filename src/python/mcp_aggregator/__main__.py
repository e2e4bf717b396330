"""Run the aggregator: `python -m mcp_aggregator` (or the `mcp-aggregator` PEX)."""

from __future__ import annotations

from mcp_aggregator.app import build_app
from mcp_aggregator.settings import AggregatorSettings
from mcp_common.runner import run_service

if __name__ == "__main__":
    run_service(AggregatorSettings(), build_app)
