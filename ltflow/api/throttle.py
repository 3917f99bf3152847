"""Rate limits per client, with the ``limits`` library in memory (issue 15, item 7).

Two limits, each counted for one client only, so one client's limit never affects another's:

- failed authentication, per remote address (``LTFLOW_RATE_LIMIT_AUTH_FAILURES``): once an
  address has failed that often in the window, every request of it that needs a token is
  answered 429 until the window frees, *before* its token is looked at: otherwise a guesser
  over the limit would still learn which guess is right.
- writes (``events:write`` routes), per token (``LTFLOW_RATE_LIMIT_WRITES``).

The counts live in this process (a moving window in memory): several API processes each count
their own, which bounds a client at most that many times the limit.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ltflow.api.errors import RateLimitedError
from ltflow.config import parse_limit

DEFAULT_AUTH_FAILURES = "20/minute"
DEFAULT_WRITES = "600/minute"


@dataclass
class RateLimits:
    """The API's limits and their counts; one per app, on :class:`ApiContext`."""

    auth_failures: str = DEFAULT_AUTH_FAILURES
    writes: str = DEFAULT_WRITES
    _failures: RateLimitItem = field(init=False)
    _writes: RateLimitItem = field(init=False)
    _limiter: MovingWindowRateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self._failures = parse_limit(self.auth_failures, "LTFLOW_RATE_LIMIT_AUTH_FAILURES")
        self._writes = parse_limit(self.writes, "LTFLOW_RATE_LIMIT_WRITES")
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check_address(self, address: str) -> None:
        """Raise 429 when ``address`` has used up its failed authentications (counts nothing)."""
        if not self._limiter.test(self._failures, "auth", address):
            raise self._refusal(self._failures, ("auth", address), "failed authentications")

    def failed(self, address: str) -> None:
        """Count one failed authentication of ``address``."""
        self._limiter.hit(self._failures, "auth", address)

    def write(self, token: str) -> None:
        """Count one write of ``token``; raise 429 when it is over its limit."""
        # Keyed by the token's digest: the secret itself is not kept as a key in memory.
        key = hashlib.sha256(token.encode()).hexdigest()
        if not self._limiter.hit(self._writes, "write", key):
            raise self._refusal(self._writes, ("write", key), "writes")

    def _refusal(self, item: RateLimitItem, keys: tuple[str, str], what: str) -> RateLimitedError:
        reset = self._limiter.get_window_stats(item, *keys).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        return RateLimitedError(
            f"Too many {what} from this client (at most {item}); try again in {retry_after} s.",
            retry_after=retry_after,
        )
