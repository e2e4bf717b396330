"""The official MCP conformance suite and TypeScript SDK client (npm), installed on demand.

`package.json` beside this file pins `@modelcontextprotocol/conformance`, the official
TypeScript SDK (`@modelcontextprotocol/sdk`, whose client `ts_client.mjs` drives) and the Node
they need;
`package-lock.json` pins everything under them. `ensure_suite()` installs them with
`mcp_testkit.npm` into `$XDG_CACHE_HOME/mcp-platform/npm/conformance` (default `~/.cache`),
once per lockfile (how, and how to change a version: see that module).
"""

from __future__ import annotations

import enum
import importlib.resources
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_testkit.npm import MANIFESTS, NODE, NpmError, ensure_packages, run

_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$")
_CLI = "node_modules/@modelcontextprotocol/conformance/dist/index.js"
_SDK = "node_modules/@modelcontextprotocol/sdk/package.json"
_LISTED = re.compile(r"^\s+- (?P<scenario>[a-z0-9-]+)(?: \[|$)")


class SuiteError(NpmError):
    """The suite could not be run; the message says which step and why."""


class Outcome(enum.IntEnum):
    """A scenario's result, ordered from worst to best."""

    FAIL = 0  # at least one FAILURE check
    WARN = 1  # no failure, but warnings (or nothing checked)
    PASS = 2  # successes only (INFO checks are notes, not results)


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    outcome: Outcome
    checks: tuple[dict[str, Any], ...]

    def problems(self) -> list[str]:
        """`STATUS id: message` of each failed or warning check."""
        return [
            f"{check.get('status')} {check.get('id')}: "
            f"{check.get('errorMessage') or check.get('description') or ''}"
            for check in self.checks
            if check.get("status") in ("FAILURE", "WARNING")
        ]


def outcome_of(checks: Sequence[Mapping[str, Any]]) -> Outcome:
    """A scenario's outcome from its checks, as strict as the suite's own baseline logic (a
    warning is not a pass); a scenario that checked nothing did not pass either."""
    statuses = {check.get("status") for check in checks}
    if "FAILURE" in statuses:
        return Outcome.FAIL
    if "WARNING" in statuses or "SUCCESS" not in statuses:
        return Outcome.WARN
    return Outcome.PASS


def _manifests() -> dict[str, bytes]:
    package = importlib.resources.files(__package__ or "conformance")
    return {name: package.joinpath(name).read_bytes() for name in MANIFESTS}


@dataclass(frozen=True)
class ConformanceSuite:
    """An installed suite: a Node >= 22, the suite's CLI and the TypeScript SDK."""

    node: Path
    cli: Path

    @property
    def node_modules(self) -> Path:
        return self.cli.parents[3]

    async def run_ts_client(
        self,
        url: str,
        calls: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        token: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """List the tools at `url` and make `calls` with the TypeScript SDK's client, sending
        `token` as a bearer token; what it saw (see `ts_client.mjs`).

        Raises:
            SuiteError: when the client fails or prints no result.
        """
        package = importlib.resources.files(__package__ or "conformance")
        with tempfile.TemporaryDirectory(prefix="ts-client-") as scratch:
            script = Path(scratch) / "ts_client.mjs"
            script.write_bytes(package.joinpath("ts_client.mjs").read_bytes())
            command = [str(self.node), str(script), str(self.node_modules), url]
            arguments = [json.dumps(list(calls)), *([token] if token else [])]
            done = await run([*command, *arguments], timeout=timeout)
        if done.returncode != 0:
            raise SuiteError(
                f"the TypeScript client failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
            )
        try:
            result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise SuiteError(f"the TypeScript client printed no result: {done.stdout!r}") from exc
        return result

    async def list_server_scenarios(self) -> list[str]:
        """Every server scenario this version knows (`list --server`).

        Raises:
            SuiteError: when the listing fails or is empty.
        """
        done = await run([str(self.node), str(self.cli), "list", "--server"], timeout=60)
        scenarios = [
            match.group("scenario")
            for line in done.stdout.decode().splitlines()
            if (match := _LISTED.match(line))
        ]
        if done.returncode != 0 or not scenarios:
            raise SuiteError(
                f"`list --server` failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
            )
        return scenarios

    async def run_server_scenarios(
        self, url: str, output_dir: Path, *, timeout: float = 240.0
    ) -> dict[str, ScenarioResult]:
        """Run every server scenario (`--suite all`) against `url`, one result per scenario.

        The CLI exits non-zero whenever a scenario fails, so results come from the
        `checks.json` it writes per scenario; a scenario that wrote none failed.

        Raises:
            SuiteError: when the run times out or leaves no results at all.
        """
        expected = await self.list_server_scenarios()
        output_dir.mkdir(parents=True, exist_ok=True)
        command = [str(self.node), str(self.cli), "server", "--url", url, "--suite", "all"]
        done = await run([*command, "--output-dir", str(output_dir)], timeout=timeout)
        (output_dir / "stdout.txt").write_bytes(done.stdout)
        (output_dir / "stderr.txt").write_bytes(done.stderr)
        results: dict[str, ScenarioResult] = {}
        for path in sorted(output_dir.glob("server-*/checks.json")):
            match = _RESULT_DIR.match(path.parent.name)
            if match is None:
                continue
            checks = tuple(json.loads(path.read_text()))
            results[match.group("scenario")] = ScenarioResult(
                match.group("scenario"), outcome_of(checks), checks
            )
        if not results:
            raise SuiteError(
                f"the suite wrote no results for {url} (exit {done.returncode}): "
                f"{done.stderr.decode()[-2000:]}"
            )
        for scenario in expected:
            if scenario not in results:
                missing = {"id": scenario, "status": "FAILURE", "errorMessage": "no result written"}
                results[scenario] = ScenarioResult(scenario, Outcome.FAIL, (missing,))
        return results


async def ensure_suite() -> ConformanceSuite:
    """The installed suite, installing it first when missing or when the lockfile changed.

    Raises:
        NpmError: see `mcp_testkit.npm.ensure_packages`.
    """
    target = await ensure_packages("conformance", _manifests(), [_CLI, _SDK])
    return ConformanceSuite(node=target / NODE, cli=target / _CLI)
