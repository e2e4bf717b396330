"""The official MCP reference server `@modelcontextprotocol/server-everything` (npm), as a process.

`package.json` beside this file pins the server and the Node it needs; `package-lock.json` pins
everything under them. `ensure_everything()` installs them with `mcp_testkit.npm` into
`$XDG_CACHE_HOME/mcp-platform/npm/everything` (default `~/.cache`), once per lockfile.

`running_everything()` starts `node dist/index.js streamableHttp` (stateful Streamable HTTP at
`/mcp`: a session per `initialize`, unknown session ids answered with HTTP 400). The server
itself listens on every interface on `$PORT`; `loopback.cjs`, preloaded into Node, binds it to
127.0.0.1 instead and reports the port the OS chose, so a test run never opens a port beyond
the machine and never races another for a fixed one.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
from anyio.abc import Process

from mcp_testkit.npm import MANIFESTS, NODE, NpmError, ensure_packages

_SERVER = "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
_LISTENING = re.compile(r"^mcp-platform: listening on 127\.0\.0\.1:(?P<port>\d+)$", re.M)


class EverythingError(NpmError):
    """server-everything could not be installed or started; the message says why."""


def _package_file(name: str) -> bytes:
    return importlib.resources.files(__package__ or "everything").joinpath(name).read_bytes()


async def ensure_everything() -> Path:
    """The install directory (holding the pinned Node and server-everything).

    Raises:
        NpmError: see `mcp_testkit.npm.ensure_packages`.
    """
    manifests = {name: _package_file(name) for name in MANIFESTS}
    return await ensure_packages("everything", manifests, [_SERVER])


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no output)"


async def _answers(url: str) -> bool:
    # Without a session id the server answers 400: it is up and speaking MCP's HTTP.
    async with httpx.AsyncClient(timeout=2.0) as client:
        try:
            response = await client.get(url)
        except httpx.TransportError:
            return False
    return response.status_code == 400


@contextlib.asynccontextmanager
async def running_everything(log_dir: Path, *, startup_timeout: float = 60.0) -> AsyncIterator[str]:
    """Run server-everything until the block exits; yields its MCP URL
    (http://127.0.0.1:PORT/mcp). Its output goes to `log_dir/everything.log`.

    Raises:
        EverythingError: it exited or did not answer within `startup_timeout`.
    """
    target = await ensure_everything()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "everything.log"
    with (log_dir / "loopback.cjs").open("wb") as preload:
        preload.write(_package_file("loopback.cjs"))
    command = [
        str(target / NODE),
        "--require",
        str(log_dir / "loopback.cjs"),
        str(target / _SERVER),
        "streamableHttp",
    ]
    with log.open("wb") as output:
        process = await anyio.open_process(
            command,
            env={**os.environ, "PORT": "0"},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = await _wait_until_answering(process, log, startup_timeout)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await process.wait()
        await process.aclose()


async def _wait_until_answering(process: Process, log: Path, timeout: float) -> str:
    with anyio.move_on_after(timeout):
        while process.returncode is None:
            match = _LISTENING.search(log.read_text(errors="replace"))
            if match is not None:
                url = f"http://127.0.0.1:{match.group('port')}/mcp"
                if await _answers(url):
                    return url
            await anyio.sleep(0.1)
        raise EverythingError(
            f"server-everything exited ({process.returncode}) before answering:\n{_log_tail(log)}"
        )
    raise EverythingError(
        f"server-everything did not answer within {timeout:g}s:\n{_log_tail(log)}"
    )
