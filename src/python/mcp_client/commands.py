"""The CLI's commands: each opens a session, does its work, prints, and returns an exit code.

Connection failures are raised (`ClientError`) for the CLI to print; what a command finds
(tool errors, schema problems) is printed here and reflected in the exit code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp.types import Tool

from mcp_client import compat, render
from mcp_client.auth import bearer_token
from mcp_client.connection import Connection, connect
from mcp_client.errors import ClientError, ExitCode
from mcp_client.examples import example_arguments
from mcp_client.schema_check import check_tools
from mcp_client.settings import ClientSettings
from mcp_common.pins import definition_hash, render_pins


@asynccontextmanager
async def session(settings: ClientSettings) -> AsyncIterator[Connection]:
    """A connection authenticated as the settings say (token from env or Azure AD)."""
    token = await bearer_token(settings)
    async with connect(settings, token) as connection:
        yield connection


async def discover(settings: ClientSettings) -> list[Tool]:
    async with session(settings) as connection:
        return await connection.list_tools()


def _print_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), file=out)


async def run_tools(settings: ClientSettings, *, as_json: bool, out: TextIO) -> ExitCode:
    tools = await discover(settings)
    if as_json:
        _print_json([render.tool_json(tool) for tool in tools], out)
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        print(render.tools_table(tools, width), file=out)
        print(f"\n{len(tools)} tools at {settings.server_url}", file=out)
    return ExitCode.OK


async def run_validate(settings: ClientSettings, *, as_json: bool, out: TextIO) -> ExitCode:
    tools = await discover(settings)
    problems = check_tools(tools)
    if as_json:
        listed = [{"tool": p.tool, "where": p.where, "message": p.message} for p in problems]
        _print_json({"tools": len(tools), "problems": listed}, out)
    else:
        for problem in problems:
            print(f"problem: {problem}", file=out)
        verdict = f"{len(problems)} problems" if problems else "no problems"
        print(f"checked {len(tools)} tools at {settings.server_url}: {verdict}", file=out)
    return ExitCode.FAILED if problems else ExitCode.OK


async def run_contract(
    settings: ClientSettings, published: Path, *, out: TextIO, err: TextIO
) -> ExitCode:
    """Compare the live tools with a published contract file; breaking changes fail."""
    try:
        old = compat.load_contract(published)
    except (OSError, ValueError) as exc:
        print(f"mcp-client: cannot read the contract {published}: {exc}", file=err)
        return ExitCode.USAGE
    tools = await discover(settings)
    changes = compat.compare(old, compat.contract_of(tools))
    broken = compat.breaking(changes)
    for change in changes:
        print(f"{'breaking' if change.breaking else 'compatible'}: {change}", file=out)
    print(
        f"compared {len(tools)} tools at {settings.server_url} with {published}: "
        f"{len(broken)} breaking, {len(changes) - len(broken)} compatible changes",
        file=out,
    )
    return ExitCode.FAILED if broken else ExitCode.OK


async def run_pins(settings: ClientSettings, *, mode: str, out: TextIO) -> ExitCode:
    tools = await discover(settings)
    pins = {tool.name: definition_hash(tool) for tool in tools}
    print(render_pins(pins, mode), end="", file=out)
    return ExitCode.OK


async def run_call(
    settings: ClientSettings, name: str, arguments: dict[str, Any], *, out: TextIO, err: TextIO
) -> ExitCode:
    async with session(settings) as connection:
        result = await connection.call_tool(name, arguments)
    _print_json(render.result_json(result), out)
    if result.is_error:
        print(f"mcp-client: {name} failed: {render.error_summary(result)}", file=err)
        return ExitCode.FAILED
    return ExitCode.OK


async def run_demo(settings: ClientSettings, *, include_destructive: bool, out: TextIO) -> ExitCode:
    failed = skipped = 0
    async with session(settings) as connection:
        tools = await connection.list_tools()
        print(
            f"connected to {settings.server_url} (protocol {connection.protocol_version}); "
            f"{len(tools)} tools: {', '.join(tool.name for tool in tools)}",
            file=out,
        )
        for tool in tools:
            arguments, source = example_arguments(tool)
            print(f"\n{tool.name} {render.shorten(arguments)}  ({source} example)", file=out)
            destructive = tool.annotations is not None and tool.annotations.destructive_hint
            if destructive and not include_destructive:
                skipped += 1
                print("  skipped: destructive (pass --include-destructive to call it)", file=out)
                continue
            try:
                result = await connection.call_tool(tool.name, arguments)
            except ClientError as exc:
                failed += 1
                print(f"  failed: {exc.message}", file=out)
                continue
            if result.is_error:
                failed += 1
                print(f"  tool error: {render.error_summary(result)}", file=out)
            else:
                print(f"  ok: {render.shorten(render.result_json(result))}", file=out)
    ok = len(tools) - failed - skipped
    print(f"\ndemo: {len(tools)} tools, {ok} ok, {failed} failed, {skipped} skipped", file=out)
    return ExitCode.FAILED if failed else ExitCode.OK
