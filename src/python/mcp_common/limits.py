"""Per-principal limits: a request rate (token buckets) and a number of open streams.

Both are per replica: nothing is shared between replicas (no store to reach, nothing to fail),
so N replicas admit up to N times the configured rate and streams. That is the trade: limits
that cost a dictionary look-up and cannot take the platform down, in exchange for being
approximate across a scaled-out deployment (the edge, Envoy's local rate limit, bounds the
whole).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._max_keys = max_keys

    def retry_after(self, key: str) -> float | None:
        """None when `key` may go ahead (a token is taken), else seconds until it may."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget the keys whose buckets have refilled (they would start full anyway)."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:  # a flood of distinct keys: start over
            self._buckets.clear()


def retry_after_header(seconds: float) -> bytes:
    return str(max(1, math.ceil(seconds))).encode()


class StreamLimits:
    """Open long-lived streams, at most `total` and at most `per_principal` for one key."""

    def __init__(self, total: int, per_principal: int) -> None:
        self.total = total
        self.per_principal = per_principal
        self._open: dict[str, int] = {}
        self._count = 0

    @property
    def open(self) -> int:
        return self._count

    def refusal(self, key: str) -> str | None:
        """Why a new stream for `key` is refused, or None after counting it (then `release`)."""
        if self._count >= self.total:
            return f"this server has its maximum of {self.total} open streams; retry later"
        mine = self._open.get(key, 0)
        if mine >= self.per_principal:
            return (
                f"this caller already has {mine} open streams, the maximum per caller; "
                "close one (a client needs one notification stream)"
            )
        self._open[key] = mine + 1
        self._count += 1
        return None

    def release(self, key: str) -> None:
        mine = self._open.get(key, 0) - 1
        if mine <= 0:
            self._open.pop(key, None)
        else:
            self._open[key] = mine
        self._count -= 1
