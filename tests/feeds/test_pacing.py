"""The token bucket behind --rate, on a fake clock."""

from __future__ import annotations

import pytest

from services.feeds.pacing import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_the_bucket_keeps_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    for _ in range(21):
        await bucket.take()
    assert clock.now == pytest.approx(2.0)  # the first is free, then one every 0.1 s


async def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, burst=3, clock=clock, sleep=clock.sleep)
    clock.now = 100.0  # a long pause earns no more than `burst` tokens
    for _ in range(3):
        await bucket.take()
    assert clock.slept == []
    await bucket.take()
    assert clock.slept == [pytest.approx(0.5)]


def test_a_non_positive_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
