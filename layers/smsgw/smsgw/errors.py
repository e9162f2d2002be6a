"""Domain errors. Provider failures fall in three kinds that the rest of the system depends on."""

from dataclasses import dataclass, field
from typing import Any


class GatewayError(Exception):
    """Base of every error the gateway maps to an HTTP answer."""


@dataclass
class FieldError:
    field: str
    message: str


class ValidationError(GatewayError):
    """The caller's request is wrong: answered 4xx with field-level details, nothing is sent."""

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
    no channel, system error, credentials): another provider may succeed. Refusals about the request
    (content, numbers) would fail anywhere.
    """

    failover_ok: bool = False


@dataclass
class ProviderUnavailable(ProviderError):
    """No request reached the provider (connection refused, connect timeout, DNS): safe to retry."""


@dataclass
class OutcomeUnknown(ProviderError):
    """A request may have been accepted (read timeout, dropped or garbled answer): never retried."""


class NotFound(GatewayError):
    """Answered 404."""


class RateLimited(GatewayError):
    """Answered 429 with Retry-After."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


class IdempotencyConflict(GatewayError):
    """The Idempotency-Key was used with another body (422), or its request is still running (409)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class NothingSent(GatewayError):
    """Every provider tried refused or could not be reached: nothing was sent, so a retry (even
    with the same Idempotency-Key) may try again. Carries the answer to give."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(body["error"]["message"])


def describe(error: Exception) -> dict[str, Any]:
    """The `error` object of an answer: a stable `code`, a message, and the provider's own code."""
    if isinstance(error, ValidationError):
        return {
            "code": "validation_error",
            "message": "the request is invalid",
            "fields": [{"field": e.field, "message": e.message} for e in error.errors],
        }
    if isinstance(error, ProviderError):
        kinds = {ProviderRejected: "provider_rejected", OutcomeUnknown: "provider_outcome_unknown"}
        body: dict[str, Any] = {
            "code": kinds.get(type(error), "provider_unavailable"),
            "message": error.describe(),
            "provider": error.provider,
        }
        if error.code:
            body["provider_code"] = error.code
        return body
    return {"code": "internal_error", "message": "internal error"}


def can_fail_over(error: ProviderError) -> bool:
    """True when the provider certainly did not send and another provider may succeed."""
    return isinstance(error, ProviderUnavailable) or (
        isinstance(error, ProviderRejected) and error.failover_ok
    )
