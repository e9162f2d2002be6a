"""The vocabulary of messages: their statuses and kinds."""

from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"  # the provider took it
    SENDING = "sending"  # the provider says it is on its way
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider may or may not have sent it; no final status came
    # Only in a send's answer, never stored:
    REJECTED = "rejected"  # refused; nothing sent
    BLOCKED = "blocked"  # on the blocklist; nothing sent
    NOT_SENT = "not_sent"  # not attempted: no time was left before the function's deadline


STORED = (Status.SUBMITTED, Status.SENDING, Status.DELIVERED, Status.FAILED, Status.UNKNOWN)
FINAL = frozenset({Status.DELIVERED, Status.FAILED, Status.UNKNOWN})
# A receipt may still settle a message the window marked unknown; nothing replaces delivered/failed.
OPEN = (Status.SUBMITTED, Status.SENDING, Status.UNKNOWN)
RANK: dict[str, int] = {
    Status.SUBMITTED: 0,
    Status.SENDING: 1,
    Status.UNKNOWN: 2,
    Status.DELIVERED: 3,
    Status.FAILED: 3,
}


class Kind(StrEnum):
    BULK = "bulk"  # POST /sms/send
    VERIFY = "verify"  # POST /sms/verify-code


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class CampaignKind(StrEnum):
    MARKETING = "marketing"  # only inside the daytime window (Beijing time)
    NOTIFICATION = "notification"


# A campaign's counts, by what happened to its entries.
CAMPAIGN_COUNTS = (
    "total",
    "invalid",
    "blocked",
    "queued",
    "submitted",
    "unknown",
    "rejected",
    "delivered",
    "failed",
)


class CheckStatus(StrEnum):
    """What checking a verification code answers."""

    APPROVED = "approved"
    PENDING = "pending"  # wrong code, attempts left
    EXPIRED = "expired"
    MAX_ATTEMPTS = "max_attempts_reached"
    NOT_FOUND = "not_found"  # none, superseded, or already approved (single use)
