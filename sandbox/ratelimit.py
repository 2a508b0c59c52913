"""GHL-style rate limits: a burst window and a daily budget per location and token."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class Budget:
    """The state of one rate-limit key after counting a request."""

    burst_max: int
    burst_remaining: int
    interval_ms: int
    daily_max: int
    daily_remaining: int
    wait_seconds: float
    allowed: bool
    daily_exhausted: bool

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers GHL sends on every answer."""
        return {
            "X-RateLimit-Max": str(self.burst_max),
            "X-RateLimit-Remaining": str(self.burst_remaining),
            "X-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-RateLimit-Daily-Max": str(self.daily_max),
            "X-RateLimit-Daily-Remaining": str(self.daily_remaining),
        }


class RateLimiter:
    """Fixed-window counters: ``burst_max`` per ``interval_ms``, ``daily_max`` a day.

    Args:
        burst_max: requests allowed per burst window.
        interval_ms: length of the burst window.
        daily_max: requests allowed per 24 hours.
        enforce: answer 429 past a limit; if False, only count and report.
        clock: a seconds clock (monotonic by default), replaceable in tests.
    """

    def __init__(
        self,
        burst_max: int = 100,
        interval_ms: int = 10_000,
        daily_max: int = 200_000,
        *,
        enforce: bool = False,
        clock=time.monotonic,
    ) -> None:
        self.burst_max = burst_max
        self.interval_ms = interval_ms
        self.daily_max = daily_max
        self.enforce = enforce
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, list[float | int]] = {}

    def take(self, key: str) -> Budget:
        """Counts one request for ``key`` and says whether it may proceed."""
        now = self.clock()
        with self._lock:
            burst_start, burst_used, day_start, day_used = self._windows.get(
                key, [now, 0, now, 0]
            )
            if now - burst_start >= self.interval_ms / 1000:
                burst_start, burst_used = now, 0
            if now - day_start >= 86_400:
                day_start, day_used = now, 0

            daily_exhausted = day_used >= self.daily_max
            burst_exhausted = burst_used >= self.burst_max
            allowed = not (self.enforce and (daily_exhausted or burst_exhausted))
            if allowed:
                burst_used += 1
                day_used += 1
            self._windows[key] = [burst_start, burst_used, day_start, day_used]

        if daily_exhausted:
            wait = day_start + 86_400 - now
        else:
            wait = burst_start + self.interval_ms / 1000 - now
        return Budget(
            burst_max=self.burst_max,
            burst_remaining=max(0, self.burst_max - burst_used),
            interval_ms=self.interval_ms,
            daily_max=self.daily_max,
            daily_remaining=max(0, self.daily_max - day_used),
            wait_seconds=max(0.0, wait),
            allowed=allowed,
            daily_exhausted=daily_exhausted,
        )

    def retry_after(self, budget: Budget) -> str:
        """A ``Retry-After`` value in whole seconds for a refused request."""
        return str(math.ceil(budget.wait_seconds))

    def exhaust_daily(self, key: str) -> None:
        """Uses up the daily budget of ``key`` (for "resume later" tests)."""
        now = self.clock()
        with self._lock:
            window = self._windows.setdefault(key, [now, 0, now, 0])
            window[3] = self.daily_max

    def reset(self) -> None:
        """Forgets every counter."""
        with self._lock:
            self._windows.clear()
