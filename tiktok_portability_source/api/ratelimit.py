"""One request budget for the whole process: a thread-safe sliding-window limiter.

TikTok allows 1000 requests per minute per request type over a one-minute sliding window
(docs/tiktok-api.md §6); whether per app or per user is undocumented, so the safe reading is "per app".
``sync`` works on many users at once, and every ``PortabilityClient`` it builds (one per user step)
asks this one limiter before each request, so together they stay under the limit instead of each
finding it with a 429. A 429 that still happens (another process on the same app, a lower limit than
documented) is handled by the client's backoff, as before.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

DEFAULT_LIMIT = 1000  # requests per window per request type (docs/tiktok-api.md §6)
DEFAULT_WINDOW_SECONDS = 60.0
# our clock starts a request a little before TikTok's sees it arrive, and requests overtake each other
# on the way: a request counted here at t may be counted there later than one we sent after it. The
# window we keep is this much longer than TikTok's, so that reordering never puts one over the limit.
DEFAULT_SLACK_SECONDS = 1.0


class RateLimiter:
    """At most ``limit`` requests per ``window`` seconds for each key (an endpoint path), across threads.

    ``acquire(key)`` blocks until the request may go and returns how long it waited. The window is
    sliding (like TikTok's and the fake's), not a token bucket refilled at a steady rate: a bucket
    allows ``limit`` at once plus the refill within the window, i.e. more than ``limit`` per window.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, window: float = DEFAULT_WINDOW_SECONDS, *,
                 slack: float = DEFAULT_SLACK_SECONDS, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = int(limit)
        self.window = float(window) + max(slack, 0.0)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: dict[str, collections.deque[float]] = {}
        self.waited = 0.0  # total seconds requests spent waiting here (for logs and tests)

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self.limit}, window={self.window:g}s)"

    def acquire(self, key: str = "") -> float:
        """Reserve a slot for one request of type ``key``; sleeps (without holding the lock) while full."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                sent = self._sent.setdefault(key, collections.deque())
                while sent and sent[0] <= now - self.window:
                    sent.popleft()
                if len(sent) < self.limit:
                    sent.append(now)
                    self.waited += waited
                    return waited
                delay = sent[0] + self.window - now
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay


def for_config(limit: int | None, window: float | None) -> RateLimiter | None:
    """The limiter ``sync`` shares between users; ``limit`` 0 turns limiting off (rely on 429 backoff)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not limit:
        return None
    return RateLimiter(limit, DEFAULT_WINDOW_SECONDS if window is None else window)
