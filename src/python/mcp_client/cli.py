"""`mcp-client`: discover, validate and call the tools of the platform's aggregator.

    mcp-client tools [--json]                         the tools as a table (or JSON)
    mcp-client validate [--json]                      check every tool's schemas
    mcp-client call TOOL [key=value ...] [--args JSON]   call one tool, print its result
    mcp-client contract FILE                          compare with a published contract
    mcp-client pins [--mode enforce|warn|off]         every tool's definition pin, as a pins file
    mcp-client demo [--include-destructive]           call an example of every tool

Settings come from the environment (see `mcp_client.settings`); `--url` and `--protocol`
override MCP_SERVER_URL and MCP_PROTOCOL. Exit codes are listed in `mcp_client.errors`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import anyio
from pydantic import ValidationError

from mcp_client import commands
from mcp_client.arguments import parse_arguments
from mcp_client.errors import ClientError, ExitCode
from mcp_client.settings import PROTOCOL_MODES, ClientSettings

EPILOG = """\
environment: MCP_SERVER_URL (default http://127.0.0.1:8000/mcp), DISCOVERY_TIMEOUT,
CALL_TIMEOUT (seconds), MCP_PROTOCOL (auto|legacy|2026-07-28), MCP_BEARER_TOKEN, or
MCP_CREDENTIAL (workload_identity|service_principal|azure_cli) with MCP_TOKEN_SCOPE,
MCP_CA_BUNDLE.
exit codes: 0 ok, 1 tool error or problems found, 2 usage, 3 unreachable or timed out,
4 unauthorized."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-client",
        description="Discover, validate and call the tools of an MCP server (the aggregator).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="MCP endpoint (overrides MCP_SERVER_URL)")
    parser.add_argument(
        "--protocol", choices=PROTOCOL_MODES, help="protocol generation (overrides MCP_PROTOCOL)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the MCP traffic")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tools = sub.add_parser("tools", help="list every tool: name, inputs, description")
    tools.add_argument("--json", action="store_true", help="the tools as JSON, for scripts")

    validate = sub.add_parser("validate", help="check every tool's name and schemas")
    validate.add_argument("--json", action="store_true", help="the problems as JSON")

    call = sub.add_parser(
        "call",
        help="call one tool and print its structured result",
        description="Values are JSON when they parse (5, true, null, {...}), else strings.",
    )
    call.add_argument("tool", help="the tool's name")
    call.add_argument("pairs", nargs="*", metavar="key=value", help="one argument each")
    call.add_argument("--args", dest="args_json", metavar="JSON", help="arguments as an object")

    contract = sub.add_parser(
        "contract",
        help="compare the tools with a published contract file; breaking changes fail",
    )
    contract.add_argument("file", type=Path, help="the contract (tests/contract/contract.json)")

    pins = sub.add_parser(
        "pins",
        help="print every tool's definition pin, as the aggregator's pins file",
        description="Point it at the aggregator (pins mode off or warn) or at an upstream with "
        "no tool prefix; review the output, then commit it as MCP_AGGREGATOR_PINS_FILE.",
    )
    pins.add_argument(
        "--mode", choices=("enforce", "warn", "off"), default="enforce", help="the file's mode"
    )

    demo = sub.add_parser("demo", help="call an example of every tool and say what happened")
    demo.add_argument(
        "--include-destructive",
        action="store_true",
        help="also call tools marked destructive (skipped by default)",
    )
    return parser


def _settings(options: argparse.Namespace) -> ClientSettings:
    overrides: dict[str, Any] = {}
    if options.url:
        overrides["server_url"] = options.url
    if options.protocol:
        overrides["protocol"] = options.protocol
    return ClientSettings(**overrides)


async def _run(options: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    settings = _settings(options)
    if options.command == "tools":
        return await commands.run_tools(settings, as_json=options.json, out=out)
    if options.command == "validate":
        return await commands.run_validate(settings, as_json=options.json, out=out)
    if options.command == "contract":
        return await commands.run_contract(settings, options.file, out=out, err=err)
    if options.command == "pins":
        return await commands.run_pins(settings, mode=options.mode, out=out)
    if options.command == "call":
        arguments = parse_arguments(options.pairs, options.args_json)
        return await commands.run_call(settings, options.tool, arguments, out=out, err=err)
    return await commands.run_demo(
        settings, include_destructive=options.include_destructive, out=out
    )


@contextlib.contextmanager
def _logging(verbose: bool, err: TextIO) -> Iterator[None]:
    """Quiet the SDK (it logs tracebacks for failures reported here in one line) unless -v."""
    names = ("mcp", "httpx2", "mcp_client")
    loggers = [logging.getLogger(name) for name in names]
    saved = [logger.level for logger in loggers]
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    for logger in loggers:
        logger.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
        if verbose:
            logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)
            logger.removeHandler(handler)


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the CLI; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
        return int(exc.code or 0)
    with _logging(options.verbose, err):
        try:
            return int(anyio.run(partial(_run, options, out, err)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            print(f"mcp-client: invalid settings: {problems}", file=err)
            return ExitCode.USAGE
        except ClientError as exc:
            print(f"mcp-client: {exc.message}", file=err)
            return int(exc.exit_code)
        except KeyboardInterrupt:
            return 130
