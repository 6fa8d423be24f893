"""Per-user token buckets: a flood of clicks (or a script) gets 429, the room stays usable."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class RateLimiter:
    """``rate`` actions per second per user with bursts of ``burst``; rate 0 disables it."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def wait_for(self, user_id: str) -> float:
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > 100_000:  # forget idle users rather than grow forever
                self._buckets = {u: b for u, b in self._buckets.items() if now - b.updated < 60}
            bucket = self._buckets[user_id] = TokenBucket(self.rate, self.burst, self.burst, now)
        return bucket.take(now)
