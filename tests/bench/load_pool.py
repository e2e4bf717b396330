"""The load generator in several processes, so that it is not what limits calls/s.

One Python process running `mcp.Client` sessions tops out at one CPU: at c=32 it used 94% to
105% of one, and calls/s was then 1000 / the client's CPU ms per call, whatever the server
spent. A `LoadPool` keeps `processes` worker processes (`python -m bench.load_pool`, started
once) and splits each measurement's workers and calls between them; every process connects
and warms up its clients, says it is ready, and all start their clocks on one signal. The
result is one `Sample`: calls and latencies of all, the time from the first start to the last
finish, and the workers' CPU as the client's.

The protocol, one JSON object a line: the pool sends a job (`url`, `mode`, `call`, `load`,
`token`), the worker answers `{"ready": true}`, the pool sends `{"go": true}` to every worker
of the job, each answers `{"sample": {...}}`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from bench.load import CpuProbe, Load, Sample, ToolCall, combine, measure

CLIENT = "client"
_MAX_LINE = 64 * 1024 * 1024


class LoadPoolError(Exception):
    """A worker process died or stopped answering; the message says which and how."""


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` shares that differ by at most one, largest first."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


class _Worker:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        assert process.stdin is not None
        self._lines = BufferedByteReceiveStream(process.stdout)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def receive(self) -> dict[str, Any]:
        try:
            line = await self._lines.receive_until(b"\n", _MAX_LINE)
        except (anyio.EndOfStream, anyio.IncompleteRead) as exc:
            raise LoadPoolError(
                f"load process {self.process.pid} exited (code {self.process.returncode})"
            ) from exc
        message: dict[str, Any] = json.loads(line)
        return message


class LoadPool:
    """`processes` load processes; use as `async with LoadPool(n) as pool: await pool.measure(...)`."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.processes = processes
        self._workers: list[_Worker] = []

    async def __aenter__(self) -> LoadPool:
        for _ in range(self.processes):
            process = await anyio.open_process(
                [sys.executable, "-m", "bench.load_pool"], stderr=None
            )
            self._workers.append(_Worker(process))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for worker in self._workers:
            with anyio.CancelScope(shield=True):
                if worker.process.stdin is not None:
                    await worker.process.stdin.aclose()
                with anyio.move_on_after(10):
                    await worker.process.wait()
                if worker.process.returncode is None:
                    worker.process.kill()
                    await worker.process.wait()
        self._workers.clear()

    async def measure(
        self,
        url: str,
        mode: str,
        call: ToolCall,
        load: Load,
        cpu: CpuProbe,
        token: str | None = None,
        processes: int | None = None,
    ) -> Sample:
        """Like `bench.load.measure`, over min(`processes` (default: all), concurrency) of the
        pool's processes; `cpu` reads the servers' CPU, the client's is the load processes' own.

        Raises:
            LoadPoolError: a load process exited or sent something else than expected.
        """
        parts = min(processes or self.processes, self.processes, load.concurrency)
        workers = self._workers[:parts]
        # Both split largest first, so the process with one worker more gets a call more.
        concurrency, calls = split(load.concurrency, parts), split(load.calls, parts)
        job = {"url": url, "mode": mode, "call": asdict(call), "token": token}
        for worker, share, budget in zip(workers, concurrency, calls, strict=True):
            part = replace(load, concurrency=share, calls=budget)
            await worker.send({**job, "load": asdict(part)})
        # Each process bounds its own measurement (see `measure`); this bounds the waiting.
        bound = load.call_timeout * (load.warmup_calls + 3) + load.time_limit + 30
        with anyio.fail_after(bound):
            # A process whose clients never all connected (its own bound passed) answers with
            # its sample at once; it takes no part in the rest.
            early = {}
            for index, worker in enumerate(workers):
                message = await worker.receive()
                if "sample" in message:
                    early[index] = Sample(**message["sample"])
                elif "ready" not in message:
                    raise LoadPoolError(f"load process {worker.process.pid} sent {sorted(message)}")
            before = cpu()
            for index, worker in enumerate(workers):
                if index not in early:
                    await worker.send({"go": True})
            samples = [
                early[index] if index in early else Sample(**(await _expect(worker, "sample")))
                for index, worker in enumerate(workers)
            ]
            after = cpu()
        sample = combine(samples)
        sample.cpu_seconds.update({name: after[name] - before.get(name, 0.0) for name in after})
        return sample


async def _expect(worker: _Worker, key: str) -> Any:
    message = await worker.receive()
    if key not in message:
        raise LoadPoolError(f"load process {worker.process.pid} sent {sorted(message)}, not {key}")
    return message[key]


def _write(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _read() -> dict[str, Any] | None:
    line = await anyio.to_thread.run_sync(sys.stdin.readline)
    return json.loads(line) if line.strip() else None


async def _serve() -> None:
    """A load process: one job at a time, until stdin closes."""
    while (job := await _read()) is not None:

        async def ready_then_go() -> None:
            _write({"ready": True})
            if await _read() is None:
                raise SystemExit(0)

        sample = await measure(
            job["url"],
            job["mode"],
            ToolCall(**job["call"]),
            Load(**job["load"]),
            lambda: {CLIENT: time.process_time()},
            job["token"],
            before_start=ready_then_go,
        )
        _write({"sample": asdict(sample)})


def main(argv: Sequence[str]) -> None:
    if argv:
        sys.exit("python -m bench.load_pool takes no arguments; it reads jobs from stdin")
    anyio.run(_serve)


if __name__ == "__main__":
    main(sys.argv[1:])
