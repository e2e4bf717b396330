"""The load generator: concurrent workers, each with one long-lived MCP client session.

Each worker connects and warms up first; the clock starts when every worker is ready. Workers
then take calls from a shared budget until it is spent or the time limit passes, and time each
call on its own. A failed call (an exception or a result with isError) is counted, not timed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

CpuProbe = Callable[[], Mapping[str, float]]
"""CPU seconds used so far, per process (by role name); read before and after a measurement."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Load:
    concurrency: int
    calls: int
    time_limit: float
    warmup_calls: int = 2
    call_timeout: float = 30.0
    """Seconds one call (or the client's handshake) may take before it counts as failed."""


@dataclass
class Sample:
    """What one measurement saw. `workers_ready` of `workers` connected and warmed up."""

    workers: int
    planned: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    elapsed: float = 0.0
    started: float = 0.0
    """`time.perf_counter()` when the clock started (the same clock in every process here)."""
    negotiated: str | None = None
    workers_ready: int = 0
    setup_error: str | None = None
    timed_out: bool = False
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def merge(samples: Sequence[Sample]) -> Sample:
    """One sample from several rounds of the same measurement: calls, time and CPU add up."""
    merged = Sample(
        workers=max(s.workers for s in samples), planned=sum(s.planned for s in samples)
    )
    merged.workers_ready = min(s.workers_ready for s in samples)
    for sample in samples:
        merged.latencies += sample.latencies
        merged.errors += sample.errors
        merged.elapsed += sample.elapsed
        merged.first_error = merged.first_error or sample.first_error
        merged.negotiated = merged.negotiated or sample.negotiated
        merged.setup_error = merged.setup_error or sample.setup_error
        merged.timed_out = merged.timed_out or sample.timed_out
        for role, seconds in sample.cpu_seconds.items():
            merged.cpu_seconds[role] = merged.cpu_seconds.get(role, 0.0) + seconds
    return merged


def combine(samples: Sequence[Sample]) -> Sample:
    """One sample from parts of one measurement that ran side by side (in several processes):
    calls and CPU add up, the time is from the first start to the last finish."""
    combined = merge(samples)
    combined.workers = sum(s.workers for s in samples)
    combined.workers_ready = sum(s.workers_ready for s in samples)
    timed = [s for s in samples if s.started > 0] or list(samples)
    combined.started = min(s.started for s in timed)
    combined.elapsed = max(s.started + s.elapsed for s in timed) - combined.started
    return combined


def describe(exc: BaseException) -> str:
    """One short line naming a failure (the first of a group)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return describe(exc.exceptions[0])
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


class _WarmUpFailed(Exception):
    """A warm-up call failed; the worker does not take part in the measurement."""


class _Measurement:
    def __init__(
        self, url: str, mode: str, call: ToolCall, load: Load, token: str | None = None
    ) -> None:
        self.url = url
        self.token = token
        self.mode = mode
        self.call = call
        self.load = load
        self.sample = Sample(workers=load.concurrency, planned=load.calls)
        self.budget = load.calls
        self.deadline = float("inf")
        self.started = 0.0
        self.finished = 0.0
        self.arrived = 0
        self.active = 0
        self.all_arrived = anyio.Event()
        self.go = anyio.Event()
        self.all_done = anyio.Event()

    def _arrive(self, ready: bool) -> None:
        self.arrived += 1
        self.sample.workers_ready += ready
        if self.arrived == self.load.concurrency:
            self.all_arrived.set()

    def start_clock(self) -> None:
        self.started = self.finished = time.perf_counter()
        self.deadline = self.started + self.load.time_limit
        self.active = self.sample.workers_ready
        if self.active == 0:
            self.all_done.set()
        self.go.set()

    def _leave(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.all_done.set()

    def _take(self) -> bool:
        if self.budget <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.budget -= 1
        return True

    def _error(self, text: str) -> None:
        self.sample.errors += 1
        if self.sample.first_error is None:
            self.sample.first_error = text

    async def _call(self, client: Client) -> str | None:
        """One call: None when it succeeded, else what went wrong."""
        result = await client.call_tool(self.call.name, dict(self.call.arguments))
        if result.is_error:
            text = getattr(result.content[0], "text", "") if result.content else ""
            return f"isError: {text}"[:200]
        return None

    async def _measured_calls(self, client: Client) -> None:
        while self._take():
            began = time.perf_counter()
            try:
                with anyio.fail_after(self.load.call_timeout):
                    failure = await self._call(client)
            except Exception as exc:  # noqa: BLE001 - any failed call is a measured error
                failure = describe(exc)
            done = time.perf_counter()
            self.finished = max(self.finished, done)
            if failure is None:
                self.sample.latencies.append(done - began)
            else:
                self._error(failure)

    async def worker(self) -> None:
        stage = "connect"
        try:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=None))
            async with (
                http,
                Client(
                    streamable_http_client(self.url, http_client=http),
                    mode=self.mode,
                    read_timeout_seconds=self.load.call_timeout,
                ) as client,
            ):
                self.sample.negotiated = self.sample.negotiated or client.protocol_version
                stage = "warm-up"
                for _ in range(self.load.warmup_calls):
                    with anyio.fail_after(self.load.call_timeout):
                        failure = await self._call(client)
                    if failure is not None:
                        raise _WarmUpFailed(failure)
                stage = "ready"
                self._arrive(ready=True)
                await self.go.wait()
                try:
                    await self._measured_calls(client)
                finally:
                    stage = "done"
                    self._leave()
        except Exception as exc:  # noqa: BLE001 - reported in the results, not raised
            if stage in ("connect", "warm-up"):
                self.sample.setup_error = self.sample.setup_error or f"{stage}: {describe(exc)}"
                self._arrive(ready=False)
            elif stage == "ready":
                self._error(describe(exc))
            # "done": closing the session failed after the measurement; nothing was lost.


async def measure(
    url: str,
    mode: str,
    call: ToolCall,
    load: Load,
    cpu: CpuProbe,
    token: str | None = None,
    before_start: Callable[[], Awaitable[None]] | None = None,
) -> Sample:
    """Run `load` against the MCP server at `url` with `mcp.Client(url, mode=mode)` clients,
    each sending `token` as a bearer token when there is one. `before_start` is awaited when
    every worker is ready, before the clock starts (`bench.load_pool` starts several processes'
    clocks together with it).

    Bounded: whatever still runs after the time limit plus generous handshake and call
    timeouts is cancelled, and the sample says so (`timed_out`).
    """
    run = _Measurement(url, mode, call, load, token)
    before: Mapping[str, float] = {}
    after: Mapping[str, float] = {}
    bound = load.call_timeout * (load.warmup_calls + 2) + load.time_limit + 10
    with anyio.move_on_after(bound) as guard:
        async with anyio.create_task_group() as group:
            for _ in range(load.concurrency):
                group.start_soon(run.worker)
            await run.all_arrived.wait()
            if before_start is not None:
                await before_start()
            before = cpu()
            run.start_clock()
            await run.all_done.wait()
            after = cpu()
    sample = run.sample
    sample.timed_out = guard.cancelled_caught
    sample.elapsed = run.finished - run.started
    sample.started = run.started
    if before and after:
        sample.cpu_seconds = {name: after[name] - before.get(name, 0.0) for name in after}
    return sample
