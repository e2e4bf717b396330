"""A throwaway PostgreSQL server for tests: `initdb` in a temporary folder, on a free port.

Uses the server binaries of Debian's `postgresql` package (`/usr/lib/postgresql/*/bin`) or
the folder an `initdb` on PATH links to. initdb refuses to run as root, so as root it runs as the
`postgres` user the package creates. `.ci/run` installs the package when it is missing and
sets MCP_REQUIRE_POSTGRES=1, so in CI a missing server fails the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1


_NEEDED = ("initdb", "postgres", "pg_ctl", "pg_isready")


def find_postgres_bin() -> Path | None:
    """The folder holding the server binaries (initdb, postgres, pg_isready), or None."""
    candidates = [Path(found).resolve().parent for found in filter(None, [shutil.which("initdb")])]
    candidates += [
        Path(path).parent
        for path in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    ]
    for folder in candidates:
        if all((folder / name).exists() for name in _NEEDED):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the test process dies.

    Without this, a test process killed by a timeout leaves its server running.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def postgres_server(startup_timeout: float = 60.0) -> Iterator[str]:
    """Start a PostgreSQL server on 127.0.0.1 and yield its base URL (no database name).

    The server runs in the foreground as this process's child (as root, under `runuser`,
    which passes the signal on), so it ends with the test process however that ends.

    Raises:
        RuntimeError: when no server binaries are installed or the server did not start.
    """
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="mcp-pg-"))
    data = root / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        _as_server_user(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
                str(root),
                "-c",
                "fsync=off",
            ]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    try:
        _wait_accepting(bin_dir, port, server, root, startup_timeout)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    finally:
        # pg_ctl signals the postmaster itself (by its pid file): `runuser` in between does
        # not pass every signal on, and killing it would orphan the server.
        subprocess.run(
            _as_server_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "20", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait_accepting(
    bin_dir: Path, port: int, server: subprocess.Popen[bytes], root: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = (root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL exited with code {server.returncode}: {log}")
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
            check=False,
            capture_output=True,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"PostgreSQL did not accept connections within {timeout:g}s")


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server and return its URL."""
    port = server_url.rsplit(":", 1)[1]
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f'CREATE DATABASE "{name}"',
        ],
        check=True,
        capture_output=True,
    )
    return f"{server_url}/{name}"
