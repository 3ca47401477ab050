"""How long to wait between tries: exponential backoff with full jitter, or what Retry-After says; bounded
in tries and in time."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    """Tries in all (the first included)."""
    base_s: float = 0.5
    cap_s: float = 8.0
    """Longest backoff between two tries."""
    deadline_s: float = 60.0
    """No new try starts after this long since the first."""
    max_retry_after_s: float = 30.0
    """A server's Retry-After is honoured up to this; longer ones end the retries (the caller decides)."""


def backoff(policy: RetryPolicy, retry: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**retry)] (retry 0 = before the second try)."""
    ceiling = min(policy.cap_s, policy.base_s * (2**retry))
    return (rng or random).uniform(0, ceiling)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
