"""Token buckets and stream counts, per key."""

from __future__ import annotations

import time

import pytest

from mcp_common.limits import RateLimiter, StreamLimits, retry_after_header


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.retry_after("alice") for _ in range(3)] == [None, None, None]
    wait = limiter.retry_after("alice")
    assert wait is not None
    assert 0 < wait <= 0.5
    assert limiter.retry_after("bob") is None, "every key has its own bucket"
    assert retry_after_header(wait) == b"1"


def test_a_bucket_refills_at_its_rate() -> None:
    limiter = RateLimiter(rate=1000.0, burst=1)
    assert limiter.retry_after("k") is None
    assert limiter.retry_after("k") is not None
    deadline = time.monotonic() + 5
    while limiter.retry_after("k") is not None:
        assert time.monotonic() < deadline, "the bucket never refilled"


def test_many_distinct_keys_do_not_grow_without_bound() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=100)
    for index in range(1000):
        limiter.retry_after(f"key-{index}")
    assert len(limiter._buckets) <= 100


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate=0, burst=1)


def test_streams_are_bounded_per_key_and_in_total() -> None:
    limits = StreamLimits(total=3, per_principal=2)
    assert limits.refusal("a") is None
    assert limits.refusal("a") is None
    assert "already has 2 open streams" in (limits.refusal("a") or "")
    assert limits.refusal("b") is None
    assert "maximum of 3 open streams" in (limits.refusal("c") or "")
    limits.release("a")
    assert limits.refusal("c") is None
    assert limits.open == 3
