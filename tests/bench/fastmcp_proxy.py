"""fastmcp's proxy in front of one upstream, as its own process (the benchmark's peer).

    python -m bench.fastmcp_proxy --upstream http://127.0.0.1:PORT/mcp --port PORT

fastmcp's defaults are kept, as a user of `create_proxy(url)` gets them: a fresh upstream
client per request, speaking the protocol generation the caller speaks.
"""

from __future__ import annotations

import argparse
import sys

from fastmcp.server import create_proxy


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fastmcp_proxy")
    parser.add_argument("--upstream", required=True, help="the upstream's MCP URL")
    parser.add_argument("--port", type=int, required=True, help="port to serve on (127.0.0.1)")
    args = parser.parse_args(argv)
    proxy = create_proxy(args.upstream, name="fastmcp-proxy")
    proxy.run(
        transport="http",
        host="127.0.0.1",
        port=args.port,
        show_banner=False,
        log_level="WARNING",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
