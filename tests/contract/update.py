"""Publish the live tools as the contract: `./pants run tests/contract:update`.

Starts the platform in-process (three domain servers and the aggregator over temporary
databases), or uses the aggregator at MCP_SERVER_URL / `--url`, lists its tools, prints how
they differ from `tests/contract/contract.json`, and writes the file. A breaking change is
refused unless `--allow-breaking` (a deliberate break, announced to every client).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp.types import Tool
from pydantic import SecretStr

from contract.published import repository_file
from mcp_client.commands import discover
from mcp_client.compat import breaking, compare, contract_of, dump_contract, load_contract
from mcp_client.conftest import inprocess_platform
from mcp_client.errors import ClientError
from mcp_client.settings import ClientSettings


async def live_tools(url: str | None) -> list[Tool]:
    """The tools at `url`, or of a platform started here for the purpose.

    Raises:
        ClientError: the server could not be reached or refused the listing.
    """
    if url:
        return await discover(ClientSettings(server_url=url))  # token: MCP_BEARER_TOKEN etc.
    with tempfile.TemporaryDirectory(prefix="mcp-contract-") as root:
        async with inprocess_platform(Path(root)) as started:
            settings = ClientSettings(server_url=started.url, bearer_token=SecretStr(started.token))
            return await discover(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="update", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MCP_SERVER_URL"), help="aggregator")
    parser.add_argument("--output", type=Path, help="default: tests/contract/contract.json")
    parser.add_argument("--allow-breaking", action="store_true", help="publish a break")
    options = parser.parse_args(argv)
    # `./pants run` runs in the build root; found from the working directory either way.
    output: Path = options.output or repository_file(Path.cwd())
    try:
        tools = anyio.run(live_tools, options.url)
    except ClientError as exc:
        print(f"update: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    new: dict[str, Any] = contract_of(tools)
    changes = compare(load_contract(output), new) if output.exists() else []
    for change in changes:
        print(f"{'BREAKING' if change.breaking else 'compatible'}: {change}")
    if breaking(changes) and not options.allow_breaking:
        print(
            f"update: not written: {len(breaking(changes))} breaking changes (above); "
            "pass --allow-breaking to publish them deliberately",
            file=sys.stderr,
        )
        return 1
    text = dump_contract(new)
    if output.exists() and output.read_text() == text:
        print(f"{output}: up to date ({len(tools)} tools)")
        return 0
    output.write_text(text)
    print(f"{output}: written ({len(tools)} tools: {', '.join(sorted(new['tools']))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
