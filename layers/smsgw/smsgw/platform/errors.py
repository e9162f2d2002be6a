"""Domain errors. Each names its `Problem`; the API layer alone turns a problem into an HTTP answer.

Provider failures fall in three kinds that the rest of the system depends on: rejected (nothing
sent), unavailable (nothing sent, may fail over) and outcome unknown (never retried or failed over).
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Problem(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    KEY_REUSED = "key_reused"
    IN_PROGRESS = "in_progress"
    REFUSED_REQUEST = "refused_request"  # the provider refused the request: would fail anywhere
    REFUSED_ACCOUNT = "refused_account"  # the provider refused for the account or itself
    UNAVAILABLE = "unavailable"
    OUTCOME_UNKNOWN = "outcome_unknown"
    NOT_ATTEMPTED = "not_attempted"  # no time was left to send before the function's deadline
    WRONG_STATE = "wrong_state"  # e.g. starting a campaign that already started
    STORAGE_UNAVAILABLE = "storage_unavailable"  # AWS throttled or failed past its retries


class GatewayError(Exception):
    """Base of every error the gateway answers for."""

    problem: Problem


@dataclass
class FieldError:
    field: str
    message: str


class StorageUnavailable(GatewayError):
    """DynamoDB, S3, SQS or Secrets Manager throttled or failed past botocore's retries: the request
    stopped where it was (every write the gateway makes is one a retry repeats safely)."""

    problem = Problem.STORAGE_UNAVAILABLE


class ValidationError(GatewayError):
    """The caller's request is wrong: field-level details, nothing is sent."""

    problem = Problem.INVALID

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

    @classmethod
    def single(cls, field_name: str, message: str) -> "ValidationError":
        return cls([FieldError(field_name, message)])


@dataclass
class ProviderError(GatewayError):
    """A provider call failed. `code` is the provider's own code (or an HTTP status) when it gave one."""

    provider: str
    message: str
    code: str | None = None
    http_status: int | None = None
    raw: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        super().__init__(self.describe())

    def describe(self) -> str:
        code = f" code {self.code}" if self.code else ""
        return f"{self.provider}{code}: {self.message}"


@dataclass
class ProviderRejected(ProviderError):
    """The provider answered and did not send: safe to report.

    `failover_ok` is set for refusals about the account or the provider itself (balance, locked,
    no channel, credentials, rate limit): another provider may succeed. Refusals about the request
    (content, numbers) would fail anywhere. `back_off`: rate limited, worth a retry after a pause.
    """

    failover_ok: bool = False
    back_off: bool = False
    per_number: bool = False  # refused because of a number in the request; the others may go
    credentials: bool = False  # the credentials were refused: perhaps rotated since they were read

    @property
    def problem(self) -> Problem:  # type: ignore[override]
        return Problem.REFUSED_ACCOUNT if self.failover_ok else Problem.REFUSED_REQUEST


@dataclass
class ProviderUnavailable(ProviderError):
    """Certainly not processed (connection refused, connect timeout, an answer proving it): may retry."""

    problem = Problem.UNAVAILABLE


@dataclass
class OutcomeUnknown(ProviderError):
    """A request may have been accepted (read timeout, dropped or garbled answer): never retried."""

    problem = Problem.OUTCOME_UNKNOWN


@dataclass
class NotAttempted(ProviderError):
    """Not sent: the request could not have finished before the function's deadline."""

    problem = Problem.NOT_ATTEMPTED


class NotFound(GatewayError):
    problem = Problem.NOT_FOUND


class WrongState(GatewayError):
    problem = Problem.WRONG_STATE


class RateLimited(GatewayError):
    """Refused by a gateway limit; `retry_after` seconds."""

    problem = Problem.RATE_LIMITED

    def __init__(self, message: str, retry_after: int, reason: str = "rate_limited") -> None:
        self.retry_after = max(1, retry_after)
        self.reason = reason  # which limit: number_cooldown, prefix_velocity, low_conversion ...
        super().__init__(message)


class IdempotencyConflict(GatewayError):
    """The Idempotency-Key was used with another body, or its request is still running."""

    def __init__(self, problem: Problem, message: str) -> None:
        self.problem = problem
        super().__init__(message)


@dataclass
class Failover:
    """Recipients a provider certainly did not send, moved on to the next provider."""

    provider: str
    recipients: int
    error: ProviderError


class NothingSent(GatewayError):
    """Every provider tried refused or could not be reached: nothing was sent, so a retry (even
    with the same Idempotency-Key) may try again. The last provider's error decides the answer."""

    def __init__(self, error: ProviderError, failovers: list[Failover]) -> None:
        self.error = error
        self.failovers = failovers
        self.problem = error.problem
        super().__init__(str(error))


def can_fail_over(error: ProviderError) -> bool:
    """True when the provider certainly did not send and another provider may succeed."""
    return isinstance(error, ProviderUnavailable) or (
        isinstance(error, ProviderRejected) and error.failover_ok
    )


class PreviousAttemptUnknown(GatewayError):
    """An earlier attempt with the same Idempotency-Key reached the provider call and never finished:
    whether it sent is unknown, so this one sends nothing."""
