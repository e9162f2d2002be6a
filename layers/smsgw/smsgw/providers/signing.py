"""Request signing shared by both providers: md5(key + timestamp + secret), timestamp in Beijing time."""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database
# (the Lambda image does not ship one) and ignores the process's TZ entirely.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def beijing_timestamp(clock: Clock = utc_now) -> str:
    """`yyyyMMddHHmmss` in Beijing time for the clock's instant (the clock must return an aware datetime)."""
    now = clock()
    if now.tzinfo is None:
        raise ValueError("the clock must return a timezone-aware datetime")
    return now.astimezone(BEIJING).strftime(TIMESTAMP_FORMAT)


def sign(key: str, timestamp: str, secret: str) -> str:
    """The providers' signature: 32 lowercase hex digits of md5(key + timestamp + secret)."""
    # md5 is the providers' protocol, not our choice of hash for security.
    return hashlib.md5((key + timestamp + secret).encode(), usedforsecurity=False).hexdigest()
