"""The rate governor on a fake clock: never over the limit, close to it."""

import pytest

from sources.ghl.errors import DailyBudgetExhausted
from sources.ghl.governor import RateGovernor


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_sends_stay_under_the_announced_limit_and_near_it():
    fake = FakeTime()
    governor = RateGovernor("loc", clock=fake.clock, sleep=fake.sleep)
    governor.observe(
        {"x-ratelimit-max": "100", "x-ratelimit-interval-milliseconds": "1000"}
    )

    sent = []
    for _ in range(1000):
        governor.acquire()
        sent.append(fake.now)

    busiest = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert busiest <= 100
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert 95 <= rate <= 100


def test_remaining_zero_holds_every_caller_for_the_interval():
    fake = FakeTime()
    governor = RateGovernor("loc", clock=fake.clock, sleep=fake.sleep)
    governor.observe(
        {
            "x-ratelimit-max": "100",
            "x-ratelimit-interval-milliseconds": "10000",
            "x-ratelimit-remaining": "0",
        }
    )

    governor.acquire()

    assert fake.now == pytest.approx(10.0)


def test_daily_reserve_stops_before_the_budget_is_gone():
    governor = RateGovernor("loc-1", daily_reserve=5)
    governor.observe({"x-ratelimit-daily-remaining": "6"})
    governor.acquire()

    governor.observe({"x-ratelimit-daily-remaining": "5"})
    with pytest.raises(DailyBudgetExhausted) as stopped:
        governor.acquire()

    assert str(stopped.value) == (
        "location loc-1: 5 requests left today (reserve 5); state is saved, "
        "resume later"
    )
