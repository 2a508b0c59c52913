"""The rate governor: stays under GHL's burst limit and stops at the daily reserve.

GHL limits each location to ``X-RateLimit-Max`` requests per
``X-RateLimit-Interval-Milliseconds`` and ``X-RateLimit-Daily-Max`` a day, and says so
on every response. The governor keeps a sliding log of its own send times, so that no
window of one interval ever holds more than the limit, whichever way the server
aligns its windows. One governor serves a location and every thread that calls it.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from .errors import DailyBudgetExhausted
from .settings import DEFAULT_BURST_INTERVAL_MS, DEFAULT_BURST_MAX

logger = logging.getLogger(__name__)

# Share of the burst limit the governor uses; sends are spaced evenly within it.
HEADROOM = 0.97


class RateGovernor:
    """Paces requests for one location.

    Args:
        location_id: the location whose budget this is (for messages only).
        daily_reserve: stop when ``X-RateLimit-Daily-Remaining`` falls to this.
        burst_max: requests per interval until the server says otherwise.
        interval_ms: the interval in milliseconds until the server says otherwise.
        clock: monotonic clock, replaceable in tests.
        sleep: sleep function, replaceable in tests.
    """

    def __init__(
        self,
        location_id: str,
        daily_reserve: int = 0,
        burst_max: int = DEFAULT_BURST_MAX,
        interval_ms: int = DEFAULT_BURST_INTERVAL_MS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.location_id = location_id
        self.daily_reserve = daily_reserve
        self.burst_max = burst_max
        self.interval = interval_ms / 1000
        self.daily_remaining: int | None = None
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        """Block until one more request fits in the burst window, then take it.

        Raises:
            DailyBudgetExhausted: the daily budget is down to the reserve.
        """
        self.check_daily()
        while True:
            with self._lock:
                wait = self._take_or_wait(self._clock())
            if wait <= 0:
                return
            self._sleep(wait)

    def _take_or_wait(self, now: float) -> float:
        """Take a slot now and return 0, or return how long to wait for one.

        Slots are stamped with the time they are taken, not planned, and checked
        again after every wait: a thread that wakes late (the GIL, a busy machine)
        must not push a bunch of requests into the next window of the server.
        """
        limit = max(1, int(self.burst_max * HEADROOM))
        while self._sent and self._sent[0] <= now - self.interval:
            self._sent.popleft()
        ready = max(self._blocked_until, self._last + self.interval / limit)
        if len(self._sent) >= limit:
            ready = max(ready, self._sent[0] + self.interval)
        if ready > now:
            return ready - now
        self._sent.append(now)
        self._last = now
        return 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the limits and what is left from a response's headers."""
        burst_max = _int_header(headers, "x-ratelimit-max")
        interval_ms = _int_header(headers, "x-ratelimit-interval-milliseconds")
        remaining = _int_header(headers, "x-ratelimit-remaining")
        daily_remaining = _int_header(headers, "x-ratelimit-daily-remaining")

        with self._lock:
            if burst_max:
                self.burst_max = burst_max
            if interval_ms:
                self.interval = interval_ms / 1000
            if remaining == 0:
                self._blocked_until = max(
                    self._blocked_until, self._clock() + self.interval
                )
            if daily_remaining is not None:
                # Answers arrive out of order across threads: the smallest count
                # seen is the freshest. (A run does not outlive a day's reset.)
                if self.daily_remaining is not None:
                    daily_remaining = min(daily_remaining, self.daily_remaining)
                self.daily_remaining = daily_remaining

    def back_off(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (after a 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def check_daily(self) -> None:
        """Raise when the daily budget is down to the reserve."""
        remaining = self.daily_remaining
        if remaining is not None and remaining <= self.daily_reserve:
            raise DailyBudgetExhausted(
                f"location {self.location_id}: {remaining} requests left today "
                f"(reserve {self.daily_reserve}); state is saved, resume later"
            )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        logger.warning("ignoring header %s with a non-numeric value %r", name, value)
        return None
