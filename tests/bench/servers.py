"""The processes under test: start each on 127.0.0.1, wait until it serves, stop them all.

Each server is its own process (a PEX, or this venv's interpreter for fastmcp's proxy), so the
aggregator and its upstream never share an event loop, as in production. Children start in
their own session, so a Ctrl-C reaches only the benchmark, which then stops them in order; on
Linux they also get SIGTERM if the benchmark itself dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
# Inherited settings would make the run depend on the caller's shell (MCP_USERS_API_URL...),
# and PEX_* variables of the benchmark's own PEX would change how the servers' PEXes start.
_DROPPED_ENV_PREFIXES = ("MCP_", "PEX_", "FASTMCP_")


class ServerError(Exception):
    """A server did not start or did not become ready; the message says which and why."""


@dataclass(frozen=True)
class ServerSpec:
    name: str
    command: tuple[str, ...]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    # Our services answer 200 on /health/ready once ready; fastmcp has no readiness endpoint,
    # so any HTTP answer on /mcp (below 500) means it is serving.
    ready_path: str = "/health/ready"
    ready_on_any_answer: bool = False

    @property
    def mcp_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@dataclass
class RunningServer:
    spec: ServerSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (0.0 where /proc is missing)."""
        return process_cpu_seconds(self.process.pid)


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later; loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process `pid`, from /proc; 0.0 where there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    if "PEX_ROOT" in os.environ:
        env["PEX_ROOT"] = os.environ["PEX_ROOT"]  # the shared unpack cache: faster starts
    return {**env, **extra}


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


def start(spec: ServerSpec, log_dir: Path) -> RunningServer:
    """Start `spec` with its output in `log_dir/<name>.log`; returns without waiting.

    Raises:
        ServerError: the command could not be started (e.g. the PEX is missing).
    """
    log_path = log_dir / f"{spec.name}.log"
    log: IO[bytes] = log_path.open("ab")
    try:
        process = subprocess.Popen(
            list(spec.command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(spec.env),
            start_new_session=True,
            # Only a prctl() call, made while the benchmark has no other threads yet.
            preexec_fn=_die_with_parent(),
        )
    except OSError as exc:
        raise ServerError(f"{spec.name}: cannot run {spec.command[0]}: {exc.strerror}") from exc
    finally:
        log.close()
    return RunningServer(spec, process, log_path)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _answer(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Accept": "application/json, text/event-stream"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def wait_ready(server: RunningServer, timeout: float = 60.0) -> None:
    """Return once `server` serves.

    Raises:
        ServerError: it exited, or was not ready within `timeout` seconds; the message holds
            the end of its log.
    """
    spec = server.spec
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise ServerError(
                f"{spec.name} exited with code {code}; last log lines:\n{tail(server.log_path)}"
            )
        status = _answer(spec.port, spec.ready_path)
        if status is not None and (status == 200 or (spec.ready_on_any_answer and status < 500)):
            return
        time.sleep(0.2)
    raise ServerError(
        f"{spec.name} was not ready within {timeout:g}s on port {spec.port}; last log lines:\n"
        f"{tail(server.log_path)}"
    )


def stop_all(servers: Sequence[RunningServer], timeout: float = 10.0) -> None:
    """SIGTERM every server (last started first), then SIGKILL what is left after `timeout`."""
    for server in reversed(servers):
        if server.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for server in reversed(servers):
        try:
            server.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def process_rss_bytes(pid: int) -> int | None:
    """The process's resident set size now (None where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
